"""``kill -9`` of daphne in the middle of a call, caused for real: a call from the simulator against a real
daphne process, killed by PID a few seconds in; then the reconciler, with Twilio's REST API (the stand-in)
saying the call is over. The call must end up closed, with its stream's end on the timeline, and with a
recording built from the tape the dead process had spooled: all of the call but the last chunk in flight.

Before this change the same crash left the call *in progress* forever and lost the whole recording (the tape
lived only in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.utils import timezone

from crm.models import Call, CallEvent, Recording, Utterance
from crm.services import ensure_default_business
from tests.support.caller_audio import voiced
from tests.support.celery_eager import eager_tasks
from tests.support.celery_worker import celery_worker, wait_for
from tests.support.live import LiveServer, run_daphne
from voice import call_tape, reconciler, tasks
from voice.audio import mulaw, wav
from voice.simulator.client import SILENCE as SILENT_FRAME
from voice.simulator.client import CallOptions, CallSummary, run_stream, simulate_call
from voice.simulator.webhook_client import (
    DEFAULT_ACCOUNT_SID,
    TwilioLikeClient,
    call_fields,
    check_twiml_response,
    new_sid,
    parse_connect_stream,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

SPEED = 2.0  # media seconds per wall-clock second on the caller's side
CHUNK_S = 3.0  # the default CALL_TAPE_CHUNK_SECONDS
KILL_AFTER_SPOOLED_MS = 6000  # two chunks on storage ...
EXTRA_MEDIA_S = 2.0  # ... then most of a third one in memory when the process dies
FAKE_SUMMARY = "סיכום שיחה."
AFTER_CALL_DONE = re.compile(r"Task voice\.tasks\.after_call\[[^\]]+\] succeeded")


@pytest.fixture(autouse=True)
def no_raw_tape_left_behind():
    """Call ids come round again in later tests (rolled-back rows): a raw tape left here would join theirs."""
    yield
    shutil.rmtree(Path(settings.MEDIA_ROOT) / call_tape.RAW_TAPE_DIR, ignore_errors=True)


@dataclass
class Crash:
    call: Call
    caller_audio: bytes
    sent_ms: int  # caller audio the simulator had sent when daphne died
    spooled_ms: int  # what the dead process had written to storage


@pytest.fixture
def server(transactional_db, tmp_path):
    with run_daphne(tmp_path, CALL_TAPE_CHUNK_SECONDS=str(CHUNK_S), STREAM_HEARTBEAT_SECONDS="1") as live:
        yield live


@sync_to_async
def echo_business() -> None:
    business = ensure_default_business()
    business.agent_mode = "echo"
    business.save()


async def call_and_kill(server: LiveServer) -> Crash:
    """Ring, stream the caller's audio in media real time (x SPEED), ``kill -9`` daphne mid-call."""
    await echo_business()
    call_sid = new_sid("CA")
    client = TwilioLikeClient(server.url, settings.TWILIO_AUTH_TOKEN)
    fields = call_fields(
        call_sid, from_number="+972501234567", to_number="+97233763805", account_sid=DEFAULT_ACCOUNT_SID
    )
    response = await client.post(client.url("/webhook/incoming_call"), {**fields, "CallStatus": "ringing"})
    await client.aclose()
    stream = parse_connect_stream(check_twiml_response(response))
    assert stream is not None
    caller_audio = voiced(40_000)
    options = CallOptions(
        base_url=server.url,
        auth_token=settings.TWILIO_AUTH_TOKEN,
        caller_audio=caller_audio,
        speed=SPEED,
        silence_s=0,
        call_sid=call_sid,
    )
    summary = CallSummary(call_sid=call_sid, stream_sid=options.stream_sid, parameters=stream.parameters)
    streaming = asyncio.create_task(run_stream(options, summary, stream))

    call = await sync_to_async(Call.objects.get)(call_sid=call_sid)
    deadline = time.monotonic() + 60
    while await sync_to_async(call_tape.spooled_ms)(call.pk) < KILL_AFTER_SPOOLED_MS:
        assert time.monotonic() < deadline and not streaming.done(), server.log_tail()
        await asyncio.sleep(0.02)
    await asyncio.sleep(EXTRA_MEDIA_S / SPEED)
    os.kill(server.pid, signal.SIGKILL)
    assert server.process is not None
    await sync_to_async(server.process.wait)()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(streaming, 15)

    await sync_to_async(call.refresh_from_db)()
    crash = Crash(
        call=call,
        caller_audio=caller_audio,
        sent_ms=summary.frames_sent * 20,
        spooled_ms=await sync_to_async(call_tape.spooled_ms)(call.pk),
    )
    await sync_to_async(connections.close_all)()  # this loop's database thread must not outlive the test
    return crash


def assert_left_as_a_crash_leaves_it(crash: Crash) -> None:
    """What the crash itself leaves: the call still in progress, no end of stream, the tape on storage."""
    call = crash.call
    assert call.status == "in-progress" and call.stream_sid
    assert call.stream_seen_at is not None  # the socket stamped it live while it ran
    assert not call.events.filter(kind=CallEvent.Kind.STREAM_STOPPED).exists()
    assert crash.spooled_ms >= KILL_AFTER_SPOOLED_MS
    assert crash.sent_ms - crash.spooled_ms <= (CHUNK_S + EXTRA_MEDIA_S) * 1000  # at most what was in flight


