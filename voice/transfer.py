"""Handing a caller to a person: the ``<Dial>`` that rings them and what happens when their leg ends.

Two ways in, one ``<Dial>``: the agent's ``transfer_to_human`` (or the caller's "0") ends the stream and the
``<Connect action>`` answers with ``dial_twiml`` to the business's transfer number; a staff member's
"transfer to me" pushes the same TwiML to the live call through Twilio's REST API, to their own phone. When
the person's leg ends Twilio asks ``/webhook/dial_status``: answered, the caller is done (hang up); no
answer, busy, failed or canceled, the caller goes to the business's voicemail. Each outcome is one timeline
event with the person's leg duration; a repeated callback (Twilio retries) writes nothing and gets the same
answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.urls import reverse

from crm.call_events import add_event
from crm.models import Call, CallEvent
from voice.calls import TERMINAL_STATUSES, TRANSFER_REASON
from voice.public_url import absolute_url, callback_url
from voice.twilio import twiml
from voice.voicemail import RECORDING_STATUS_PATH

# DialCallStatus values: the person took the call, or they did not (the caller then leaves a message).
ANSWERED = frozenset({"completed", "answered"})
NOT_ANSWERED = frozenset({"no-answer", "busy", "failed", "canceled"})
DIAL_STATUSES = ANSWERED | NOT_ANSWERED
# The timeline event of a transfer's outcome (the agent's own hand-over is the "hangup" with reason "transfer").
TRANSFER_EVENT = CallEvent.Kind.TRANSFER


def dial_twiml(call: Call, number: str) -> str:
    """Ring ``number`` for the business's ring time. The caller ID is the number the caller dialled (ours:
    Twilio lets a call show any of the account's numbers); the bridged call is recorded when the business
    records calls."""
    business = call.business
    return twiml.dial(
        number=number,
        action_url=absolute_url(reverse("voice:dial_status")),
        timeout_s=business.transfer_ring_seconds,
        caller_id=call.to_number,
        recording_status_url=callback_url(RECORDING_STATUS_PATH) if business.record_calls else "",
    )


def dial_problem(params: Mapping[str, str]) -> str:
    """Why a dial status callback cannot be acted on ("" when it can)."""
    if not params.get("CallSid"):
        return "CallSid missing"
    status = params.get("DialCallStatus", "")
    if status not in DIAL_STATUSES:
        return f"unknown DialCallStatus {status!r}" if status else "DialCallStatus missing"
    return ""


def person_answered(params: Mapping[str, str]) -> bool:
    return params.get("DialCallStatus", "") in ANSWERED


def caller_gone(params: Mapping[str, str]) -> bool:
    """The caller hung up while the person's phone rang: nobody is left to take a message."""
    return params.get("CallStatus", "") in TERMINAL_STATUSES


def is_duplicate_dial_status(call: Call, params: Mapping[str, str]) -> bool:
    """The same dial outcome again (CallSid + DialCallSid + DialCallStatus)."""
    return call.events.filter(
        kind=TRANSFER_EVENT,
        payload__reason=TRANSFER_REASON,
        payload__outcome=params.get("DialCallStatus", ""),
        payload__dial_call_sid=params.get("DialCallSid", ""),
    ).exists()


def record_dial_outcome(call: Call, params: Mapping[str, str]) -> dict[str, Any]:
    """The transfer's timeline event: its outcome, the person's leg duration (s), and where the caller went."""
    duration = params.get("DialCallDuration", "")
    answered = person_answered(params)
    payload: dict[str, Any] = {
        "reason": TRANSFER_REASON,
        "outcome": params.get("DialCallStatus", ""),
        "duration": int(duration) if duration.isdigit() else 0,
        "dial_call_sid": params.get("DialCallSid", ""),
        "voicemail": not answered and not caller_gone(params),
    }
    add_event(call, TRANSFER_EVENT, payload)
    if payload["voicemail"]:
        add_event(call, CallEvent.Kind.FALLBACK, {"reason": f"transfer_{payload['outcome']}"})
    return payload
