"""A call's life as Twilio reports it: open the Call, apply its status, the stream's start, and the decisions
taken when the stream ends (hang up, voicemail or a person, rescue a dropped stream).

Small synchronous functions the webhook views, the socket store and the Celery tasks call. They only write
the Call row; timeline events go through ``crm.call_events`` and status broadcasts through
``crm.live_updates``, called by the views and the store.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import Call, CallEvent
from crm.services import business_for_number, find_or_create_lead
from voice.agent.tools import HAND_OVER

log = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
# A call's status only moves forward: callbacks arrive more than once and out of order, and a replayed
# socket token must never turn a completed call back into a live one.
_RANK = {"queued": 0, "ringing": 1, "in-progress": 2, **dict.fromkeys(TERMINAL_STATUSES, 3)}
NOT_RINGING_REASON = "call is not ringing"


def moves_forward(current: str, new: str) -> bool:
    """True when ``new`` is a later status than ``current`` (a terminal status is final)."""
    return _RANK.get(new, -1) > _RANK.get(current, -1)


def is_ringing(call: Call) -> bool:
    """A socket token may be issued: the call has not been answered by a stream and is not over."""
    return call.status in (Call.Status.RINGING, "queued") and not call.stream_sid and call.ended_at is None


def find_call(call_sid: str | None) -> Call | None:
    if not call_sid:
        return None
    return Call.objects.select_related("business", "lead").filter(call_sid=call_sid).first()


def lock_call(call_sid: str | None) -> Call | None:
    """``find_call`` with the row locked until the transaction ends (callbacks for one call in turn).

    FOR NO KEY UPDATE, not FOR UPDATE: rows that point at the call (its events, jobs, recordings) are still
    written meanwhile. On PostgreSQL their foreign-key checks take a KEY SHARE lock, which FOR UPDATE blocks:
    a callback waiting on the socket's job row while holding the call deadlocked the stream's end."""
    if not call_sid:
        return None
    calls = Call.objects.select_for_update(of=("self",), no_key=True).select_related("business", "lead")
    return calls.filter(call_sid=call_sid).first()


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
    """Twilio's call status callback: status, duration, answer and end times. The status never moves
    backwards (a late ``ringing`` or ``in-progress`` after ``completed`` changes nothing)."""
    status = params.get("CallStatus", "")
    fields: list[str] = []
    if status in Call.Status.values and moves_forward(call.status, status):
        call.status = status
        fields.append("status")
    now = timezone.now()
    if "status" in fields and status == Call.Status.IN_PROGRESS and call.answered_at is None:
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


def stream_started(call: Call, stream_sid: str, at: dt.datetime | None = None) -> Call:
    """The socket's ``start`` arrived (at ``at``, default now) with a valid token: the call is live and
    answered (at that moment, unless Twilio's status callback said so earlier)."""
    call.stream_sid = stream_sid[:64]
    fields = ["stream_sid"]
    if moves_forward(call.status, Call.Status.IN_PROGRESS):  # never reopens a call that is over
        call.status = Call.Status.IN_PROGRESS
        fields.append("status")
    if call.answered_at is None:
        call.answered_at = at or timezone.now()
        fields.append("answered_at")
    call.save(update_fields=fields)
    return call


def claim_stream(call_sid: str, stream_sid: str) -> str:
    """Take the call's one stream for ``stream_sid``, atomically: one conditional UPDATE, so of two sockets
    with the same token only the first is served. "" when claimed, else why not."""
    claimed = (
        Call.objects.filter(call_sid=call_sid, stream_sid="", ended_at__isnull=True)
        .exclude(status__in=TERMINAL_STATUSES)
        .update(stream_sid=stream_sid[:64])
    )
    if claimed:
        return ""
    call = Call.objects.filter(call_sid=call_sid).only("status", "stream_sid", "ended_at").first()
    if call is None:
        return "no such call"
    if call.status in TERMINAL_STATUSES or call.ended_at is not None:
        return "the call has ended"
    return "the call already has a stream"


def is_duplicate_status(call: Call, params: Mapping[str, str]) -> bool:
    """The same status callback again (CallSid + CallStatus + SequenceNumber): Twilio retries, and a
    replay must not add a second event or a second after-call job."""
    sequence = params.get("SequenceNumber")
    same = call.events.filter(kind=CallEvent.Kind.CALL_STATUS, payload__status=params.get("CallStatus", ""))
    if sequence is None:
        return same.exclude(payload__has_key="sequence").exists()
    return same.filter(payload__sequence=sequence).exists()


def is_duplicate_stream_status(call: Call, params: Mapping[str, str]) -> bool:
    """The same stream status callback again (StreamSid + StreamEvent)."""
    return call.events.filter(
        kind=CallEvent.Kind.STREAM_STATUS,
        payload__event=params.get("StreamEvent", ""),
        payload__stream_sid=params.get("StreamSid", ""),
    ).exists()


HANG_UP, VOICEMAIL, TRANSFER = "hangup", "voicemail", "transfer"  # what the caller gets after the stream
TRANSFER_REASON = HAND_OVER  # the agent's end reason when it hands the caller to a person


def stream_end_decision(call: Call) -> tuple[str, str]:
    """After the socket closed: (``HANG_UP``, ``VOICEMAIL`` or ``TRANSFER``, why). The agent ending the
    conversation is recorded as a "hangup" event with ``voicemail`` False (and outcome "conversation"); with
    the reason ``TRANSFER_REASON`` it handed the caller to a person, who is dialled when the business has a
    transfer number (else voicemail: the number was removed mid-call). Everything else is voicemail."""
    last_hangup = call.events.filter(kind=CallEvent.Kind.HANGUP).order_by("-id").first()
    if last_hangup is not None:
        reason = str(last_hangup.payload.get("reason", "agent_ended"))
        if last_hangup.payload.get("voicemail"):
            return VOICEMAIL, "agent_requested_voicemail"
        if reason == TRANSFER_REASON:
            return (TRANSFER, reason) if call.business.transfer_number else (VOICEMAIL, "no_transfer_number")
        return HANG_UP, reason
    if call.outcome == Call.Outcome.CONVERSATION:
        return HANG_UP, "conversation"
    if not call.stream_sid:
        return VOICEMAIL, "stream_never_started"
    return VOICEMAIL, "stream_broke"


def needs_rescue(call: Call) -> bool:
    """A dropped stream still needs the REST rescue when the call goes on and nobody moved it on yet
    (no voicemail fallback recorded, no stream_ended answer, no agent hang-up)."""
    if call.status in TERMINAL_STATUSES:
        return False
    handled = call.events.filter(
        Q(kind__in=[CallEvent.Kind.FALLBACK, CallEvent.Kind.HANGUP]) | Q(payload__webhook="stream_ended")
    )
    return not handled.exists()
