""" "Call back" from the CRM: Twilio's REST API rings the staff member's own phone (their membership's), and
when they answer it tells them who is being called and bridges them to the lead from the business's number
(``voice.message_webhooks.call_back_twiml``).

The call is a crm ``Call`` like any other (direction ``outbound-callback``, linked to the lead, so it is on the
lead's page with the others), with a ``call_back`` event saying who called back. Its status callbacks go to
the usual signed ``/webhook/call_status``, which follows outbound calls as it follows inbound ones; its
recording (when the business records calls) arrives at ``/webhook/recording_status`` like a transfer's.

Only POST, only staff of the lead's business: a lead of another business is not found (404) and nothing is
called. Nothing is called either when the staff member has no phone on their membership: they are told so.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from backoffice.phone_display import phone_text
from crm import selectors
from crm.call_events import add_event
from crm.models import Call, CallEvent, Lead, Membership
from crm.phones import normalize_phone
from voice.message_webhooks import CALL_BACK_DIRECTION, call_back_twiml
from voice.public_url import callback_url
from voice.twilio_rest import TwilioRestException, TwilioUnreachable, create_call

log = logging.getLogger(__name__)
PENDING_SID_PREFIX = "pending-"  # a call-back's row before Twilio has given it a CallSid

STAFF_RING_SECONDS = 30  # how long the staff member's own phone rings
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
# A second press while the first call-back still rings is a double click, not a second call.
RINGING_WINDOW = dt.timedelta(minutes=2)

NO_PHONE = "כדי להתקשר מהמערכת, יש להוסיף את מספר הטלפון שלך לשיוך שלך לעסק (״טלפון להעברת שיחות״). לא בוצעה שיחה."
NO_SENDER = "לעסק אין מספר Twilio שממנו אפשר להתקשר. לא בוצעה שיחה."
BAD_LEAD_PHONE = "מספר הטלפון של הליד אינו תקין. לא בוצעה שיחה."
ALREADY_RINGING = "שיחה חוזרת לליד הזה כבר מצלצלת. לא בוצעה שיחה נוספת."
TWILIO_REFUSED = "Twilio לא קיבלה את הבקשה: {error}. לא בוצעה שיחה."
RINGING = "הטלפון שלך מצלצל עכשיו. כשעונים, השיחה תחובר אל {who}."


class CallBackRefused(Exception):
    """Nothing was called; the message (Hebrew) says why, for the staff member."""


def staff_phone(user: Any, lead: Lead) -> str:
    """The user's own phone for the lead's business (their membership's, E.164), "" when they have none."""
    phone = Membership.objects.filter(user=user, business=lead.business).values_list("phone", flat=True).first()
    return normalize_phone(phone) or ""


def business_number(lead: Lead) -> str:
    """The number the lead sees calling: the one they last dialled, else the business's first number."""
    dialled = lead.calls.filter(direction="inbound").exclude(to_number="").order_by("-started_at")
    last = dialled.values_list("to_number", flat=True).first()
    first = lead.business.phone_numbers.order_by("pk").values_list("number", flat=True).first()
    return normalize_phone(last) or normalize_phone(first) or ""


def start_call_back(lead: Lead, user: Any, phone: str) -> Call:
    """Ring ``phone`` (the staff member's) through Twilio's REST API and bridge to ``lead`` when answered.
    Returns the new outbound Call. Raises ``CallBackRefused`` (nothing called, nothing written)."""
    lead_number = normalize_phone(lead.phone)
    if not lead_number:
        raise CallBackRefused(BAD_LEAD_PHONE)
    caller_id = business_number(lead)
    if not caller_id:
        raise CallBackRefused(NO_SENDER)
    business = lead.business
    twiml = call_back_twiml(
        lead_number=lead_number,
        lead_name=lead.name,
        caller_id=caller_id,
        ring_seconds=business.transfer_ring_seconds,
        record=business.record_calls,
    )
    # The call's row first, in a short transaction (two presses at once make one call); Twilio is asked after
    # it commits, so no lock is held across the request (the lead's row is wanted by a live call's tools).
    with transaction.atomic():
        Lead.objects.select_for_update(no_key=True).filter(pk=lead.pk).first()
        ringing = Call.objects.filter(
            lead=lead,
            direction=CALL_BACK_DIRECTION,
            status__in=[Call.Status.QUEUED, Call.Status.RINGING],
            started_at__gte=timezone.now() - RINGING_WINDOW,
        )
        if ringing.exists():
            raise CallBackRefused(ALREADY_RINGING)
        call = Call.objects.create(
            call_sid=f"{PENDING_SID_PREFIX}{uuid.uuid4().hex}",  # Twilio's CallSid once it has one
            business=business,
            lead=lead,
            direction=CALL_BACK_DIRECTION,
            from_number=caller_id,
            to_number=lead_number,
            status=Call.Status.QUEUED,
        )
    try:
        call_sid = create_call(
            to=phone,
            from_=caller_id,
            twiml=twiml,
            status_callback=callback_url(reverse("voice:call_status")),
            status_callback_event=STATUS_EVENTS,
            timeout_s=STAFF_RING_SECONDS,
        )
    except (TwilioRestException, TwilioUnreachable) as exc:
        reason = (getattr(exc, "msg", None) or str(exc)).splitlines()[0][:200]
        call.delete()  # nothing was called: nothing stays written
        raise CallBackRefused(TWILIO_REFUSED.format(error=reason)) from exc
    call.call_sid = call_sid
    call.save(update_fields=["call_sid"])
    # Who called back (not their own phone number: the timeline is read by the whole business).
    add_event(
        call,
        CallEvent.Kind.CALL_BACK,
        {"by": user.get_username(), "name": user.get_full_name(), "lead_phone": lead_number},
    )
    log.info("call-back %s: ringing staff, then the lead", call_sid)
    return call


def _back(request: HttpRequest, lead_id: int) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    hosts = {request.get_host()}
    if not url_has_allowed_host_and_scheme(target, allowed_hosts=hosts, require_https=request.is_secure()):
        target = reverse("admin:crm_lead_change", args=[lead_id])
    return HttpResponseRedirect(target)


def call_back(request: HttpRequest, lead_id: int) -> HttpResponse:
    """The "call back" button (POST): ring the user's phone, then the lead; say what happened."""
    if not request.user.has_perm("crm.change_lead"):
        raise PermissionDenied
    lead = selectors.leads_for(request.user).select_related("business").filter(pk=lead_id).first()
    if lead is None:  # not in this user's businesses, or no such lead: the same answer
        raise Http404("No such lead.")
    back = _back(request, lead.pk)
    phone = staff_phone(request.user, lead)
    if not phone:
        messages.error(request, NO_PHONE)
        return back
    try:
        start_call_back(lead, request.user, phone)
    except CallBackRefused as refused:
        log.warning("call-back refused: %s", refused)
        messages.error(request, str(refused))
        return back
    messages.success(request, RINGING.format(who=lead.name or phone_text(lead.phone)))
    return back


# Routed in agentlocator/urls.py, before the admin's own URLs: the admin's login, staff check and CSRF.
view = admin.site.admin_view(require_POST(call_back))
