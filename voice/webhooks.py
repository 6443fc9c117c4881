"""Twilio's HTTP callbacks: answer the call with TwiML, follow the stream and the call's status.

Every view is ``twilio_signed``: the request must carry Twilio's signature of our public URL and its POST
parameters, or it gets 403 and changes nothing. Paths are the ones Twilio consoles are configured with.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.call_events import add_event
from crm.live_updates import broadcast_status
from crm.models import Business, Call, CallEvent
from crm.services import business_for_number
from voice import calls, tasks
from voice.log_context import call_sid_var
from voice.public_url import absolute_url, base_url, request_url, stream_url
from voice.twilio import twiml
from voice.twilio.security import (
    CALL_TOKEN_PARAMETER,
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    call_token,
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
                url = request_url(request)
                if not is_valid_signature(
                    settings.TWILIO_AUTH_TOKEN,
                    url,
                    request.POST,
                    signature,
                    signature_settings=request.headers.get(SIGNATURE_SETTINGS_HEADER),
                ):
                    log.warning(
                        "rejected %s: %s Twilio signature for %s",
                        request.path,
                        "wrong" if signature else "missing",
                        url,
                    )
                    return HttpResponseForbidden("invalid Twilio signature")
            return view(request, *args, **kwargs)
        finally:
            call_sid_var.reset(context)

    return csrf_exempt(require_POST(wrapper))


def twiml_response(xml: str) -> HttpResponse:
    return HttpResponse(xml.encode("utf-8"), content_type=twiml.CONTENT_TYPE)


def voicemail_twiml(request: HttpRequest, business: Business) -> str:
    return voicemail_twiml_at(base_url(request), business)


def _connect_twiml(request: HttpRequest, call: Call) -> str:
    return twiml.connect_stream(
        stream_url=stream_url(request),
        action_url=absolute_url(request, reverse("voice:stream_ended")),
        status_callback_url=absolute_url(request, reverse("voice:stream_status")),
        parameters={CALL_TOKEN_PARAMETER: call_token(settings.SECRET_KEY, call.call_sid)},
    )


@twilio_signed
def incoming_call(request: HttpRequest) -> HttpResponse:
    """The number's voice webhook: open the Call and connect the media stream (or go to voicemail)."""
    if not request.POST.get("CallSid"):
        return HttpResponseBadRequest("CallSid missing")
    call, created = calls.open_call(request.POST)
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
    if not call.business.agent_enabled:
        log.info("agent disabled for business %s: voicemail", call.business.pk)
        add_event(call, CallEvent.Kind.FALLBACK, {"reason": "agent_disabled"})
        return twiml_response(voicemail_twiml(request, call.business))
    if created:  # Twilio retries a slow webhook: ask for its own recording once per call
        tasks.queue_twilio_call_recording(call, absolute_url(request, RECORDING_STATUS_PATH))
    return twiml_response(_connect_twiml(request, call))


@twilio_signed
def stream_status(request: HttpRequest) -> HttpResponse:
    """<Stream statusCallback>: stream-started / stream-stopped / stream-error."""
    call = calls.find_call(request.POST.get("CallSid"))
    if call is None:
        log.warning("stream status for an unknown call")
        return HttpResponse(status=204)
    payload = {
        key: request.POST[field]
        for key, field in (
            ("event", "StreamEvent"),
            ("stream_sid", "StreamSid"),
            ("error", "StreamError"),
            ("timestamp", "Timestamp"),
        )
        if field in request.POST
    }
    if payload.get("event") == "stream-error":
        log.warning("Twilio reports a stream error: %s", payload.get("error", ""))
    add_event(call, CallEvent.Kind.STREAM_STATUS, payload)
    return HttpResponse(status=204)


@twilio_signed
def call_status(request: HttpRequest) -> HttpResponse:
    """The call's status callback: status, duration, end time."""
    call = calls.find_call(request.POST.get("CallSid"))
    if call is None:
        log.warning("call status for an unknown call")
        return HttpResponse(status=204)
    calls.apply_call_status(call, request.POST)
    broadcast_status(call)
    if call.status in calls.TERMINAL_STATUSES:
        tasks.queue_after_call(call.pk)  # idempotent: a summary already written is kept
    payload = {"status": request.POST.get("CallStatus", "")}
    if "CallDuration" in request.POST:
        payload["duration"] = request.POST["CallDuration"]
    add_event(call, CallEvent.Kind.CALL_STATUS, payload)
    return HttpResponse(status=204)


@twilio_signed
def stream_ended(request: HttpRequest) -> HttpResponse:
    """The <Connect action>: the socket closed. Hang up when the agent ended the conversation; when the
    stream failed, never started, or the agent asked for it, the caller goes to voicemail (never dead air)."""
    call = calls.find_call(request.POST.get("CallSid"))
    if call is None:
        log.warning("stream ended for an unknown call: voicemail of the called number's business")
        return twiml_response(voicemail_twiml(request, business_for_number(request.POST.get("To"))))
    caller_status = request.POST.get("CallStatus", "")
    if caller_status in calls.TERMINAL_STATUSES:
        # The caller hung up (that is why the stream stopped): there is nobody to play voicemail to.
        add_event(call, CallEvent.Kind.WEBHOOK, {"webhook": "stream_ended", "call_status": caller_status})
        return twiml_response(twiml.hangup())
    hang_up, reason = calls.stream_end_decision(call)
    add_event(
        call,
        CallEvent.Kind.WEBHOOK,
        {"webhook": "stream_ended", "decision": "hangup" if hang_up else "voicemail", "reason": reason},
    )
    if hang_up:
        return twiml_response(twiml.hangup())
    log.info("stream ended without a finished conversation (%s): voicemail", reason)
    add_event(call, CallEvent.Kind.FALLBACK, {"reason": reason})
    return twiml_response(voicemail_twiml(request, call.business))