def assert_recovered(crash: Crash) -> Recording:
    """After the reconciler: closed as Twilio says, the stream's end on the timeline, the spooled recording."""
    call = crash.call
    call.refresh_from_db()
    assert call.status == "completed" and call.ended_at is not None and call.duration_seconds == 12
    stopped = call.events.get(kind=CallEvent.Kind.STREAM_STOPPED)
    assert stopped.payload["ended_by"] == "reconciler"
    assert stopped.payload["spooled_audio_ms"] == crash.spooled_ms
    assert call.events.filter(kind=CallEvent.Kind.CALL_STATUS, payload__source="reconciler").count() == 1

    recording = Recording.objects.get(call=call, source="stream")
    assert recording.status == "stored"
    assert recording.duration_seconds == pytest.approx(crash.spooled_ms / 1000, abs=0.01)
    with recording.file.open("rb") as f:
        samples, rate = wav.parse_wav(f.read())
    n = samples.shape[0]
    assert rate == 8000 and n == crash.spooled_ms * 8
    # The caller's side is exactly what the caller said, from the first sample on (media time kept) ...
    assert np.array_equal(samples[:, 0], mulaw.decode(crash.caller_audio[:n]))
    # ... and the agent (echo mode) answered on its side of the same recording.
    assert np.count_nonzero(samples[:, 1]) > n // 2
    assert call_tape.spooled_chunks(call.pk) == []
    return recording


def test_a_crash_loses_only_the_chunk_in_flight_and_the_reconciler_closes_the_call(server, twilio, settings):
    settings.VOICE_ASR, settings.VOICE_LLM, settings.VOICE_TTS = "fake", "fake", "fake"
    crash = asyncio.run(call_and_kill(server))
    assert_left_as_a_crash_leaves_it(crash)
    Utterance.objects.create(call=crash.call, speaker="caller", text="אני רוצה הצעת מחיר", start_ms=0, end_ms=1500)
    twilio.set_call(crash.call.call_sid, "completed", duration=12)

    with eager_tasks():
        done = reconciler.reconcile_calls(grace_seconds=0)

    assert [(r.call_sid, r.action) for r in done] == [(crash.call.call_sid, "closed")]
    assert_recovered(crash)
    crash.call.refresh_from_db()
    assert crash.call.summary == FAKE_SUMMARY  # the after-call work ran on what was said before the crash
    lost_ms = crash.sent_ms - crash.spooled_ms
    print(f"\nkill -9 of daphne: sent {crash.sent_ms} ms, recorded {crash.spooled_ms} ms, lost {lost_ms} ms")

    with eager_tasks():  # idempotent: a second round changes nothing
        assert reconciler.reconcile_calls(grace_seconds=0) == []
    assert crash.call.events.filter(kind=CallEvent.Kind.STREAM_STOPPED).count() == 1


def test_a_real_worker_starting_after_the_crash_reconciles_the_call(server, twilio, tmp_path):
    crash = asyncio.run(call_and_kill(server))
    assert_left_as_a_crash_leaves_it(crash)
    twilio.set_call(crash.call.call_sid, "completed", duration=12)
    grace_s = 2
    # The worker reconciles as it starts (worker_ready): by then the stream must be stale for its grace.
    while timezone.now() - crash.call.stream_seen_at < dt.timedelta(seconds=grace_s + 0.5):
        time.sleep(0.1)

    broker = settings.REDIS_URL or f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    log = tmp_path / "worker.log"
    with celery_worker(
        log,
        CELERY_BROKER_URL=broker,
        TWILIO_API_BASE_URL=twilio.base_url,
        STREAM_HEARTBEAT_SECONDS="1",
        CALL_RECONCILE_GRACE_SECONDS=str(grace_s),
    ) as worker:

        def recovered() -> bool:
            after_call_ran = AFTER_CALL_DONE.search(log.read_text(errors="replace"))
            return bool(after_call_ran) and Recording.objects.filter(call=crash.call, status="stored").exists()

        took = wait_for(recovered, 90, "the worker did not reconcile the call", log, worker)

    assert_recovered(crash)
    output = log.read_text(errors="replace")
    assert "call reconciler queued at worker start-up" in output
    assert f"[{crash.call.call_sid}] lost stream closed" in output  # worker log lines carry the CallSid
    print(f"\nreal worker: call closed and recording built {took:.1f} s after the worker was ready")


async def test_without_a_crash_the_spooled_tape_is_the_whole_call(server):
    """The normal path: chunks spooled during the call, the rest at the stop, one recording of all of it."""
    await echo_business()
    caller_audio = voiced(7_000)
    options = CallOptions(
        base_url=server.url,
        auth_token=settings.TWILIO_AUTH_TOKEN,
        caller_audio=caller_audio,
        speed=4.0,
        silence_s=0.5,
    )
    summary = await simulate_call(options)

    @sync_to_async
    def stored() -> tuple[CallEvent, Recording]:
        call = Call.objects.get(call_sid=summary.call_sid)
        deadline = time.monotonic() + 20
        while not call.events.filter(kind=CallEvent.Kind.STREAM_STOPPED).exists():
            assert time.monotonic() < deadline, server.log_tail()
            time.sleep(0.05)
        tasks.build_call_recording.apply(args=(call.pk,))  # what the worker runs once the stream stopped
        return call.events.get(kind=CallEvent.Kind.STREAM_STOPPED), Recording.objects.get(call=call, source="stream")

    stopped, recording = await stored()
    await sync_to_async(connections.close_all)()
    assert stopped.payload["tape_chunks"] == 3  # 3 s + 3 s spooled during the call, 1.5 s at the stop
    assert recording.status == "stored"
    with recording.file.open("rb") as f:
        samples, _ = wav.parse_wav(f.read())
    heard = caller_audio + SILENT_FRAME * 25
    assert samples.shape[0] == len(heard) == summary.frames_sent * 160
    assert np.array_equal(samples[:, 0], mulaw.decode(heard))
