"""Celery tasks: the work after (and outside) the call path, and the ``queue_*`` functions the webhooks and
the socket call to start it (each once the current transaction commits, so a worker never looks for rows
that are not there yet).

Thin: the steps live in voice/call_tape.py (our recording), voice/recording_ingest.py (Twilio's recordings)
and voice/call_digest.py (summary and lead); those modules never import this one. All tasks are idempotent
(state checked under a row lock before every change), so a duplicate message or a rerun does no harm.

No task is lost, whatever the broker: every job has a durable row (voice/jobs.py; queueing the same logical
job twice sends one message), each run reports into it (voice/job_task.py), and ``requeue_stuck_jobs`` (beat,
and once when a worker starts) queues again what a dead worker or a lost message left behind. With Redis,
``acks_late`` plus the visibility timeout redelivers a dead worker's message too; the embedded SQLite broker
marks a taken message taken forever, so there the reconciler is what brings it back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from asgiref.sync import async_to_sync
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django.db import connection
from django.utils import timezone

from crm.call_events import add_event
from crm.models import Call, CallEvent, Recording
from crm.recordings import mark_recording_failed
from crm.signals import call_unheard
from voice import call_digest, call_tape, jobs, recording_ingest, speech_cache
from voice.call_digest import LANGUAGE, Digest
from voice.calls import needs_rescue
from voice.job_task import JobTask
from voice.log_context import call_sid_var
from voice.provider_settings import providers_from_settings
from voice.providers.base import ProviderError
from voice.twilio_rest import (
    DownloadError,
    TwilioRestException,
    download_recording,
    move_to_voicemail,
    start_twilio_recording,
)
from voice.voicemail import voicemail_twiml_at

logger = logging.getLogger(__name__)

BACKOFF_CAP_SECONDS = 300
DOWNLOAD_MAX_RETRIES = 8  # 1+2+4+...+128+256 s: about eight minutes of Twilio trouble
PROVIDER_MAX_RETRIES = 5
# Twilio normally requests <Connect action> within a second of a dropped socket: give it that chance first.
RESCUE_DELAY_S = 5


def backoff(retries: int, cap: int = BACKOFF_CAP_SECONDS) -> int:
    """Seconds before retry number ``retries + 1``: 1, 2, 4, ... capped."""
    return min(2**retries, cap)


@contextmanager
def _call_context(call_sid: str) -> Iterator[None]:
    token = call_sid_var.set(call_sid or "-")
    try:
        yield
    finally:
        call_sid_var.reset(token)


def _note_error(task: JobTask, call: Call | None, stage: str, reason: str) -> None:
    """A step that gave up: visible on the call's timeline, and its job failed with the reason."""
    if call is not None:
        add_event(call, CallEvent.Kind.ERROR, {"stage": stage, "reason": reason[:2000]})
    logger.warning("%s failed: %s", stage, reason)
    task.give_up(f"{stage}: {reason}")


# -- our own two-channel recording -------------------------------------------------------------------------
@shared_task(base=JobTask, bind=True, acks_late=True, max_retries=3, soft_time_limit=60, time_limit=90)
def build_call_recording(self: JobTask, call_id: int) -> int | None:
    call_sid = Call.objects.filter(pk=call_id).values_list("call_sid", flat=True).first() or "-"
    with _call_context(call_sid):
        recording = call_tape.build_stream_recording(call_id)
        if recording is not None:
            logger.info("call recording %s: %s", recording.pk, recording.status)
        return recording.pk if recording else None


