"""The Celery wiring for real: a worker process (``celery -A agentlocator worker``) on the embedded SQLite
broker (Redis when the suite runs with TEST_SERVICES=1) runs a task queued from here and writes to the DB."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from agentlocator.celery import app
from crm.models import Call, CallEvent, Utterance
from crm.services import ensure_default_business
from tests.support.live import ROOT, server_environment, stop_process
from voice import tasks

pytestmark = pytest.mark.slow

FAKE_SUMMARY = "סיכום שיחה."  # the fake LLM's answer, which the worker uses (VOICE_LLM=fake)


def _wait_for(predicate, timeout: float, what: str, log: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"{what} (worker exit code {proc.poll()}):\n{log.read_text(errors='replace')}")


def test_a_real_worker_runs_a_queued_task_and_writes_to_the_database(transactional_db, tmp_path):
    # Our own broker: the SQLite file lives in tmp_path; under TEST_SERVICES it is the session's Redis.
    broker = settings.REDIS_URL or f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    call = Call.objects.create(
        call_sid="CA00000000000000000000000000c0de",
        business=ensure_default_business(),
        from_number="+972501112233",
    )
    Utterance.objects.create(call=call, speaker="caller", text="אני רוצה הצעת מחיר", start_ms=0, end_ms=1500)

    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "agentlocator",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname=test-worker@%h",
            ],
            cwd=ROOT,
            env=server_environment(CELERY_BROKER_URL=broker),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(lambda: b" ready." in log.read_bytes(), 60, "the worker never became ready", log, worker)
        with app.connection_for_write(broker) as connection:
            tasks.after_call.apply_async(args=(call.pk,), connection=connection)

        def summarised() -> bool:
            call.refresh_from_db()
            return bool(call.summary)

        _wait_for(summarised, 60, "the task did not run in the worker", log, worker)
    finally:
        stop_process(worker)

    assert call.summary == FAKE_SUMMARY
    assert call.lead is not None and call.lead.phone == "+972501112233"
    assert call.events.filter(kind=CallEvent.Kind.SUMMARY).count() == 1
    output = log.read_text(errors="replace")
    assert "voice.tasks.after_call" in output  # registered by autodiscovery, received and run
    assert f"[{call.call_sid}] after-call summary stored" in output  # worker log lines carry the CallSid
