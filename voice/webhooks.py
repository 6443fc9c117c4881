"""Twilio's HTTP callbacks: answer the call with TwiML, follow the stream and the call's status.

Every view is ``twilio_signed``: the request must carry Twilio's signature of the URL it requested and its
POST parameters, and our account's ``AccountSid``, or it gets 403 and changes nothing. Paths are the ones
Twilio consoles are configured with. Every URL we answer with comes from ``PUBLIC_BASE_URL`` (never from the
request), and callbacks carry Twilio's connection overrides so Twilio retries them through a short outage.
Duplicate callbacks (Twilio retries, replays) are no-ops.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
    HttpResponseNotFound,
)
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.call_events import add_event
from crm.live_updates import broadcast_status
from crm.models import Business, Call, CallEvent
from crm.services import business_for_number
from voice import calls, tasks, transfer
from voice.call_routing import route_call
from voice.log_context import call_sid_var
from voice.public_url import absolute_url, callback_url, public_base_url, request_url, signed_urls, stream_url
from voice.twilio import twiml
from voice.twilio.security import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    call_token_parameters,
    is_valid_signature,
)
from voice.voicemail import RECORDING_STATUS_PATH, voicemail_twiml_at

log = logging.getLogger(__name__)


View = Callable[..., HttpResponse]


def twilio_signed(view: View) -> View:
    """POST only, CSRF-exempt (Twilio has no cookie), Twilio signature required, CallSid in the log
    context. Validation is skipped only when ``TWILIO_VALIDATE_SIGNATURES`` is off (settings refuse that
    without DEBUG)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        context = call_sid_var.set(request.POST.get("CallSid") or "-")
        try:
            if settings.TWILIO_VALIDATE_SIGNATURES:
                signature = request.headers.get(SIGNATURE_HEADER)
                signature_settings = request.headers.get(SIGNATURE_SETTINGS_HEADER)
                if not any(
                    is_valid_signature(
                        settings.TWILIO_AUTH_TOKEN, url, request.POST, signature, signature_settings=signature_settings
                    )
                    for url in signed_urls(request)
                ):
                    log.warning(
                        "rejected %s: %s Twilio signature for %s",
                        request.path,
                        "wrong" if signature else "missing",
                        request_url(request),
                    )
                    return HttpResponseForbidden("invalid Twilio signature")
            expected = settings.TWILIO_ACCOUNT_SID
            if (expected or not settings.DEBUG) and request.POST.get("AccountSid", "") != expected:
                # Signed, but for another account sharing the auth token's reach: not ours to act on.
                log.warning("rejected %s: AccountSid is not TWILIO_ACCOUNT_SID", request.path)
                return HttpResponseForbidden("wrong AccountSid")
            return view(request, *args, **kwargs)
        finally:
            call_sid_var.reset(context)

    return csrf_exempt(require_POST(wrapper))


def twiml_response(xml: str) -> HttpResponse:
    return HttpResponse(xml.encode("utf-8"), content_type=twiml.CONTENT_TYPE)


def voicemail_twiml(request: HttpRequest | None, business: Business) -> str:
    """The business's voicemail TwiML. ``request`` is not used: its URLs come from ``PUBLIC_BASE_URL``."""
    return voicemail_twiml_at(public_base_url(), business)


def connect_twiml(call: Call) -> str:
    return twiml.connect_stream(
        stream_url=stream_url(),
        action_url=absolute_url(reverse("voice:stream_ended")),
        status_callback_url=callback_url(reverse("voice:stream_status")),
        parameters=call_token_parameters(settings.SECRET_KEY, call.call_sid),
    )


@twilio_signed
def incoming_call(request: HttpRequest) -> HttpResponse:
    """The number's voice webhook: open the Call and connect the media stream (or go to voicemail)."""
    if not request.POST.get("CallSid"):
        return HttpResponseBadRequest("CallSid missing")
    call, created = calls.open_call(request.POST)
    if not created and not calls.is_ringing(call):
        # A replay (or a very late retry) for a call that was answered or is over: a new token would let a
        # second stream in, so no <Stream>; hang up, and write nothing (replays must not grow the timeline).
        log.warning("incoming_call for a call that is %s: no stream, hang up", call.status)
        return twiml_response(twiml.hangup())
    if created:
        broadcast_status(call)
    add_event(
        call,
        CallEvent.Kind.WEBHOOK,
        {
            "webhook": "incoming_call",
            "from": call.from_number,
            "to": call.to_number,
            "repeat": not created,
        },
    )
    route = route_call(call.business, timezone.now())
    if route.to_voicemail:
        log.info("business %s: %s", call.business.pk, route.name)
        add_event(call, CallEvent.Kind.FALLBACK, route.fallback)
        return twiml_response(voicemail_twiml(None, call.business))
    if created:  # Twilio retries a slow webhook: ask for its own recording once per call
        tasks.queue_twilio_call_recording(call, callback_url(RECORDING_STATUS_PATH))
    return twiml_response(connect_twiml(call))