# -- Twilio's recordings (voicemail, optional whole-call recording) ----------------------------------------
@shared_task(
    base=JobTask,
    bind=True,
    acks_late=True,
    max_retries=DOWNLOAD_MAX_RETRIES,
    soft_time_limit=120,
    time_limit=150,
)
def ingest_twilio_recording(
    self: JobTask, recording_sid: str, call_sid: str, url: str, duration: float | None, kind: str
) -> str:
    """Download (Basic auth), store, transcribe in Hebrew, summarise, update the lead. Returns the status."""
    with _call_context(call_sid):
        recording = recording_ingest.register_twilio_recording(
            call_sid=call_sid, recording_sid=recording_sid, url=url, duration=duration, kind=kind
        )
        if recording_ingest.is_final(recording):
            return _final(self, recording)
        last_try = self.request.retries >= self.max_retries

        if recording_ingest.needs_download(recording):
            recording_ingest.count_attempt(recording)
            try:
                data, content_type = download_recording(url)
            except (DownloadError, SoftTimeLimitExceeded) as exc:
                permanent = isinstance(exc, DownloadError) and exc.permanent
                if permanent or last_try:
                    return _final(self, mark_recording_failed(recording, f"download failed: {exc}"))
                logger.info(
                    "download failed (%s); retry %s in %ss",
                    exc,
                    self.request.retries + 1,
                    backoff(self.request.retries),
                )
                raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
            empty = recording_ingest.empty_audio_reason(data, content_type)
            if empty:
                return _final(self, mark_recording_failed(recording, empty))
            recording = recording_ingest.store_download(recording, data, content_type)
            logger.info("recording stored (%s bytes, %s)", len(data), content_type)

        if recording.kind != Recording.Kind.VOICEMAIL:
            return recording.status  # a whole-call recording: the after-call task summarises the call

        try:
            transcript, digest = async_to_sync(_understand)(
                recording_ingest.read_stored(recording), recording.content_type or "audio/wav"
            )
        except (ProviderError, SoftTimeLimitExceeded) as exc:
            if last_try or self.request.retries >= PROVIDER_MAX_RETRIES:
                _note_error(self, recording.call, "voicemail transcription", str(exc))
                call_unheard.send(sender=Call, call=recording.call)  # a message nobody can read is still news
                return recording.status
            raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
        recording = call_digest.finish_voicemail(recording, transcript, digest)
        logger.info("voicemail transcribed (%s characters)", len(transcript))
        return recording.status


def _final(task: JobTask, recording: Recording) -> str:
    """The recording's last word: a failed recording fails its job too (the reason is on both)."""
    if recording.status == Recording.Status.FAILED:
        task.give_up(recording.failure_reason or "recording failed")
        if recording.kind == Recording.Kind.VOICEMAIL:  # a caller left a message we lost: staff hear of the call
            call_unheard.send(sender=Call, call=recording.call)
    return recording.status


async def _understand(audio: bytes, content_type: str) -> tuple[str, Digest]:
    providers = providers_from_settings()
    transcript = await providers.asr.transcribe(audio, content_type=content_type, language=LANGUAGE)
    if not transcript.strip():
        return "", Digest(summary="הפונה לא השאיר הודעה מובנת.")
    answer = await providers.llm.complete(call_digest.digest_messages(transcript, voicemail=True))
    return transcript, call_digest.parse_digest(answer)


@shared_task(base=JobTask, bind=True, acks_late=True, max_retries=3, soft_time_limit=30, time_limit=45)
def start_twilio_call_recording(self: JobTask, call_sid: str, status_callback_url: str) -> str:
    """The per-business "also record with Twilio" option: ask Twilio's REST API to record the call.
    Its recording then arrives through /webhook/recording_status like a voicemail (kind: full call)."""
    with _call_context(call_sid):
        started_before = jobs.result_of(self.name, call_sid)
        if started_before:  # a duplicate message: Twilio records the call already
            logger.info("Twilio recording %s already started", started_before)
            return started_before
        try:
            return start_twilio_recording(call_sid, status_callback_url)
        except TwilioRestException as exc:
            transient = exc.status >= 500 or exc.status == 429
            if transient and self.request.retries < self.max_retries:
                raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
            call = Call.objects.filter(call_sid=call_sid).first()
            _note_error(self, call, "twilio recording", f"HTTP {exc.status}: {exc.msg}")
            return ""


