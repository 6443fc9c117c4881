"""Run inside Django (a subprocess of the bench, after ``manage.py migrate``): the default business in AI
mode with the turn-taking settings of this run. ``python -m bench.prepare '{"eou_silence_ms": 600}'``"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> None:
    import django

    django.setup()
    from crm.services import ensure_default_business

    business = ensure_default_business()
    business.agent_mode = "ai"
    business.agent_enabled = True
    for field, value in json.loads(argv[0] if argv else "{}").items():
        setattr(business, field, value)
    business.save()
    print(f"business {business.pk}: mode {business.agent_mode}")


if __name__ == "__main__":
    main(sys.argv[1:])
