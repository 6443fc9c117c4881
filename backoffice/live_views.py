"""The admin's live pages: calls in progress, and one call's conversation as it happens, with the three
things staff may do to it (end it, send the caller to voicemail, take it on their own phone).

The pages are server-rendered; static/crm/live.js then follows /ws/staff/calls/[<CallSid>/] (backoffice.live_consumer)
and adds what crm.live_updates broadcasts. Mounted on the Call admin by ``live_urls`` (its ``get_urls``), so every
view gets the admin's login, staff and CSRF checks; calls come from the user's scoped queryset only.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from backoffice import live_calls
from backoffice.admin_timeline import PROBLEM_KINDS, TECHNICAL_KINDS, build_timeline
from backoffice.phone_display import phone_text
from crm.call_events import add_event
from crm.models import Call, CallEvent, Membership, Utterance
from voice import transfer, twilio_rest
from voice.webhooks import voicemail_twiml

log = logging.getLogger(__name__)

LIST_TEMPLATE = "admin/crm/call/live_list.html"
CALL_TEMPLATE = "admin/crm/call/live_call.html"


def live_urls(model_admin: ModelAdmin) -> list[URLPattern]:
    """URLs to put before the Call admin's own (its ``<path:object_id>/`` would swallow ``live/``)."""
    views = LiveViews(model_admin)
    wrap = model_admin.admin_site.admin_view
    return [
        path("live/", wrap(views.list_view), name="crm_call_live"),
        path("<int:call_id>/live/", wrap(views.call_view), name="crm_call_live_call"),
        path("<int:call_id>/live/end/", wrap(require_POST(views.end_view)), name="crm_call_live_end"),
        path(
            "<int:call_id>/live/voicemail/",
            wrap(require_POST(views.voicemail_view)),
            name="crm_call_live_voicemail",
        ),
        path(
            "<int:call_id>/live/transfer/",
            wrap(require_POST(views.transfer_view)),
            name="crm_call_live_transfer",
        ),
    ]


TRANSFERRED_TO_STAFF = "transferred_to_staff"
NO_PHONE = gettext_lazy("To take calls on your phone, add your phone number to your membership of this business.")


def transfer_phone(user: Any, call: Call) -> str:
    """The user's own phone for this call's business (their membership's), "" when they have none."""
    membership = Membership.objects.filter(user=user, business=call.business).only("phone").first()
    return membership.phone if membership is not None else ""


