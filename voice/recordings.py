"""Recordings and voicemail on the Django side: raw call audio in, stored files, transcripts and leads out.

Small service functions the socket consumer, the webhooks and the Celery tasks call. Every state change of
a Recording happens under a row lock and is checked first, so running any step twice changes nothing the
second time (Twilio retries callbacks; Celery redelivers with acks_late).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from crm.models import Call, CallEvent, Lead, Recording
from crm.services import ensure_default_business, find_or_create_lead
from voice.audio import wav
from voice.calls import TERMINAL_STATUSES

logger = logging.getLogger(__name__)

RAW_TAPE_DIR = "recordings/raw"
STREAM = "stream"
TWILIO = "twilio"
LANGUAGE = "he-IL"
# Twilio normally requests <Connect action> within a second of a dropped socket: give it that chance first.
RESCUE_DELAY_S = 5


# -- the call's own two-channel recording ----------------------------------------------------------------
def _tape_names(call_id: int) -> tuple[str, str]:
    return f"{RAW_TAPE_DIR}/{call_id}-caller.ulaw", f"{RAW_TAPE_DIR}/{call_id}-agent.ulaw"


def _overwrite(name: str, data: bytes) -> None:
    if default_storage.exists(name):
        default_storage.delete(name)
    default_storage.save(name, ContentFile(data))


def store_stream_tape(call_id: int, caller: bytes, agent: bytes) -> None:
    """Keep both raw tracks (equal-length mu-law) and queue the task that builds the recording from them.

    Called once when the stream stops. The Recording row exists (pending) from here on, so a worker that
    never runs leaves a visible pending recording, not nothing.
    """
    call = Call.objects.select_related("business").filter(pk=call_id).first()
    if call is None:
        logger.warning("no call %s: stream audio dropped", call_id)
        return
    if not call.business.record_calls:
        return
    if not caller and not agent:
        logger.info("stream stopped before any audio: no recording")
        return
    caller_name, agent_name = _tape_names(call_id)
    _overwrite(caller_name, caller)
    _overwrite(agent_name, agent)
    with transaction.atomic():
        Recording.objects.get_or_create(
            call=call,
            source=STREAM,
            defaults={"kind": Recording.Kind.CALL, "channels": 2, "status": Recording.Status.PENDING},
        )
        transaction.on_commit(lambda: _queue("build_call_recording", call_id))


def build_stream_recording(call_id: int) -> Recording | None:
    """Turn the raw tracks into a stereo WAV (caller left, agent right) linked to the call. Idempotent."""
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        return None
    recording, _ = Recording.objects.get_or_create(
        call=call,
        source=STREAM,
        defaults={"kind": Recording.Kind.CALL, "channels": 2, "status": Recording.Status.PENDING},
    )
    caller_name, agent_name = _tape_names(call_id)
    if recording.status != Recording.Status.STORED or not recording.file:
        try:
            caller = _read(caller_name)
            agent = _read(agent_name)
        except FileNotFoundError:
            mark_failed(recording, "the raw call audio is missing")
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
                    recording_id=recording.pk,
                    source=STREAM,
                    duration_seconds=recording.duration_seconds,
                )
    for name in (caller_name, agent_name):
        if default_storage.exists(name):
            default_storage.delete(name)
    return recording


def _read(name: str) -> bytes:
    if not default_storage.exists(name):
        raise FileNotFoundError(name)
    with default_storage.open(name, "rb") as f:
        return f.read()


# -- Twilio's recordings: voicemail (<Record>) and the optional whole-call recording -------------------------
def kind_for_source(recording_source: str) -> str:
    """Twilio's RecordingSource: RecordVerb is a voicemail; anything else (API, Dial...) records the call."""
    return Recording.Kind.VOICEMAIL if recording_source == "RecordVerb" else Recording.Kind.CALL


def call_for_sid(call_sid: str) -> Call:
    """The call a callback talks about; a callback for a call we never saw still gets a (default) home."""
    call = Call.objects.filter(call_sid=call_sid).first()
    if call is not None:
        return call
    logger.warning("recording for an unknown call: attached to the default business")
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


def queue_twilio_recording(
    *, call_sid: str, recording_sid: str, url: str, duration: float | None, kind: str
) -> Recording:
    """Register the recording now and download it in a worker once this transaction commits."""
    recording = register_twilio_recording(
        call_sid=call_sid, recording_sid=recording_sid, url=url, duration=duration, kind=kind
    )
    transaction.on_commit(lambda: _queue("ingest_twilio_recording", recording_sid, call_sid, url, duration, kind))
    return recording


