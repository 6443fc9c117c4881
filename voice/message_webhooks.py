"""Twilio's callbacks about what the business sends after a call: the delivery reports of the message to the
caller, and the staff "call back" bridge (its TwiML and its ``<Dial action>``).

Both views are ``twilio_signed`` like every webhook (unsigned: 403, nothing written). A delivery report only
says what Twilio reported: ``message_status_received`` is sent with it, and the app that sent the message
(``followup``, a layer above) hears it and keeps it once per status, so a replay changes nothing.

The call-back: Twilio's REST API rings the staff member's phone with ``call_back_twiml`` (built here, with
Twilio's builder, like ``voice.twilio.twiml``): a short Hebrew line to them, then a ``<Dial>`` to the lead from
the business's number, recorded when the business records calls, as ``voice.transfer`` does. When the
lead's leg ends Twilio asks ``call_back_dial_status``: the outcome goes on the call's timeline once.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.urls import reverse
from twilio.twiml.voice_response import Dial, VoiceResponse

from crm.call_events import add_event
from crm.models import Call, CallEvent
from voice import calls, transfer
from voice.public_url import absolute_url, callback_url
from voice.twilio import twiml
from voice.voicemail import RECORDING_STATUS_PATH
from voice.webhooks import twilio_signed, twiml_response

log = logging.getLogger(__name__)

# Twilio's MessageStatus values (WhatsApp adds "read").
MESSAGE_STATUSES = frozenset(
    {
        "accepted",
        "scheduled",
        "canceled",
        "queued",
        "sending",
        "sent",
        "failed",
        "delivered",
        "undelivered",
        "receiving",
        "received",
        "read",
        "partially_delivered",
    }
)

# Sent with keyword arguments message_sid, status, error_code (may be ""): heard by the app that sent it.
message_status_received = Signal()

CALL_BACK_DIRECTION = "outbound-callback"
NO_ANSWER = "אין מענה. אפשר לנסות שוב מאוחר יותר. להתראות."
SOMEONE = "הפונה"  # who the staff member hears they are calling when the lead has no name


@twilio_signed
def message_status(request: HttpRequest) -> HttpResponse:
    """A message's status callback (MessageSid, MessageStatus: queued, sent, delivered, undelivered,
    failed...). Missing or unknown values: 400, nothing written."""
    post = request.POST
    sid = post.get("MessageSid") or post.get("SmsSid") or ""
    status = post.get("MessageStatus") or post.get("SmsStatus") or ""
    if not sid:
        return HttpResponseBadRequest("MessageSid missing")
    if status not in MESSAGE_STATUSES:
        return HttpResponseBadRequest(f"unknown MessageStatus {status!r}" if status else "MessageStatus missing")
    message_status_received.send(sender="twilio", message_sid=sid, status=status, error_code=post.get("ErrorCode", ""))
    return HttpResponse(status=204)


def call_back_twiml(*, lead_number: str, lead_name: str, caller_id: str, ring_seconds: int, record: bool) -> str:
    """What the staff member's answered phone does: hear who is being called, then ring the lead from the
    business's number (``caller_id``); the bridged call is recorded (both parties) when ``record``."""
    if not lead_number.startswith("+"):
        raise ValueError("dial an E.164 number (+...)")
    response = VoiceResponse()
    response.say(f"מתקשרים אל {lead_name or SOMEONE}", language=twiml.HEBREW, voice=twiml.HEBREW_VOICE)
    options: dict[str, object] = {
        "action": absolute_url(reverse("voice:call_back_dial_status")),
        "method": "POST",
        "timeout": ring_seconds,
        "caller_id": caller_id,
    }
    if record:
        options |= {
            "record": "record-from-answer-dual",
            "recording_status_callback": callback_url(RECORDING_STATUS_PATH),
            "recording_status_callback_method": "POST",
            "recording_status_callback_event": "completed",
        }
    dial = Dial(**options)
    dial.number(lead_number)
    response.append(dial)
    xml: str = response.to_xml()
    return xml


def _is_duplicate_dial_outcome(call: Call, params: dict[str, str]) -> bool:
    return call.events.filter(
        kind=CallEvent.Kind.CALL_BACK,
        payload__outcome=params.get("DialCallStatus", ""),
        payload__dial_call_sid=params.get("DialCallSid", ""),
    ).exists()


@twilio_signed
def call_back_dial_status(request: HttpRequest) -> HttpResponse:
    """The call-back's ``<Dial action>``: the lead's leg ended. Its outcome and duration go on the call's
    timeline once; the staff member hears "no answer" when the lead did not take the call, then both hang up."""
    params = {key: request.POST.get(key, "") for key in request.POST}
    problem = transfer.dial_problem(params)
    if problem:
        log.warning("call-back dial status refused: %s", problem)
        return HttpResponseBadRequest(problem)
    with transaction.atomic():  # the row lock serialises concurrent duplicates
        call = calls.lock_call(params["CallSid"])
        if call is None:
            log.warning("call-back dial status for an unknown call")
            return HttpResponseNotFound("unknown call")
        if _is_duplicate_dial_outcome(call, params):
            log.info("duplicate call-back dial status %s: ignored", params["DialCallStatus"])
        else:
            duration = params.get("DialCallDuration", "")
            add_event(
                call,
                CallEvent.Kind.CALL_BACK,
                {
                    "outcome": params["DialCallStatus"],
                    "duration": int(duration) if duration.isdigit() else 0,
                    "dial_call_sid": params.get("DialCallSid", ""),
                },
            )
    if transfer.person_answered(params) or transfer.caller_gone(params):
        return twiml_response(twiml.hangup())
    return twiml_response(twiml.thanks_and_hangup(NO_ANSWER))
