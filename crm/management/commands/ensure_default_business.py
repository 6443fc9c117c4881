from django.core.management.base import BaseCommand

from crm.services import ensure_default_business


class Command(BaseCommand):
    help = "Create the default business (Hebrew greeting and prompt) if there is none."

    def handle(self, *args, **options) -> None:
        business = ensure_default_business()
        self.stdout.write(f"Default business: {business.name} (id {business.pk}, mode {business.agent_mode})")
