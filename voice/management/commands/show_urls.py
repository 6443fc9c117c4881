from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Print the admin URL and the Twilio webhook URLs to paste into the Twilio console."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", default="8000")

    def handle(self, *args, port: str, **options) -> None:
        local = f"http://localhost:{port}"
        public = settings.PUBLIC_BASE_URL or "https://YOUR-PUBLIC-HOST"
        lines = [
            "",
            f"  Admin:                       {local}/admin/",
            f"  Health:                      {local}/healthz",
            f"  Twilio voice webhook (POST): {public}/webhook/incoming_call",
            f"  Twilio status callback:      {public}/webhook/call_status",
            "  Create an admin user:        .venv/bin/python manage.py createsuperuser",
        ]
        if not settings.PUBLIC_BASE_URL:
            lines.append("  Set PUBLIC_BASE_URL in .env to your public https URL (e.g. a tunnel).")
        self.stdout.write("\n".join(lines) + "\n")
