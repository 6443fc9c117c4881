"""``manage.py show_urls`` (run by ``make run`` before the servers start): where to log in, what to paste into
Twilio, and which providers are configured and working (voice/startup_report.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from voice.startup_report import format_report, startup_report


class Command(BaseCommand):
    help = (
        "Print the admin URL, the Twilio webhook URLs to paste into the Twilio console, and which providers are "
        "configured and working (with the variable to set for each one that is not)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", default="8000")
        parser.add_argument(
            "--no-probe", action="store_true", help="only read the settings; do not ask each provider once"
        )
        parser.add_argument("--probe-timeout", type=float, default=8.0, help="seconds each provider may take")

    def handle(self, *args: Any, port: str, no_probe: bool, probe_timeout: float, **options: Any) -> None:
        local = f"http://localhost:{port}"
        public = settings.PUBLIC_BASE_URL or "https://YOUR-PUBLIC-HOST"
        lines = [
            "",
            f"  Admin:                       {local}/admin/",
            f"  Health:                      {local}/healthz",
            f"  Twilio voice webhook (POST): {public}/webhook/incoming_call",
            f"  Twilio status callback:      {public}/webhook/call_status",
            "  Create an admin user:        .venv/bin/python manage.py createsuperuser",
            "  Try a call:                  .venv/bin/python manage.py simulate_call "
            f"--url http://127.0.0.1:{port} --wav some-hebrew.wav --out agent.wav",
            f"  Line check (owners):         {local}/admin/crm/business/<id>/line-check/",
        ]
        if not settings.PUBLIC_BASE_URL:
            lines.append("  Set PUBLIC_BASE_URL in .env to your public https URL (e.g. a tunnel).")
        self.stdout.write("\n".join(lines) + "\n")
        self.stdout.write(format_report(startup_report(probe=not no_probe, timeout_s=probe_timeout)))
