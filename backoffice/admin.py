"""The admin: where sales staff and owners work. Every queryset is scoped to the user's businesses.

Registrations live next to what they show: calls and their timeline (admin_calls), leads with import and
export (admin_leads), business settings (admin_business), background jobs (admin_jobs). The front-page
dashboard is a template tag (backoffice/templatetags/backoffice_admin.py) used by templates/admin/index.html.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

import backoffice.admin_followups  # follow-up tasks: "my follow-ups", done with an outcome
import backoffice.admin_notifications  # noqa: F401  (emails and webhooks sent, with their delivery attempts)
from backoffice import admin_business, admin_calls, admin_jobs, admin_leads  # noqa: F401  (they register the models)

admin.site.site_header = _("Agent Locator")
admin.site.site_title = _("Agent Locator")
admin.site.index_title = _("Calls and leads")