def record_absent(*, call_sid: str, recording_sid: str, url: str, kind: str, status: str, error: str) -> None:
    """Twilio reports no audio (absent: the caller said nothing) or a failed recording."""
    recording = register_twilio_recording(
        call_sid=call_sid, recording_sid=recording_sid, url=url, duration=0, kind=kind
    )
    reason = "Twilio recorded no audio" if status == "absent" else f"Twilio recording {status}"
    if error:
        reason += f" (error {error})"
    mark_failed(recording, reason)
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
            recording_id=recording.pk,
            source=TWILIO,
            kind=recording.kind,
            duration_seconds=recording.duration_seconds,
        )
    return recording


def read_stored(recording: Recording) -> bytes:
    with recording.file.open("rb") as f:
        return f.read()


def mark_failed(recording: Recording, reason: str) -> Recording:
    """The visible end of a recording that will not come: status failed, the reason, a timeline event."""
    with transaction.atomic():
        recording = Recording.objects.select_for_update(of=("self",)).select_related("call").get(pk=recording.pk)
        if recording.status == Recording.Status.FAILED:
            return recording
        recording.status = Recording.Status.FAILED
        recording.failure_reason = reason[:2000]
        recording.save(update_fields=["status", "failure_reason", "updated_at"])
        add_event(
            recording.call,
            CallEvent.Kind.RECORDING_FAILED,
            recording_id=recording.pk,
            recording_sid=recording.recording_sid or "",
            reason=recording.failure_reason,
        )
    logger.warning("recording %s failed: %s", recording.recording_sid or recording.pk, reason)
    return recording


def note_error(call: Call, stage: str, reason: str) -> None:
    add_event(call, CallEvent.Kind.ERROR, stage=stage, reason=reason[:2000])
    logger.warning("%s failed: %s", stage, reason)


# -- understanding what was said: summary and lead fields --------------------------------------------------
@dataclass(frozen=True)
class Digest:
    summary: str
    name: str = ""
    interest: str = ""
    callback_time: str = ""


DIGEST_INSTRUCTIONS = (
    "אתה עוזר למחלקת מכירות. קיבלת תמליל של {what}. "
    "החזר אובייקט JSON בלבד, בלי טקסט נוסף, עם המפתחות: "
    '"summary" (סיכום קצר בעברית, עד שלושה משפטים), '
    '"name" (שם הפונה אם נאמר, אחרת מחרוזת ריקה), '
    '"interest" (במה הפונה מתעניין, אחרת מחרוזת ריקה), '
    '"callback_time" (מתי נוח לחזור אל הפונה כפי שנאמר, אחרת מחרוזת ריקה).'
)


def digest_messages(transcript: str, *, voicemail: bool) -> list[dict[str, str]]:
    what = "הודעה קולית שהשאיר לקוח" if voicemail else "שיחת טלפון בין לקוח לבין נציג"
    return [
        {"role": "system", "content": DIGEST_INSTRUCTIONS.format(what=what)},
        {"role": "user", "content": transcript},
    ]


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_digest(answer: str) -> Digest:
    """The LLM's JSON answer; plain text (a model that ignored the format) becomes the summary."""
    match = _JSON_OBJECT.search(answer or "")
    data: Any = None
    if match:
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            data = None
    if not isinstance(data, dict):
        return Digest(summary=(answer or "").strip())

    def text(key: str, limit: int) -> str:
        value = data.get(key)
        return str(value).strip()[:limit] if isinstance(value, str | int | float) else ""

    return Digest(
        summary=text("summary", 4000),
        name=text("name", 200),
        interest=text("interest", 500),
        callback_time=text("callback_time", 200),
    )


def call_transcript(call: Call) -> str:
    """The conversation as text, the agent's turns as the caller heard them (cut at barge-in)."""
    lines = []
    for u in call.utterances.order_by("start_ms", "id"):
        if u.speaker == u.Speaker.CALLER:
            lines.append(f"לקוח: {u.text}")
        else:
            said = u.heard_text if u.interrupted and u.heard_text else u.text
            lines.append(f"נציג: {said}")
    return "\n".join(lines)


