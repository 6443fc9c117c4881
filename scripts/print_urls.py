"""What to open and what to paste into the Twilio console, printed by `make run` before it starts."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentlocator.settings")
django.setup()

from django.conf import settings  # noqa: E402


def main(port: str) -> None:
    local = f"http://localhost:{port}"
    public = settings.PUBLIC_BASE_URL or "https://YOUR-PUBLIC-HOST (set PUBLIC_BASE_URL, e.g. your ngrok URL)"
    print(
        "\n"
        f"  Admin:                 {local}/admin/\n"
        f"  Health:                {local}/healthz\n"
        f"  Twilio voice webhook:  {public}/webhook/incoming_call  (HTTP POST)\n"
        f"  Twilio status callback:{public}/webhook/call_status  (HTTP POST)\n"
        "  Create an admin user:  .venv/bin/python manage.py createsuperuser\n",
        flush=True,
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "8000")