@twilio_signed
def stream_status(request: HttpRequest) -> HttpResponse:
    """<Stream statusCallback>: stream-started / stream-stopped / stream-error."""
    with transaction.atomic():
        call = calls.lock_call(request.POST.get("CallSid"))
        if call is None:
            log.warning("stream status for an unknown call")
            return HttpResponse(status=204)
        if calls.is_duplicate_stream_status(call, request.POST):
            log.info("duplicate stream status %s: ignored", request.POST.get("StreamEvent", ""))
            return HttpResponse(status=204)
        payload = {
            key: request.POST.get(field, "")
            for key, field in (
                ("event", "StreamEvent"),
                ("stream_sid", "StreamSid"),
                ("error", "StreamError"),
                ("timestamp", "Timestamp"),
            )
            if field in request.POST or key in ("event", "stream_sid")
        }
        if payload.get("event") == "stream-error":
            log.warning("Twilio reports a stream error: %s", payload.get("error", ""))
        add_event(call, CallEvent.Kind.STREAM_STATUS, payload)
    return HttpResponse(status=204)


@twilio_signed
def call_status(request: HttpRequest) -> HttpResponse:
    """The call's status callback: status, duration, end time. The same callback twice (CallSid +
    CallStatus + SequenceNumber) is a no-op; the after-call job is queued once, when the call first ends."""
    with transaction.atomic():  # the row lock serialises concurrent duplicates
        call = calls.lock_call(request.POST.get("CallSid"))
        if call is None:
            log.warning("call status for an unknown call")
            return HttpResponse(status=204)
        if calls.is_duplicate_status(call, request.POST):
            log.info("duplicate call status %s: ignored", request.POST.get("CallStatus", ""))
            return HttpResponse(status=204)
        was_over = call.status in calls.TERMINAL_STATUSES
        calls.apply_call_status(call, request.POST)
        if call.status in calls.TERMINAL_STATUSES and not was_over:
            tasks.queue_after_call(call.pk)
        payload = {"status": request.POST.get("CallStatus", "")}
        for key, field in (("duration", "CallDuration"), ("sequence", "SequenceNumber")):
            if field in request.POST:
                payload[key] = request.POST[field]
        add_event(call, CallEvent.Kind.CALL_STATUS, payload)
    broadcast_status(call)
    return HttpResponse(status=204)


@twilio_signed
def stream_ended(request: HttpRequest) -> HttpResponse:
    """The <Connect action>: the socket closed. Hang up when the agent ended the conversation; dial the
    business's person when the agent handed the caller over; when the stream failed, never started, or the
    agent asked for it, the caller goes to voicemail (never dead air)."""
    call = calls.find_call(request.POST.get("CallSid"))
    if call is None:
        log.warning("stream ended for an unknown call: voicemail of the called number's business")
        return twiml_response(voicemail_twiml(None, business_for_number(request.POST.get("To"))))
    caller_status = request.POST.get("CallStatus", "")
    if caller_status in calls.TERMINAL_STATUSES:
        # The caller hung up (that is why the stream stopped): there is nobody to play voicemail to.
        add_event(call, CallEvent.Kind.WEBHOOK, {"webhook": "stream_ended", "call_status": caller_status})
        return twiml_response(twiml.hangup())
    decision, reason = calls.stream_end_decision(call)
    add_event(call, CallEvent.Kind.WEBHOOK, {"webhook": "stream_ended", "decision": decision, "reason": reason})
    if decision == calls.HANG_UP:
        return twiml_response(twiml.hangup())
    if decision == calls.TRANSFER:
        log.info("the agent hands the caller to a person: dialling the business's transfer number")
        return twiml_response(transfer.dial_twiml(call, call.business.transfer_number))
    log.info("stream ended without a finished conversation (%s): voicemail", reason)
    add_event(call, CallEvent.Kind.FALLBACK, {"reason": reason})
    return twiml_response(voicemail_twiml(None, call.business))


@twilio_signed
def dial_status(request: HttpRequest) -> HttpResponse:
    """The <Dial action>: the person's leg ended. Answered: hang up (the caller talked to them). No answer,
    busy, failed or canceled: the business's voicemail. The outcome and the person's leg duration go on the
    timeline once; a repeated callback gets the same answer and writes nothing."""
    problem = transfer.dial_problem(request.POST)
    if problem:
        log.warning("dial status refused: %s", problem)
        return HttpResponseBadRequest(problem)
    with transaction.atomic():  # the row lock serialises concurrent duplicates
        call = calls.lock_call(request.POST.get("CallSid"))
        if call is None:
            log.warning("dial status for an unknown call")
            return HttpResponseNotFound("unknown call")
        if transfer.is_duplicate_dial_status(call, request.POST):
            log.info("duplicate dial status %s: ignored", request.POST.get("DialCallStatus", ""))
        else:
            transfer.record_dial_outcome(call, request.POST)
    if transfer.person_answered(request.POST) or transfer.caller_gone(request.POST):
        return twiml_response(twiml.hangup())
    log.info("the person did not take the call (%s): voicemail", request.POST.get("DialCallStatus", ""))
    return twiml_response(voicemail_twiml(None, call.business))