def _local_today(call: Call) -> dt.date:
    try:
        zone = zoneinfo.ZoneInfo(call.business.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = timezone.get_default_timezone()
    return timezone.now().astimezone(zone).date()


def _apply_digest(lead: Lead, digest: Digest, *, note_title: str, contacted: bool, follow_up: dt.date) -> list[str]:
    changed: list[str] = []
    if digest.name and not lead.name:
        lead.name, changed = digest.name, [*changed, "name"]
    if digest.interest and digest.interest != lead.interest:
        lead.interest, changed = digest.interest, [*changed, "interest"]
    if digest.callback_time and digest.callback_time != lead.callback_time:
        lead.callback_time, changed = digest.callback_time, [*changed, "callback_time"]
    if contacted and lead.status == Lead.Status.NEW:
        lead.status, changed = Lead.Status.CONTACTED, [*changed, "status"]
    if lead.next_follow_up is None or lead.next_follow_up < follow_up:
        lead.next_follow_up, changed = follow_up, [*changed, "next_follow_up"]
    if digest.summary:
        note = f"{note_title}: {digest.summary}"
        if note not in lead.notes:
            lead.notes = f"{lead.notes}\n{note}".strip()
            changed.append("notes")
    if changed:
        lead.save()
    return changed


def finish_voicemail(recording: Recording, transcript: str, digest: Digest) -> Recording:
    """Transcript and summary on the recording, the lead found or created and updated, events. Once."""
    with transaction.atomic():
        recording = (
            Recording.objects.select_for_update(of=("self",)).select_related("call__business").get(pk=recording.pk)
        )
        if recording.status == Recording.Status.TRANSCRIBED:
            return recording
        call = recording.call
        recording.transcript = transcript
        recording.summary = digest.summary
        recording.status = Recording.Status.TRANSCRIBED
        recording.failure_reason = ""
        recording.save()
        add_event(call, CallEvent.Kind.TRANSCRIBED, recording_id=recording.pk, text=transcript)
        add_event(call, CallEvent.Kind.SUMMARY, source="voicemail", recording_id=recording.pk, text=digest.summary)
        today = _local_today(call)
        _digest_to_lead(
            call,
            digest,
            source="voicemail",
            note_title=f"הודעה קולית {today:%d/%m/%Y}",
            contacted=False,
            follow_up=today,
        )
    return recording


def finish_call(call_id: int, digest: Digest) -> bool:
    """The after-call summary on the call and its lead. False when it was already done (safe to rerun)."""
    with transaction.atomic():
        call = Call.objects.select_for_update(of=("self",)).select_related("business", "lead").get(pk=call_id)
        if call.summary:
            return False
        call.summary = digest.summary
        call.save(update_fields=["summary"])
        add_event(call, CallEvent.Kind.SUMMARY, source="after_call", text=digest.summary)
        today = _local_today(call)
        _digest_to_lead(
            call,
            digest,
            source="phone",
            note_title=f"שיחה {today:%d/%m/%Y}",
            contacted=True,
            follow_up=today + dt.timedelta(days=1),
        )
    return True


def _digest_to_lead(call: Call, digest: Digest, *, source: str, **apply: Any) -> None:
    """Fill the call's lead (found or created by the caller's number, and linked) from what was said."""
    lead = call.lead or find_or_create_lead(call.business, call.from_number, source=source)
    if lead is None:  # hidden number: nobody to call back
        return
    if call.lead_id is None:
        call.lead = lead
        call.save(update_fields=["lead"])
    changed = _apply_digest(lead, digest, **apply)
    if changed:
        add_event(call, CallEvent.Kind.LEAD_UPDATED, lead_id=lead.pk, fields=changed)


# -- shared ------------------------------------------------------------------------------------------------
def add_event(call: Call, event_kind: str, /, **payload: Any) -> CallEvent:
    """A timeline event at the time since the call started (payload keys as given)."""
    offset = int((timezone.now() - call.started_at).total_seconds() * 1000) if call.started_at else 0
    return CallEvent.objects.create(call=call, kind=event_kind, offset_ms=max(0, offset), payload=payload)


def queue_twilio_call_recording(call: Call, status_callback_url: str) -> bool:
    """When the business asks for it, have Twilio record this (in-progress) call too, from a worker.
    ``status_callback_url`` is the absolute /webhook/recording_status URL. True when queued."""
    if not (call.business.twilio_recording and call.business.record_calls):
        return False
    transaction.on_commit(lambda: _queue("start_twilio_call_recording", call.call_sid, status_callback_url))
    return True


def needs_rescue(call: Call) -> bool:
    """A dropped stream still needs the REST rescue when the call goes on and nobody moved it on yet
    (no voicemail fallback recorded, no stream_ended answer, no agent hang-up)."""
    if call.status in TERMINAL_STATUSES:
        return False
    handled = call.events.filter(
        Q(kind__in=[CallEvent.Kind.FALLBACK, CallEvent.Kind.HANGUP]) | Q(payload__webhook="stream_ended")
    )
    return not handled.exists()


def queue_rescue(call_id: int, base: str) -> None:
    """After a socket died mid-conversation: check back shortly and move the call to voicemail if needed."""
    from voice import tasks

    transaction.on_commit(lambda: tasks.rescue_dropped_call.apply_async((call_id, base), countdown=RESCUE_DELAY_S))


def queue_after_call(call_id: int) -> None:
    """Queue the after-call summary once the current transaction commits (call ended)."""
    transaction.on_commit(lambda: _queue("after_call", call_id))


def _queue(task_name: str, *args: Any) -> None:
    from voice import tasks  # the tasks import this module

    getattr(tasks, task_name).delay(*args)