# -- after every call --------------------------------------------------------------------------------------
@shared_task(
    base=JobTask, bind=True, acks_late=True, max_retries=PROVIDER_MAX_RETRIES, soft_time_limit=90, time_limit=120
)
def after_call(self: JobTask, call_id: int) -> bool:
    """A Hebrew summary of the conversation, the lead's fields from what was said. Safe to run twice."""
    call = Call.objects.filter(pk=call_id).first()
    if call is None:
        return False
    with _call_context(call.call_sid):
        if call.summary:
            return False
        transcript = call_digest.call_transcript(call)
        if not transcript:
            logger.info("nothing was said: no summary")
            call_unheard.send(sender=Call, call=call)  # a lead rang all the same: staff hear of it
            return False
        try:
            answer = async_to_sync(_complete)(call_digest.digest_messages(transcript, voicemail=False))
        except (ProviderError, SoftTimeLimitExceeded) as exc:
            if self.request.retries >= self.max_retries:
                _note_error(self, call, "after-call summary", str(exc))
                call_unheard.send(sender=Call, call=call)  # no summary will tell staff: they hear of it all the same
                return False
            raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
        done = call_digest.finish_call(call_id, call_digest.parse_digest(answer))
        logger.info("after-call summary %s", "stored" if done else "already there")
        return done


async def _complete(messages: list[dict[str, str]]) -> str:
    return await providers_from_settings().llm.complete(messages)


# -- a socket that died mid-conversation -------------------------------------------------------------------
@shared_task(base=JobTask, bind=True, acks_late=True, max_retries=3, soft_time_limit=30, time_limit=60)
def rescue_dropped_call(self: JobTask, call_id: int, base: str) -> bool:
    """The media socket died without ``stop`` and without the agent ending the call. Normally Twilio then asks
    <Connect action> (stream_ended), which answers with voicemail. When that has not happened, move the live
    call to voicemail through Twilio's REST API. True when the call was moved."""
    call = Call.objects.select_related("business").filter(pk=call_id).first()
    if call is None:
        return False
    with _call_context(call.call_sid):
        if not needs_rescue(call):
            logger.info("dropped stream already handled: no rescue needed")
            return False
        try:
            move_to_voicemail(call.call_sid, voicemail_twiml_at(base, call.business))
        except TwilioRestException as exc:
            if exc.status in (400, 404):  # the call is no longer in progress: nobody to rescue
                logger.info("dropped call is over (Twilio %s): no rescue", exc.status)
                return False
            if self.request.retries >= self.max_retries:
                _note_error(self, call, "voicemail rescue", str(exc))
                return False
            raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
        add_event(call, CallEvent.Kind.FALLBACK, {"reason": "socket_dropped", "via": "rest_api"})
        return True


# -- speech made ahead (the greeting and the fixed lines) ----------------------------------------------------
@shared_task(base=JobTask, bind=True, acks_late=True, max_retries=3, soft_time_limit=120, time_limit=150)
def warm_speech(self: JobTask, digest: str, texts: list[str], voice: str, language: str, provider: str) -> int:
    """Synthesise and store the lines a call found missing (``voice.speech_cache``); returns how many are
    stored now. ``digest`` names the job (the same lines are one job). Lines TTS could not make are tried
    again with back-off, then left to the next call, which speaks them live meanwhile."""
    now = speech_cache.provider_name()
    if provider != now:  # the TTS was changed since: the next call asks again
        logger.info("speech warm-up skipped: made for %s, the TTS is now %s", provider, now)
        return 0
    tts = providers_from_settings().tts
    failed = speech_cache.warm(texts, voice=voice, language=language, provider=provider, tts=tts)
    if failed and self.request.retries < self.max_retries:
        raise self.retry(countdown=backoff(self.request.retries))
    if failed:
        self.give_up(f"no speech for {len(failed)} line(s)")
    return len(texts) - len(failed)


# -- queueing: what the webhooks and the socket call ----------------------------------------------------------
# Each records its job (voice/jobs.py) and publishes once the transaction commits; the same job asked for again
# while pending, running or done sends no second message.
def queue_call_recording(call_id: int, caller: bytes, agent: bytes) -> bool:
    """The stream stopped: keep both raw tracks now, build the two-channel recording in a worker once this
    transaction commits. True when queued (False: the business does not record, or nothing was heard)."""
    if not call_tape.store_stream_tape(call_id, caller, agent):
        return False
    jobs.enqueue(build_call_recording, (call_id,), call_id=call_id)
    return True