class LiveViews:
    def __init__(self, model_admin: ModelAdmin) -> None:
        self.model_admin = model_admin
        self.admin_site = model_admin.admin_site

    # -- helpers ------------------------------------------------------------------------------------
    def _check(self, request: HttpRequest) -> None:
        if not self.model_admin.has_view_permission(request):
            raise PermissionDenied

    def _call(self, request: HttpRequest, call_id: int) -> Call:
        """The call if it belongs to one of the user's businesses; 404 otherwise (same answer as missing)."""
        self._check(request)
        call = self.model_admin.get_queryset(request).filter(pk=call_id).first()
        if call is None:
            raise Http404(_("No such call."))
        return call

    def _context(self, request: HttpRequest, **extra: Any) -> dict[str, Any]:
        request.current_app = self.admin_site.name
        return {**self.admin_site.each_context(request), "opts": self.model_admin.opts, **extra}

    # -- pages --------------------------------------------------------------------------------------
    def list_view(self, request: HttpRequest) -> HttpResponse:
        self._check(request)
        rows = list(live_calls.live_calls_for(request.user))
        context = self._context(request, title=_("Live calls"), rows=rows)
        return TemplateResponse(request, LIST_TEMPLATE, context)

    def call_view(self, request: HttpRequest, call_id: int) -> HttpResponse:
        call = self._call(request, call_id)
        call = Call.objects.prefetch_related("events", "utterances").select_related("lead", "business").get(pk=call.pk)
        context = self._context(
            request,
            title=_("Live call from %(caller)s") % {"caller": phone_text(call.from_number)},
            call=call,
            live=live_calls.is_live(call),
            transfer_phone=transfer_phone(request.user, call),
            timeline=build_timeline(call),
            labels=page_labels(),
        )
        return TemplateResponse(request, CALL_TEMPLATE, context)

    # -- actions ------------------------------------------------------------------------------------
    def end_view(self, request: HttpRequest, call_id: int) -> HttpResponse:
        return self._act(request, call_id, voicemail=False)

    def voicemail_view(self, request: HttpRequest, call_id: int) -> HttpResponse:
        return self._act(request, call_id, voicemail=True)

    def _act(self, request: HttpRequest, call_id: int, *, voicemail: bool) -> HttpResponse:
        call = self._call(request, call_id)
        back = HttpResponseRedirect(reverse(f"{self.admin_site.name}:crm_call_live_call", args=[call.pk]))
        if not live_calls.is_live(call):
            messages.warning(request, _("This call has already ended."))
            return back
        try:
            if voicemail:
                twilio_rest.move_to_voicemail(call.call_sid, voicemail_twiml(request, call.business))
            else:
                twilio_rest.hang_up(call.call_sid)
        except Exception as exc:  # Twilio refused (call over, bad credentials) or is unreachable
            log.warning("staff action on a live call failed: %s", exc)
            messages.error(request, _("Twilio did not accept the request: %(error)s") % {"error": _short(exc)})
            return back
        live_calls.record_staff_action(call, request.user, voicemail=voicemail)  # stored and broadcast
        if voicemail:
            messages.success(request, _("The caller was moved to voicemail."))
        else:
            messages.success(request, _("The call was ended."))
        return back

    def transfer_view(self, request: HttpRequest, call_id: int) -> HttpResponse:
        """The "transfer to me" action: the live call rings the staff member's own phone (their membership's)."""
        call = self._call(request, call_id)
        back = HttpResponseRedirect(reverse(f"{self.admin_site.name}:crm_call_live_call", args=[call.pk]))
        phone = transfer_phone(request.user, call)
        if not phone:
            messages.error(request, NO_PHONE)
            return back
        if not live_calls.is_live(call):
            messages.warning(request, _("This call has already ended."))
            return back
        try:
            twilio_rest.redirect_call(call.call_sid, transfer.dial_twiml(call, phone))
        except Exception as exc:  # Twilio refused (call over, bad credentials) or is unreachable
            log.warning("transfer to staff failed: %s", exc)
            messages.error(request, _("Twilio did not accept the request: %(error)s") % {"error": _short(exc)})
            return back
        add_event(
            call,
            CallEvent.Kind.HANGUP,
            {"reason": TRANSFERRED_TO_STAFF, "voicemail": False, "by": request.user.get_username(), "to": phone},
        )
        messages.success(request, _("The call is ringing your phone."))
        return back


def _short(exc: Exception) -> str:
    message = getattr(exc, "msg", "") or str(exc) or exc.__class__.__name__
    return message.splitlines()[0][:200]


def page_labels() -> dict[str, Any]:
    """What live.js needs to draw new rows in the user's language, like the server draws the first ones."""
    return {
        "speakers": {value: str(label) for value, label in Utterance.Speaker.choices},
        "kinds": {value: str(label) for value, label in CallEvent.Kind.choices},
        "statuses": {value: str(label) for value, label in Call.Status.choices},
        "technical": sorted(str(k) for k in TECHNICAL_KINDS),
        "problem": sorted(str(k) for k in PROBLEM_KINDS),
        "interrupted": _("interrupted"),
        "heard": _("Heard by the caller"),
        "unheard": _("Not heard: the caller cut in"),
        "connected": _("Live"),
        "reconnecting": _("Reconnecting…"),
        "forbidden": _("You may not follow this call."),
        "ended": _("The call has ended."),
    }
