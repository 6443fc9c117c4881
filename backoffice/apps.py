"""The back office: where staff and owners work (admin pages, live-call views, the staff socket).

It sits above crm and voice: it reads and edits their records, and nothing below imports it.
"""

from __future__ import annotations

from axes.apps import AppConfig as AxesConfig
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackofficeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "backoffice"
    verbose_name = _("Back office")


class SignInProtectionConfig(AxesConfig):
    """django-axes (locking out repeated failed sign-ins) under a Hebrew heading: its own config has no
    verbose name, so the admin's index showed the bare label "Axes"."""

    verbose_name = _("Sign-in protection")
