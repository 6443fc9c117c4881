"""The owner's line check page: the webhook URLs to paste into Twilio, what a caller gets right now (open or
closed, as TwiML), and a button that tries the line through the public URL (voice/line_check.py).

Mounted on the Business admin by ``line_check_urls`` (its ``get_urls``), like the live pages on the Call admin:
the admin's login, staff and CSRF checks apply. Only owners of the business, and superusers, may see it; a
business the user does not own is "not found", as elsewhere (crm.selectors.owned_businesses_for).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors
from crm.business_hours import local_time
from crm.models import Business
from voice import line_check
from voice.startup_report import LOCAL_HOSTS

TEMPLATE = "admin/crm/business/line_check.html"


def line_check_urls(model_admin: ModelAdmin) -> list[URLPattern]:
    """URLs to put before the Business admin's own (its ``<path:object_id>/`` would swallow them)."""
    views = LineCheckViews(model_admin)
    wrap = model_admin.admin_site.admin_view
    return [
        path("<int:business_id>/line-check/", wrap(views.page_view), name="crm_business_line_check"),
        path(
            "<int:business_id>/line-check/run/", wrap(require_POST(views.run_view)), name="crm_business_line_check_run"
        ),
    ]


def route_label(route: str) -> str:
    return {
        "agent": _("The agent answers (a media stream)."),
        "voicemail_agent_off": _("Voicemail: the agent is switched off."),
        "voicemail_after_hours": _("Voicemail: the business is closed and sends after-hours calls to voicemail."),
    }[route]


class LineCheckViews:
    def __init__(self, model_admin: ModelAdmin) -> None:
        self.model_admin = model_admin
        self.admin_site = model_admin.admin_site

    def _business(self, request: HttpRequest, business_id: int) -> Business:
        if not self.model_admin.has_view_permission(request):
            raise PermissionDenied
        business = selectors.owned_businesses_for(request.user).filter(pk=business_id).first()
        if business is None:
            raise Http404(_("No such business."))
        return business

    def page_view(self, request: HttpRequest, business_id: int) -> HttpResponse:
        return self._render(request, self._business(request, business_id), steps=None)

    def run_view(self, request: HttpRequest, business_id: int) -> HttpResponse:
        business = self._business(request, business_id)
        return self._render(request, business, steps=line_check.run_line_check(business))

    def _render(self, request: HttpRequest, business: Business, *, steps: list[line_check.Step] | None) -> HttpResponse:
        now = timezone.now()
        preview = line_check.preview(business, now)
        request.current_app = self.admin_site.name
        host = urlsplit(settings.PUBLIC_BASE_URL).hostname or ""
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.model_admin.opts,
            "title": _("Line check: %(business)s") % {"business": business.name},
            "business": business,
            "numbers": [(n.number, n.label) for n in business.phone_numbers.order_by("pk")],
            "webhook_urls": line_check.webhook_urls(),
            "public_base_url": settings.PUBLIC_BASE_URL,
            "public_url_is_local": host in LOCAL_HOSTS or host.endswith(".localhost"),
            "preview": preview,
            "route_label": route_label(preview.route),
            "local_now": local_time(business, now),
            "next_opening": local_time(business, preview.next_opening) if preview.next_opening else None,
            "steps": steps,
            "all_ok": steps is not None and all(s.state != line_check.FAILED for s in steps),
        }
        return TemplateResponse(request, TEMPLATE, context)
