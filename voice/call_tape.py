"""The call's own two-channel recording: both raw tracks kept in storage as the call goes, a stereo WAV built
from them later (caller left, agent right) and linked to the call.

The raw tape of call N lives under ``recordings/raw/``:

- ``N/<start>.ulaw2``: chunks spooled during the call (``voice.tape_spool``), every few seconds of media time.
  ``<start>`` is the chunk's media time in samples; the bytes are caller and agent mu-law interleaved, so a
  chunk torn by a crash mid-write still holds both tracks up to the same instant.
- ``N-caller.ulaw`` / ``N-agent.ulaw``: the tail, handed over when the stream stops (``store_stream_tape``);
  it follows the last chunk.

A process that dies mid-call leaves its chunks: the reconciler (``voice.reconciler``) builds the recording
from them, losing only what was not written yet. Every state change of the Recording happens under a row
lock and is checked first, so building twice changes nothing the second time (Celery redelivers with
acks_late). Queueing the build is the caller's job (``voice.tasks.queue_call_recording``): this module knows
no tasks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from crm.call_events import add_event
from crm.models import Call, CallEvent, Recording
from crm.recordings import mark_recording_failed
from voice.audio import wav
from voice.audio.tape import SILENCE

log = logging.getLogger(__name__)

RAW_TAPE_DIR = "recordings/raw"
STREAM = "stream"  # Recording.source of this recording
_CHUNK = re.compile(r"^(\d{10})\.ulaw2$")


# -- where the raw tape is ---------------------------------------------------------------------------------
def tape_names(call_id: int) -> tuple[str, str]:
    """Storage names of the tail of the raw caller and agent tracks (mu-law, 8 kHz)."""
    return f"{RAW_TAPE_DIR}/{call_id}-caller.ulaw", f"{RAW_TAPE_DIR}/{call_id}-agent.ulaw"


def chunk_dir(call_id: int) -> str:
    return f"{RAW_TAPE_DIR}/{call_id}"


def chunk_name(call_id: int, start: int) -> str:
    """A spooled chunk starting at media time ``start`` (samples)."""
    return f"{chunk_dir(call_id)}/{start:010d}.ulaw2"


def spooled_chunks(call_id: int) -> list[tuple[int, str]]:
    """(start, storage name) of every spooled chunk, in media-time order."""
    try:
        _, files = default_storage.listdir(chunk_dir(call_id))
    except FileNotFoundError:
        return []
    found = [(int(m.group(1)), f"{chunk_dir(call_id)}/{f}") for f in files if (m := _CHUNK.match(f))]
    return sorted(found)


def spooled_ms(call_id: int) -> int:
    """How much of the call the spooled chunks cover, in ms of media time."""
    chunks = spooled_chunks(call_id)
    if not chunks:
        return 0
    start, name = chunks[-1]
    return (start + default_storage.size(name) // 2) // 8


# -- writing ------------------------------------------------------------------------------------------------
def _overwrite(name: str, data: bytes) -> None:
    if default_storage.exists(name):
        default_storage.delete(name)
    default_storage.save(name, ContentFile(data))


def write_chunk(call_id: int, start: int, caller: bytes, agent: bytes) -> str:
    """Store one spooled chunk (equal-length tracks) as interleaved caller/agent bytes. Runs in a worker
    thread (``voice.tape_spool``), never on the event loop; writing the same chunk again replaces it."""
    interleaved = bytearray(2 * len(caller))
    interleaved[0::2] = caller
    interleaved[1::2] = agent
    name = chunk_name(call_id, start)
    _overwrite(name, bytes(interleaved))
    return name


def _pending_recording(call: Call) -> Recording:
    recording, _ = Recording.objects.get_or_create(
        call=call,
        source=STREAM,
        defaults={"kind": Recording.Kind.CALL, "channels": 2, "status": Recording.Status.PENDING},
    )
    return recording


def store_stream_tape(call_id: int, caller: bytes, agent: bytes) -> bool:
    """Keep the tail of both raw tracks (equal-length mu-law, after the spooled chunks) for the recording to be
    built from. True when there is a tape (the recording should then be built); False when the call is gone,
    does not record, or nothing was heard.

    Called once when the stream stops (with the tail, or nothing when the socket spooled it all), or by the
    reconciler for a stream that died (nothing: the chunks are all there is). The Recording row exists
    (pending) from here on, so a worker that never runs leaves a visible pending recording, not nothing.
    """
    call = Call.objects.select_related("business").filter(pk=call_id).first()
    if call is None:
        log.warning("no call %s: stream audio dropped", call_id)
        return False
    if not call.business.record_calls:
        return False
    if caller or agent:
        caller_name, agent_name = tape_names(call_id)
        _overwrite(caller_name, caller)
        _overwrite(agent_name, agent)
    elif not spooled_chunks(call_id) and not default_storage.exists(tape_names(call_id)[0]):
        log.info("stream stopped before any audio: no recording")
        return False
    _pending_recording(call)
    return True


# -- reading ------------------------------------------------------------------------------------------------
def _read(name: str) -> bytes:
    if not default_storage.exists(name):
        raise FileNotFoundError(name)
    with default_storage.open(name, "rb") as f:
        return f.read()


def read_tape(call_id: int) -> tuple[bytes, bytes]:
    """Both tracks of the whole call, equal length: the spooled chunks in media-time order (a chunk that was
    never written leaves silence in both tracks, so what follows keeps its place), then the tail.
    Raises FileNotFoundError when nothing of the tape is stored."""
    caller, agent = bytearray(), bytearray()
    chunks = spooled_chunks(call_id)
    for start, name in chunks:
        data = _read(name)
        n = len(data) // 2  # a torn last byte pair is dropped
        piece_caller, piece_agent = data[0 : 2 * n : 2], data[1 : 2 * n : 2]
        position = len(caller)
        if start > position:
            gap = bytes((SILENCE,)) * (start - position)
            caller += gap
            agent += gap
        else:  # overlaps what is already there (never written that way): keep the earlier audio
            piece_caller, piece_agent = piece_caller[position - start :], piece_agent[position - start :]
        caller += piece_caller
        agent += piece_agent
    caller_name, agent_name = tape_names(call_id)
    if default_storage.exists(caller_name):
        caller += _read(caller_name)
        agent += _read(agent_name)
    elif not chunks:
        raise FileNotFoundError(caller_name)
    return bytes(caller), bytes(agent)


def _delete_tape(call_id: int) -> None:
    for _, name in spooled_chunks(call_id):
        default_storage.delete(name)
    for name in tape_names(call_id):
        if default_storage.exists(name):
            default_storage.delete(name)
    # Local storage keeps the emptied folder; object stores have no folders (path() is not implemented).
    with contextlib.suppress(NotImplementedError, OSError):
        os.rmdir(default_storage.path(chunk_dir(call_id)))


# -- building -----------------------------------------------------------------------------------------------
def build_stream_recording(call_id: int) -> Recording | None:
    """Turn the raw tracks into a stereo WAV (caller left, agent right) linked to the call. Idempotent."""
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        return None
    recording = _pending_recording(call)
    if recording.status != Recording.Status.STORED or not recording.file:
        try:
            caller, agent = read_tape(call_id)
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
    _delete_tape(call_id)
    return recording
