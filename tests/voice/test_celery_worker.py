"""The Celery wiring for real: a worker process (``celery -A agentlocator worker``) on the embedded SQLite
broker (Redis when the suite runs with TEST_SERVICES=1) runs a task queued from here and writes to the DB."""

from __future__ import annotations

import pytest
from django.conf import settings

from agentlocator.celery import app
from crm.models import Call, CallEvent, Utterance
from crm.services import ensure_default_business
from tests.support.celery_worker import celery_worker, wait_for
from voice import tasks
from voice.models import Job

pytestmark = pytest.mark.slow

FAKE_SUMMARY = "סיכום שיחה."  # the fake LLM's answer, which the worker uses (VOICE_LLM=fake)


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
    with celery_worker(log, CELERY_BROKER_URL=broker) as worker:
        with app.connection_for_write(broker) as connection:
            tasks.after_call.apply_async(args=(call.pk,), connection=connection)

        def summarised() -> bool:
            call.refresh_from_db()
            return bool(call.summary)

        wait_for(summarised, 60, "the task did not run in the worker", log, worker)

    assert call.summary == FAKE_SUMMARY
    assert call.lead is not None and call.lead.phone == "+972501112233"
    assert call.events.filter(kind=CallEvent.Kind.SUMMARY).count() == 1
    output = log.read_text(errors="replace")
    assert "voice.tasks.after_call" in output  # registered by autodiscovery, received and run
    assert f"[{call.call_sid}] after-call summary stored" in output  # worker log lines carry the CallSid
    # The run is on the job's row, though nobody queued it through voice.jobs (a message from before the table).
    job = Job.objects.get(task="voice.tasks.after_call", key=str(call.pk))
    assert (job.status, job.attempts, job.result) == (Job.Status.DONE, 1, "True")
    assert job.worker.startswith("test-worker@")
