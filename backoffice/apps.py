"""The back office: where staff and owners work (admin pages, live-call views, the staff socket).

It sits above crm and voice: it reads and edits their records, and nothing below imports it.
"""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackofficeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "backoffice"
    verbose_name = _("Back office")
