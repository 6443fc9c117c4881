"""``kill -9`` of the Celery worker in the middle of a voicemail download, on the broker of this configuration
(the embedded SQLite broker, or Redis under TEST_SERVICES=1): no voicemail is lost.

A real worker downloads from the Twilio stand-in, whose download is made to hang; the test kills the worker by
PID while it waits. The broker message is then taken for good (SQLite marks it invisible forever; Redis keeps
it unacknowledged until the visibility timeout), which is how the voicemail used to stay pending forever. The
job's row says it was running, and in which process; the job reconciler queues it again: at once when the same
node starts again, or when beat runs it and sees that process gone. The recording ends up stored and
transcribed, exactly once.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from contextlib import ExitStack

import pytest
from django.conf import settings

from crm.models import Call, Recording
from crm.services import ensure_default_business
from tests.support.celery_worker import celery_worker, wait_for
from tests.support.twilio_standin import TwilioStandin, hebrew_voicemail_wav
from voice import tasks
from voice.models import Job
from voice.providers.registry import FAKE_TRANSCRIPT

pytestmark = pytest.mark.slow

CALL_SID = "CA0000000000000000000000000000dead"
RECORDING_SID = "RE0000000000000000000000000000dead"
INGEST = "voice.tasks.ingest_twilio_recording"


class HangingTwilio(TwilioStandin):
    """The stand-in, with the next recording download(s) hanging until ``release()`` (Twilio's media server
    accepting the request and never answering)."""

    def __init__(self, *args: object, hang: int = 1) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.hang_left = hang
        self.hanging = threading.Event()
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    def _take_recording(self, recording_sid: str) -> tuple[int, bytes, str]:
        with self._lock:
            hang, self.hang_left = self.hang_left > 0, self.hang_left - 1
        if hang:
            self.hanging.set()
            self._released.wait(timeout=120)
        return super()._take_recording(recording_sid)

    def __enter__(self) -> HangingTwilio:
        super().__enter__()
        assert self._server is not None
        # The hung request's answer goes to a worker killed meanwhile: a broken pipe nobody needs to read.
        self._server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        super().__exit__(*exc)


def _taken_forever(broker: str) -> int:
    """Messages the broker handed out and will never hand out again by itself (SQLite: every message taken,
    the dead worker's among them; Redis: those not acknowledged, until the visibility timeout)."""
    if broker.startswith("sqla+sqlite:///"):
        with sqlite3.connect(broker.removeprefix("sqla+sqlite:///")) as db:
            return db.execute("SELECT count(*) FROM kombu_message WHERE visible = 0").fetchone()[0]
    import redis

    return redis.Redis.from_url(broker).hlen("unacked")  # back only after the visibility timeout


def _job() -> Job:
    return Job.objects.get(task=INGEST, key=RECORDING_SID)


@pytest.mark.parametrize("recovery", ["the node restarts", "beat, another worker up"])
def test_a_worker_killed_mid_download_loses_no_voicemail(transactional_db, tmp_path, recovery, record_property):
    broker = settings.CELERY_BROKER_URL  # what this process publishes to; the workers consume it
    Call.objects.create(call_sid=CALL_SID, business=ensure_default_business(), from_number="+972501234567")
    with HangingTwilio(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN) as twilio, ExitStack() as stack:
        url = twilio.add_recording(RECORDING_SID, hebrew_voicemail_wav())
        env = {"TWILIO_API_BASE_URL": twilio.base_url}

        # --purge: nothing earlier tests left in the session's broker runs here.
        first_log = tmp_path / "worker-1.log"
        with celery_worker(first_log, "--purge", **env) as worker:
            tasks.queue_twilio_recording(
                call_sid=CALL_SID, recording_sid=RECORDING_SID, url=url, duration=4.0, kind="voicemail"
            )
            wait_for(twilio.hanging.is_set, 60, "the worker never started the download", first_log, worker)
            if recovery == "beat, another worker up":
                log = tmp_path / "worker-2.log"
                other = stack.enter_context(celery_worker(log, hostname="other-worker@%h", **env))
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        killed_at = time.monotonic()

        assert _job().status == Job.Status.RUNNING and _job().attempts == 1
        assert Recording.objects.get(recording_sid=RECORDING_SID).status == Recording.Status.PENDING
        assert _taken_forever(broker) >= 1  # the message went down with the worker
        twilio.release()  # Twilio answers again from now on

        if recovery == "the node restarts":
            # Its start-up reconciliation queues again what the node was running when it died.
            log = tmp_path / "worker-2.log"
            other = stack.enter_context(celery_worker(log, **env))
        else:
            # What used to happen to the voicemail: a healthy worker, and the message never comes back.
            time.sleep(5)
            assert Recording.objects.get(recording_sid=RECORDING_SID).status == Recording.Status.PENDING
            # The reconciler, as beat runs it (every JOB_RECONCILE_INTERVAL_SECONDS): the job's worker process is
            # gone, so the job is queued again now, not only once it is past its task's time limit.
            assert tasks.requeue_stuck_jobs.apply().get() == 1

        def transcribed() -> bool:
            return Recording.objects.get(recording_sid=RECORDING_SID).status == Recording.Status.TRANSCRIBED

        wait_for(transcribed, 60, "the voicemail was not recovered", log, other)
        recovered_after = time.monotonic() - killed_at
        output = log.read_text(errors="replace")

    record_property("seconds_from_kill_to_transcribed", round(recovered_after, 1))
    print(f"\n{recovery} ({broker.split(':')[0]}): voicemail transcribed {recovered_after:.1f} s after the kill")
    recording = Recording.objects.get(recording_sid=RECORDING_SID)
    assert recording.transcript == FAKE_TRANSCRIPT and recording.file
    assert len(twilio.downloads(RECORDING_SID)) == 2  # the one that hung, the one that worked
    call = Call.objects.get(call_sid=CALL_SID)
    for kind in ("recording_stored", "transcribed", "summary", "lead_updated"):
        assert call.events.filter(kind=kind).count() == 1, kind
    job = _job()
    assert (job.status, job.attempts, job.requeues) == (Job.Status.DONE, 2, 1)
    assert job.last_error.startswith("re-queued:")
    if recovery == "the node restarts":
        assert "start-up: 1 stuck job(s) re-queued" in output

    # The dead worker's message may still come back (Redis, after the visibility timeout): a rerun is a no-op.
    assert tasks.ingest_twilio_recording.apply(args=job.args).get() == Recording.Status.TRANSCRIBED
    assert len(twilio.downloads(RECORDING_SID)) == 2
    assert call.events.filter(kind="transcribed").count() == 1
