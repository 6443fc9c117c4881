"""Writes about calls from Twilio's callbacks: open the Call, record timeline events, apply status.

Small synchronous functions the webhook views and the socket store call. They only write; the callers
broadcast what changed to the live page (``voice.live``) with ``event_data`` / ``status_data``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Call, CallEvent
from crm.services import business_for_number, find_or_create_lead

log = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def event_data(event: CallEvent) -> dict[str, Any]:
    """What the live page gets for an event."""
    return {
        "id": event.pk,
        "kind": event.kind,
        "offset_ms": event.offset_ms,
        "payload": event.payload,
        "created_at": event.created_at.isoformat(),
    }


def status_data(call: Call) -> dict[str, Any]:
    return {
        "status": call.status,
        "outcome": call.outcome,
        "stream_sid": call.stream_sid,
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "duration_seconds": call.duration_seconds,
    }


def record_event(call: Call, kind: str, payload: dict[str, Any] | None = None, offset_ms: int = 0) -> CallEvent:
    return CallEvent.objects.create(call=call, kind=kind, offset_ms=offset_ms, payload=payload or {})


def find_call(call_sid: str | None) -> Call | None:
    if not call_sid:
        return None
    return Call.objects.select_related("business", "lead").filter(call_sid=call_sid).first()


def open_call(params: Mapping[str, str]) -> tuple[Call, bool]:
    """The Call for this CallSid, created on first sight with its Business (by ``To``) and Lead (by
    ``From``). Twilio retries webhooks: a repeat returns the existing row (``created`` False)."""
    call_sid = params["CallSid"]
    existing = find_call(call_sid)
    if existing is not None:
        return existing, False
    business = business_for_number(params.get("To"))
    lead = find_or_create_lead(business, params.get("From"))
    status = params.get("CallStatus", "")
    try:
        with transaction.atomic():
            call = Call.objects.create(
                call_sid=call_sid,
                business=business,
                lead=lead,
                direction=params.get("Direction", "inbound")[:20],
                from_number=params.get("From", "")[:40],
                to_number=params.get("To", "")[:40],
                status=status if status in Call.Status.values else Call.Status.RINGING,
                agent_mode=business.agent_mode,
            )
    except IntegrityError:  # the retry raced the first request
        return Call.objects.select_related("business", "lead").get(call_sid=call_sid), False
    return call, True


def apply_call_status(call: Call, params: Mapping[str, str]) -> Call:
    """Twilio's call status callback: status, duration, answer and end times."""
    status = params.get("CallStatus", "")
    fields: list[str] = []
    if status in Call.Status.values and status != call.status:
        call.status = status
        fields.append("status")
    now = timezone.now()
    if status == Call.Status.IN_PROGRESS and call.answered_at is None:
        call.answered_at = now
        fields.append("answered_at")
    if status in TERMINAL_STATUSES and call.ended_at is None:
        call.ended_at = now
        fields.append("ended_at")
    duration = params.get("CallDuration", "")
    if duration.isdigit():
        call.duration_seconds = int(duration)
        fields.append("duration_seconds")
    if fields:
        call.save(update_fields=fields)
    return call


def stream_started(call: Call, stream_sid: str) -> Call:
    """The socket's ``start`` arrived with a valid token: the call is live and answered."""
    call.stream_sid = stream_sid[:64]
    call.status = Call.Status.IN_PROGRESS
    fields = ["stream_sid", "status"]
    if call.answered_at is None:
        call.answered_at = timezone.now()
        fields.append("answered_at")
    call.save(update_fields=fields)
    return call


def stream_end_decision(call: Call) -> tuple[bool, str]:
    """After the socket closed: (hang up?, why). The agent ending the conversation is recorded as a
    "hangup" event with ``voicemail`` False (and outcome "conversation"); everything else is voicemail."""
    last_hangup = call.events.filter(kind=CallEvent.Kind.HANGUP).order_by("-id").first()
    if last_hangup is not None:
        if not last_hangup.payload.get("voicemail"):
            return True, str(last_hangup.payload.get("reason", "agent_ended"))
        return False, "agent_requested_voicemail"
    if call.outcome == Call.Outcome.CONVERSATION:
        return True, "conversation"
    if not call.stream_sid:
        return False, "stream_never_started"
    return False, "stream_broke"
