"""Twilio's recording callbacks: the voicemail's ``<Record action>`` and ``recordingStatusCallback``.

The status callback only registers the recording and queues the download (after commit): Twilio waits
for our answer, and a slow or failing download must not make it retry the callback.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from crm.call_events import add_event
from crm.models import CallEvent, Recording
from voice import calls, recording_ingest, tasks
from voice.twilio import twiml
from voice.webhooks import twilio_signed, twiml_response

log = logging.getLogger(__name__)


def _duration(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


@twilio_signed
def recording_status(request: HttpRequest) -> HttpResponse:
    """recordingStatusCallback: ``completed`` queues the ingest task; ``absent``/``failed`` are recorded
    as a failed recording with the reason. Duplicates (Twilio retries) change nothing."""
    post = request.POST
    recording_sid, call_sid = post.get("RecordingSid", ""), post.get("CallSid", "")
    if not recording_sid or not call_sid:
        return HttpResponseBadRequest("RecordingSid and CallSid are required")
    status = post.get("RecordingStatus", "completed")
    if status in ("completed", "absent", "failed") and Recording.objects.filter(recording_sid=recording_sid).exists():
        # Twilio retried (or someone replayed) a final status we already handled: no second download.
        log.info("duplicate recording status %s for %s: ignored", status, recording_sid)
        return HttpResponse(status=204)
    kind = recording_ingest.kind_for_source(post.get("RecordingSource", "RecordVerb"))
    url = post.get("RecordingUrl", "")
    if status == "completed" and url:
        tasks.queue_twilio_recording(
            call_sid=call_sid,
            recording_sid=recording_sid,
            url=url,
            duration=_duration(post.get("RecordingDuration")),
            kind=kind,
        )
        log.info("recording %s completed: download queued", recording_sid)
    elif status in ("absent", "failed") or (status == "completed" and not url):
        recording_ingest.record_absent(
            call_sid=call_sid,
            recording_sid=recording_sid,
            url=url,
            kind=kind,
            status=status if url else "has no URL",
            error=post.get("ErrorCode", ""),
        )
    else:
        log.info("recording %s is %s: nothing to do yet", recording_sid, status)
    return HttpResponse(status=204)


@twilio_signed
def handle_recording(request: HttpRequest) -> HttpResponse:
    """``<Record action>``: the caller finished the message (or hung up). Thank them and hang up."""
    call = calls.find_call(request.POST.get("CallSid"))
    if call is not None:
        add_event(
            call,
            CallEvent.Kind.WEBHOOK,
            {
                "webhook": "handle_recording",
                "recording_sid": request.POST.get("RecordingSid", ""),
                "duration": request.POST.get("RecordingDuration", ""),
                "digits": request.POST.get("Digits", ""),
            },
        )
    return twiml_response(twiml.thanks_and_hangup())
