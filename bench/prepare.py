"""Run inside Django (a subprocess of the bench, after ``manage.py migrate``): the default business in AI
mode with the turn-taking settings of this run, and its fixed lines (the greeting) made and stored, as a
worker has long done for a business that takes calls (the bench runs none: without this every call would
find them missing and queue the same warm-up again). ``python -m bench.prepare '{"eou_silence_ms": 600}'``"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> None:
    import django

    django.setup()
    from crm.services import ensure_default_business
    from voice.speech_cache import warm_business

    business = ensure_default_business()
    business.agent_mode = "ai"
    business.agent_enabled = True
    for field, value in json.loads(argv[0] if argv else "{}").items():
        setattr(business, field, value)
    business.save()
    failed = warm_business(business.pk)
    if failed:
        raise SystemExit(f"could not make the business's fixed lines: {failed}")
    print(f"business {business.pk}: mode {business.agent_mode}, fixed lines stored")


if __name__ == "__main__":
    main(sys.argv[1:])
