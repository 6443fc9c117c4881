"""Twilio's recordings (the voicemail's ``<Record>``, the optional whole-call recording) coming in: the Recording
row registered from the callback, the downloaded audio checked and stored once, absent or failed ones kept as
failed with the reason.

Every state change happens under a row lock and is checked first, so running any step twice changes nothing
the second time (Twilio retries callbacks; Celery redelivers with acks_late). The download itself and the
queueing live in ``voice.tasks``; this module knows no tasks.
"""

from __future__ import annotations

import logging

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F

from crm.call_events import add_event
from crm.models import Call, CallEvent, Recording
from crm.recordings import mark_recording_failed
from crm.services import ensure_default_business
from voice.audio import wav

log = logging.getLogger(__name__)

TWILIO = "twilio"  # Recording.source of these recordings


def kind_for_source(recording_source: str) -> str:
    """Twilio's RecordingSource: RecordVerb is a voicemail; anything else (API, Dial...) records the call."""
    return Recording.Kind.VOICEMAIL if recording_source == "RecordVerb" else Recording.Kind.CALL


def call_for_sid(call_sid: str) -> Call:
    """The call a callback talks about; a callback for a call we never saw still gets a (default) home."""
    call = Call.objects.filter(call_sid=call_sid).first()
    if call is not None:
        return call
    log.warning("recording for an unknown call: attached to the default business")
    call, _ = Call.objects.get_or_create(call_sid=call_sid, defaults={"business": ensure_default_business()})
    return call


def register_twilio_recording(
    *, call_sid: str, recording_sid: str, url: str, duration: float | None, kind: str
) -> Recording:
    """The Recording row for a RecordingSid, created pending on first sight (Twilio retries callbacks)."""
    call = call_for_sid(call_sid)
    recording, created = Recording.objects.get_or_create(
        recording_sid=recording_sid,
        defaults={
            "call": call,
            "kind": kind,
            "source": TWILIO,
            "source_url": url,
            "duration_seconds": duration,
            "channels": 2 if kind == Recording.Kind.CALL else 1,
        },
    )
    if created and kind == Recording.Kind.VOICEMAIL:
        Call.objects.filter(pk=call.pk, outcome=Call.Outcome.NONE).update(outcome=Call.Outcome.VOICEMAIL)
    return recording


def record_absent(*, call_sid: str, recording_sid: str, url: str, kind: str, status: str, error: str) -> None:
    """Twilio reports no audio (absent: the caller said nothing) or a failed recording."""
    recording = register_twilio_recording(
        call_sid=call_sid, recording_sid=recording_sid, url=url, duration=0, kind=kind
    )
    reason = "Twilio recorded no audio" if status == "absent" else f"Twilio recording {status}"
    if error:
        reason += f" (error {error})"
    mark_recording_failed(recording, reason)
    if kind == Recording.Kind.VOICEMAIL:
        Call.objects.filter(pk=recording.call_id, outcome__in=[Call.Outcome.NONE, Call.Outcome.VOICEMAIL]).update(
            outcome=Call.Outcome.NO_MESSAGE
        )


def needs_download(recording: Recording) -> bool:
    return recording.status == Recording.Status.PENDING or not recording.file


def is_final(recording: Recording) -> bool:
    return recording.status in (Recording.Status.FAILED, Recording.Status.TRANSCRIBED)


def count_attempt(recording: Recording) -> None:
    Recording.objects.filter(pk=recording.pk).update(attempts=F("attempts") + 1)
    recording.refresh_from_db(fields=["attempts"])


def empty_audio_reason(data: bytes, content_type: str) -> str:
    """Why the downloaded audio holds nothing to listen to, or "" when it does."""
    if not data:
        return "Twilio returned an empty recording (0 bytes)"
    if content_type == "audio/wav" or data[:4] == b"RIFF":
        try:
            samples, _rate = wav.parse_wav(data)
        except wav.WavError as exc:
            return f"the recording is not a readable WAV file ({exc})"
        if len(samples) == 0:
            return "the recording has no audio (zero length)"
    return ""


def store_download(recording: Recording, data: bytes, content_type: str) -> Recording:
    """Save the downloaded audio to default storage once; the second caller finds it stored."""
    extension = "mp3" if content_type == "audio/mpeg" else "wav"
    with transaction.atomic():
        recording = Recording.objects.select_for_update(of=("self",)).select_related("call").get(pk=recording.pk)
        if not needs_download(recording):
            return recording
        recording.file.save(f"{recording.recording_sid}.{extension}", ContentFile(data), save=False)
        recording.content_type = content_type
        if content_type == "audio/wav":
            samples, rate = wav.parse_wav(data)
            recording.channels = samples.shape[1]
            recording.duration_seconds = round(len(samples) / rate, 2)
        recording.status = Recording.Status.STORED
        recording.failure_reason = ""
        recording.save()
        add_event(
            recording.call,
            CallEvent.Kind.RECORDING_STORED,
            {
                "recording_id": recording.pk,
                "source": TWILIO,
                "kind": recording.kind,
                "duration_seconds": recording.duration_seconds,
            },
        )
    return recording


def read_stored(recording: Recording) -> bytes:
    with recording.file.open("rb") as f:
        return f.read()
