"""The call's own two-channel recording: both raw tracks stored when the stream stops, a stereo WAV built
from them later (caller left, agent right) and linked to the call.

Every state change of the Recording happens under a row lock and is checked first, so building twice
changes nothing the second time (Celery redelivers with acks_late). Queueing the build is the caller's job
(``voice.tasks.queue_call_recording``): this module knows no tasks.
"""

from __future__ import annotations

import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from crm.call_events import add_event
from crm.models import Call, CallEvent, Recording
from crm.recordings import mark_recording_failed
from voice.audio import wav

log = logging.getLogger(__name__)

RAW_TAPE_DIR = "recordings/raw"
STREAM = "stream"  # Recording.source of this recording


def tape_names(call_id: int) -> tuple[str, str]:
    """Storage names of the raw caller and agent tracks (mu-law, 8 kHz)."""
    return f"{RAW_TAPE_DIR}/{call_id}-caller.ulaw", f"{RAW_TAPE_DIR}/{call_id}-agent.ulaw"


def _overwrite(name: str, data: bytes) -> None:
    if default_storage.exists(name):
        default_storage.delete(name)
    default_storage.save(name, ContentFile(data))


def _read(name: str) -> bytes:
    if not default_storage.exists(name):
        raise FileNotFoundError(name)
    with default_storage.open(name, "rb") as f:
        return f.read()


def _pending_recording(call: Call) -> Recording:
    recording, _ = Recording.objects.get_or_create(
        call=call,
        source=STREAM,
        defaults={"kind": Recording.Kind.CALL, "channels": 2, "status": Recording.Status.PENDING},
    )
    return recording


def store_stream_tape(call_id: int, caller: bytes, agent: bytes) -> bool:
    """Keep both raw tracks (equal-length mu-law) for the recording to be built from. True when kept (the
    recording should then be built); False when the call is gone, does not record, or nothing was heard.

    Called once when the stream stops. The Recording row exists (pending) from here on, so a worker that
    never runs leaves a visible pending recording, not nothing.
    """
    call = Call.objects.select_related("business").filter(pk=call_id).first()
    if call is None:
        log.warning("no call %s: stream audio dropped", call_id)
        return False
    if not call.business.record_calls:
        return False
    if not caller and not agent:
        log.info("stream stopped before any audio: no recording")
        return False
    caller_name, agent_name = tape_names(call_id)
    _overwrite(caller_name, caller)
    _overwrite(agent_name, agent)
    _pending_recording(call)
    return True


def build_stream_recording(call_id: int) -> Recording | None:
    """Turn the raw tracks into a stereo WAV (caller left, agent right) linked to the call. Idempotent."""
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        return None
    recording = _pending_recording(call)
    caller_name, agent_name = tape_names(call_id)
    if recording.status != Recording.Status.STORED or not recording.file:
        try:
            caller = _read(caller_name)
            agent = _read(agent_name)
        except FileNotFoundError:
            mark_recording_failed(recording, "the raw call audio is missing")
            return recording
        audio = wav.stereo_wav_from_mulaw(caller, agent)
        with transaction.atomic():
            recording = Recording.objects.select_for_update().get(pk=recording.pk)
            if recording.status != Recording.Status.STORED or not recording.file:
                recording.file.save(f"call-{call.call_sid}.wav", ContentFile(audio), save=False)
                recording.content_type = "audio/wav"
                recording.channels = 2
                recording.duration_seconds = round(max(len(caller), len(agent)) / 8000, 2)
                recording.status = Recording.Status.STORED
                recording.failure_reason = ""
                recording.attempts += 1
                recording.save()
                add_event(
                    call,
                    CallEvent.Kind.RECORDING_STORED,
                    {"recording_id": recording.pk, "source": STREAM, "duration_seconds": recording.duration_seconds},
                )
    for name in (caller_name, agent_name):
        if default_storage.exists(name):
            default_storage.delete(name)
    return recording
