from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FollowupConfig(AppConfig):
    """After the call: who is told (email, webhook), what the caller gets (a text message), and the
    follow-up tasks of sales staff. Sits above ``voice`` and ``crm`` and hears them through
    ``crm.signals``."""

    name = "followup"
    verbose_name = _("Follow-up")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from followup import receivers  # noqa: F401  (connects the crm.signals receivers)
