"""The call reconciler, run directly (tasks eager): calls whose stream no process serves are brought in line
with what Twilio's REST API (the local stand-in) says, once, and get what their dead socket never wrote."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from crm.models import Call, CallEvent, Recording, Utterance
from crm.services import ensure_default_business
from tests.support.celery_eager import eager_tasks
from tests.support.live import ROOT
from voice import call_tape, reconciler
from voice.audio import mulaw, wav
from voice.reconciler_tasks import reconcile_calls

pytestmark = pytest.mark.django_db

FAKE_SUMMARY = "סיכום שיחה."  # what the fake LLM answers
CALL_SID = "CA00000000000000000000000000dead"


@pytest.fixture(autouse=True)
def no_raw_tape_left_behind():
    """Call ids come round again in later tests (rolled-back rows): a raw tape left here would join theirs."""
    yield
    shutil.rmtree(Path(settings.MEDIA_ROOT) / call_tape.RAW_TAPE_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def fake_providers(settings):
    settings.VOICE_ASR, settings.VOICE_LLM, settings.VOICE_TTS = "fake", "fake", "fake"


def tone(freq: float, ms: int) -> bytes:
    t = np.arange(ms * 8) / 8000
    return mulaw.encode((np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16))


def lost_call(*, seen_ago_s: float = 120, stream: bool = True, **fields) -> Call:
    """A call as a killed daphne leaves it: in progress, its stream last stamped ``seen_ago_s`` ago."""
    now = timezone.now()
    defaults = {
        "call_sid": CALL_SID,
        "business": ensure_default_business(),
        "from_number": "+972501234567",
        "status": Call.Status.IN_PROGRESS,
        "answered_at": now - dt.timedelta(seconds=seen_ago_s + 30),
        "stream_sid": "MZ00000000000000000000000000dead" if stream else "",
        "stream_seen_at": now - dt.timedelta(seconds=seen_ago_s) if stream else None,
    }
    defaults.update(fields)
    return Call.objects.create(**defaults)


def kinds(call: Call) -> list[str]:
    return list(call.events.order_by("id").values_list("kind", flat=True))


def reconcile(django_capture_on_commit_callbacks) -> list[reconciler.Reconciled]:
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        return reconciler.reconcile_calls()


def test_a_lost_call_that_twilio_completed_is_closed_with_its_recording_and_summary(
    twilio, django_capture_on_commit_callbacks
):
    call = lost_call()
    Utterance.objects.create(call=call, speaker="caller", text="אני רוצה הצעת מחיר", start_ms=0, end_ms=1500)
    caller, agent = tone(300, 3000), tone(900, 3000)
    call_tape.write_chunk(call.pk, 0, caller[:16000], agent[:16000])  # two chunks spooled before the crash
    call_tape.write_chunk(call.pk, 16000, caller[16000:], agent[16000:])
    twilio.set_call(CALL_SID, "completed", duration=95, end_time="Sun, 01 Mar 2026 12:01:35 +0000")

    (done,) = reconcile(django_capture_on_commit_callbacks)

    assert (done.action, done.status) == ("closed", "completed")
    call.refresh_from_db()
    assert (call.status, call.duration_seconds) == ("completed", 95)
    assert call.ended_at == dt.datetime(2026, 3, 1, 12, 1, 35, tzinfo=dt.UTC)
    stopped = call.events.get(kind=CallEvent.Kind.STREAM_STOPPED)
    assert stopped.payload["ended_by"] == "reconciler" and stopped.payload["spooled_audio_ms"] == 3000
    assert stopped.offset_ms == 30_000  # when the stream was last seen, on the call's timeline
    assert call.events.get(kind=CallEvent.Kind.CALL_STATUS).payload == {"status": "completed", "source": "reconciler"}

    recording = Recording.objects.get(call=call, source="stream")
    assert recording.status == "stored" and recording.duration_seconds == pytest.approx(3.0)
    with recording.file.open("rb") as f:
        samples, rate = wav.parse_wav(f.read())
    assert rate == 8000 and samples.shape == (24000, 2)
    assert np.array_equal(samples[:, 0], mulaw.decode(caller))
    assert np.array_equal(samples[:, 1], mulaw.decode(agent))
    assert call_tape.spooled_chunks(call.pk) == []  # the raw chunks are cleaned up once built
    assert call.summary == FAKE_SUMMARY  # the after-call work ran

    # A second round (beat, or a worker starting) finds nothing to do and changes nothing.
    events_before = kinds(call)
    assert reconcile(django_capture_on_commit_callbacks) == []
    assert reconciler.finish_lost_stream(call.pk) is False
    assert reconciler.close_call(call.pk, reconciler.CallState(status="completed")) is False
    assert kinds(call) == events_before
    assert Recording.objects.filter(call=call).count() == 1
    assert len(twilio.call_fetches(CALL_SID)) == 1


def test_a_live_stream_is_left_alone(twilio, django_capture_on_commit_callbacks):
    call = lost_call(seen_ago_s=5)
    assert reconcile(django_capture_on_commit_callbacks) == []
    call.refresh_from_db()
    assert call.status == "in-progress" and kinds(call) == []
    assert twilio.requests == []  # Twilio is not even asked


def test_a_dead_stream_on_a_call_twilio_still_connects_goes_to_voicemail_once(
    twilio, settings, django_capture_on_commit_callbacks
):
    settings.PUBLIC_BASE_URL = "https://voice.example.com"
    call = lost_call()
    call_tape.write_chunk(call.pk, 0, tone(300, 1000), tone(900, 1000))
    twilio.set_call(CALL_SID, "in-progress")

    (done,) = reconcile(django_capture_on_commit_callbacks)

    assert (done.action, done.status) == ("rescued", "in-progress")
    (update,) = twilio.call_updates(CALL_SID)
    assert "<Record" in update["Twiml"] and "https://voice.example.com/webhook/" in update["Twiml"]
    assert kinds(call).count(CallEvent.Kind.FALLBACK) == 1
    assert Recording.objects.get(call=call).status == "stored"  # the stream's tape is final already

    # Next round: Twilio still has the caller (leaving a voicemail): no second rescue, no second end.
    assert [r.action for r in reconcile(django_capture_on_commit_callbacks)] == ["waiting"]
    assert len(twilio.call_updates(CALL_SID)) == 1
    assert kinds(call).count(CallEvent.Kind.STREAM_STOPPED) == 1

    # Then Twilio says it is over: closed.
    twilio.set_call(CALL_SID, "completed", duration=140)
    assert [r.action for r in reconcile(django_capture_on_commit_callbacks)] == ["closed"]
    call.refresh_from_db()
    assert (call.status, call.duration_seconds) == ("completed", 140)


@pytest.mark.parametrize(("answered", "status"), [(True, "completed"), (False, "canceled")])
def test_a_call_twilio_does_not_know_is_closed(twilio, django_capture_on_commit_callbacks, answered, status):
    started = timezone.now() - dt.timedelta(minutes=10)
    call = lost_call(stream=answered, answered_at=started if answered else None)
    if not answered:
        call.status = Call.Status.RINGING
        call.save()
        Call.objects.filter(pk=call.pk).update(started_at=started)

    (done,) = reconcile(django_capture_on_commit_callbacks)

    call.refresh_from_db()
    assert (done.action, call.status) == ("closed", status)
    assert call.ended_at is not None
    assert (CallEvent.Kind.STREAM_STOPPED in kinds(call)) is answered  # only a call that had a stream


def test_a_call_still_ringing_at_twilio_waits(twilio, django_capture_on_commit_callbacks):
    call = lost_call(stream=False, status=Call.Status.RINGING)
    Call.objects.filter(pk=call.pk).update(started_at=timezone.now() - dt.timedelta(minutes=5))
    twilio.set_call(CALL_SID, "ringing")
    assert [r.action for r in reconcile(django_capture_on_commit_callbacks)] == ["waiting"]
    call.refresh_from_db()
    assert call.status == "ringing" and kinds(call) == []


def test_twilio_unreachable_means_ask_again_until_no_call_can_still_be_live(twilio, django_capture_on_commit_callbacks):
    call = lost_call()
    twilio.set_call(CALL_SID, "completed", error_status=503)

    assert [r.action for r in reconcile(django_capture_on_commit_callbacks)] == ["waiting"]
    call.refresh_from_db()
    assert call.status == "in-progress" and kinds(call) == []

    Call.objects.filter(pk=call.pk).update(started_at=timezone.now() - dt.timedelta(hours=5))
    assert [r.action for r in reconcile(django_capture_on_commit_callbacks)] == ["closed"]
    call.refresh_from_db()
    assert call.status == "completed"


def test_calls_already_over_are_never_touched(twilio, django_capture_on_commit_callbacks):
    lost_call(status=Call.Status.COMPLETED)
    assert reconcile(django_capture_on_commit_callbacks) == []
    assert twilio.requests == []


def test_one_failing_call_does_not_stop_the_others(twilio, django_capture_on_commit_callbacks):
    broken = lost_call()
    fine = lost_call(call_sid="CA00000000000000000000000000f1ne", stream_sid="MZ00000000000000000000000000f1ne")
    twilio.set_call(broken.call_sid, "completed", malformed=True)  # an answer the client cannot read
    twilio.set_call(fine.call_sid, "completed")

    done = reconcile(django_capture_on_commit_callbacks)

    assert [r.call_sid for r in done] == [fine.call_sid]
    broken.refresh_from_db()
    fine.refresh_from_db()
    assert (broken.status, fine.status) == ("in-progress", "completed")


def test_the_celery_task_runs_the_reconciler(twilio, django_capture_on_commit_callbacks):
    call = lost_call()
    twilio.set_call(CALL_SID, "busy")
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        assert reconcile_calls.apply().get() == 1
    call.refresh_from_db()
    assert call.status == "busy"


# -- the spooled tape, read back ---------------------------------------------------------------------------
def test_a_chunk_never_written_leaves_silence_and_keeps_what_follows_in_place():
    call = lost_call()
    first, third = tone(300, 1000), tone(500, 1000)
    call_tape.write_chunk(call.pk, 0, first, first)
    call_tape.write_chunk(call.pk, 16000, third, third)  # the chunk at 8000 was lost
    name = call_tape.chunk_name(call.pk, 16000)
    with default_storage.open(name, "rb") as f:
        torn = f.read()[:-3]  # the process died mid-write: a torn byte pair at the end
    default_storage.delete(name)
    default_storage.save(name, ContentFile(torn))

    caller, agent = call_tape.read_tape(call.pk)

    assert caller[:8000] == first and caller[8000:16000] == b"\xff" * 8000
    assert caller[16000:] == third[:-2] and agent == caller
    assert call_tape.spooled_ms(call.pk) == (16000 + len(torn) // 2) // 8


# -- settings ----------------------------------------------------------------------------------------------
def test_a_grace_shorter_than_two_heartbeats_is_refused_with_a_clear_error():
    env = {
        "DJANGO_SETTINGS_MODULE": "agentlocator.settings",
        "READ_DOT_ENV": "0",
        "SECRET_KEY": "x",
        "DEBUG": "true",
        "STREAM_HEARTBEAT_SECONDS": "10",
        "CALL_RECONCILE_GRACE_SECONDS": "15",
    }
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode != 0
    assert "CALL_RECONCILE_GRACE_SECONDS (15) must be at least twice STREAM_HEARTBEAT_SECONDS (10)" in out.stderr