def queue_twilio_recording(
    *, call_sid: str, recording_sid: str, url: str, duration: float | None, kind: str
) -> Recording:
    """Register Twilio's recording now and download it in a worker once this transaction commits."""
    recording = recording_ingest.register_twilio_recording(
        call_sid=call_sid, recording_sid=recording_sid, url=url, duration=duration, kind=kind
    )
    jobs.enqueue(ingest_twilio_recording, (recording_sid, call_sid, url, duration, kind), call_id=recording.call_id)
    return recording


def queue_twilio_call_recording(call: Call, status_callback_url: str) -> bool:
    """When the business asks for it, have Twilio record this (in-progress) call too, from a worker.
    ``status_callback_url`` is the absolute /webhook/recording_status URL. True when queued."""
    if not (call.business.twilio_recording and call.business.record_calls):
        return False
    jobs.enqueue(start_twilio_call_recording, (call.call_sid, status_callback_url), call_id=call.pk)
    return True


def queue_after_call(call_id: int) -> None:
    """Queue the after-call summary once the current transaction commits (call ended). Asked again (the
    stream's end and Twilio's status callback both ask), it runs again only when there is something new to
    summarise: what was said is stored and no summary is written yet (the first run may have come too early)."""
    unsummarised = Call.objects.filter(pk=call_id, summary="", utterances__isnull=False).exists()
    jobs.enqueue(after_call, (call_id,), call_id=call_id, redo=unsummarised)


def queue_rescue(call_id: int, base: str) -> None:
    """After a socket died mid-conversation: check back shortly and move the call to voicemail if needed.
    Each ask is a fresh look (the task decides from the call's state), so a done check runs again."""
    jobs.enqueue(rescue_dropped_call, (call_id, base), call_id=call_id, countdown=RESCUE_DELAY_S, redo=True)


def queue_speech_warm_up(texts: list[str], *, voice: str, language: str, call_id: int | None = None) -> bool:
    """Make the missing ``texts`` in ``voice`` in a worker, once this transaction commits, so later calls
    play them from storage. True when queued (the same lines already pending or running are one job)."""
    provider = speech_cache.provider_name()
    digest = speech_cache.warm_up_digest(texts, voice=voice, language=language, provider=provider)
    return jobs.enqueue(warm_speech, (digest, list(texts), voice, language, provider), call_id=call_id, redo=True)


# -- the job reconciler -------------------------------------------------------------------------------------
# Any run this process started began after this module was imported; a running job of this node's name started
# before it was run by an earlier incarnation of the node, which is dead.
_IMPORTED_AT = timezone.now()


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def requeue_stuck_jobs() -> int:
    """Queue again the jobs a dead worker or a lost message left pending or running (beat runs it every
    JOB_RECONCILE_INTERVAL_SECONDS). Returns how many were re-queued, or failed for good."""
    return len(jobs.requeue_stuck())


@worker_ready.connect
def _reconcile_at_start(sender: object = None, **_: object) -> None:
    """A worker starting may be the restart of one that died mid-task: what that node was running is queued
    again at once, the rest when its deadline passes. Never stops the worker from starting."""
    node = getattr(sender, "hostname", "") or ""
    try:
        touched = jobs.requeue_stuck(node=node, booted_at=_IMPORTED_AT)
    except Exception:
        logger.exception("could not reconcile the jobs at start-up")
        return
    finally:
        _let_go_of_the_database()
    if touched:
        logger.warning("start-up: %s stuck job(s) re-queued", len(touched))


def _let_go_of_the_database() -> None:
    """The worker's main process forks its task processes later (a replacement after a crash or a time
    limit): it must not hold a connection, or a pool with its threads, that a child would inherit."""
    connection.close()
    close_pool = getattr(connection, "close_pool", None)  # PostgreSQL's backend has a pool; SQLite's not
    if close_pool is not None and getattr(connection, "pool", None) is not None:
        close_pool()
