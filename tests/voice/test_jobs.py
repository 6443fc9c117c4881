"""The durable job state (voice/jobs.py, voice/job_task.py) and the job reconciler, in this process.

Messages are counted as the on-commit callbacks that would publish them (``execute=False``: nothing is sent);
runs are Celery's own ``apply``, whose hooks write the job's row as a worker's would. The worker-killed fault
itself, with real worker processes on both brokers, is tests/voice/test_worker_killed.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from crm.models import Call, Recording, Utterance
from crm.services import ensure_default_business
from tests.support.celery_eager import eager_tasks
from tests.support.live import ROOT
from tests.support.openai_standin import OpenAIStandin, Reply
from tests.support.twilio_standin import hebrew_voicemail_wav
from voice import jobs, tasks
from voice.models import Job

pytestmark = pytest.mark.django_db

CALL_SID = "CA0123456789abcdef0123456789abcdef"
RECORDING_SID = "RE0123456789abcdef0123456789abcdef"
AFTER_CALL = "voice.tasks.after_call"
INGEST = "voice.tasks.ingest_twilio_recording"


@pytest.fixture(autouse=True)
def fake_providers(settings):
    settings.VOICE_ASR, settings.VOICE_LLM, settings.VOICE_TTS = "fake", "fake", "fake"


@pytest.fixture
def call() -> Call:
    return Call.objects.create(call_sid=CALL_SID, business=ensure_default_business(), from_number="+972501234567")


def _said(call: Call) -> None:
    Utterance.objects.create(call=call, speaker="caller", text="אני רוצה הצעת מחיר", start_ms=0, end_ms=1500)


def _job(task: str, key: object) -> Job:
    return Job.objects.get(task=task, key=str(key))


# -- queueing -----------------------------------------------------------------------------------------------
def test_five_status_callbacks_make_one_after_call_job(call, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as sent:
        for _ in range(5):
            tasks.queue_after_call(call.pk)

    assert len(sent) == 1
    job = _job(AFTER_CALL, call.pk)
    assert (job.status, job.attempts, job.args, job.call) == (Job.Status.PENDING, 0, [call.pk], call)


def test_a_job_asked_for_while_running_or_done_sends_nothing_more(call, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as sent:
        tasks.queue_after_call(call.pk)
        jobs.started(AFTER_CALL, [call.pk], {}, worker="w@h")
        tasks.queue_after_call(call.pk)
        jobs.succeeded(AFTER_CALL, [call.pk], {}, result=False)
        tasks.queue_after_call(call.pk)

    assert len(sent) == 1
    assert _job(AFTER_CALL, call.pk).status == Job.Status.DONE


def test_a_failed_job_is_queued_again(call, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as sent:
        tasks.queue_after_call(call.pk)
        jobs.failed(AFTER_CALL, [call.pk], {}, error=RuntimeError("the LLM is down"))
        tasks.queue_after_call(call.pk)

    assert len(sent) == 2
    job = _job(AFTER_CALL, call.pk)
    assert job.status == Job.Status.PENDING and job.last_error == "RuntimeError: the LLM is down"


def test_after_call_runs_again_when_the_words_arrive_after_an_early_run(call, django_capture_on_commit_callbacks):
    # Twilio's "completed" can beat the socket's last rows: the first run finds nothing said.
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        tasks.queue_after_call(call.pk)
    call.refresh_from_db()
    assert call.summary == "" and _job(AFTER_CALL, call.pk).result == "False"

    _said(call)  # the stream's rows are stored; the socket asks again
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True) as sent:
        tasks.queue_after_call(call.pk)
        tasks.queue_after_call(call.pk)  # and Twilio once more: summarised by now, nothing new

    assert len(sent) == 1
    call.refresh_from_db()
    assert call.summary and call.events.filter(kind="summary").count() == 1
    job = _job(AFTER_CALL, call.pk)
    assert (job.status, job.attempts, job.result) == (Job.Status.DONE, 2, "True")


def test_asked_again_while_running_with_new_material_it_runs_once_more(call, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as sent:
        tasks.queue_after_call(call.pk)
        jobs.started(AFTER_CALL, [call.pk], {}, worker="w@h")
        _said(call)
        tasks.queue_after_call(call.pk)  # a rerun is noted, no second message yet
        assert _job(AFTER_CALL, call.pk).rerun
        jobs.succeeded(AFTER_CALL, [call.pk], {}, result=False)

    assert len(sent) == 2
    job = _job(AFTER_CALL, call.pk)
    assert job.status == Job.Status.PENDING and not job.rerun


def test_the_rescue_is_due_after_its_countdown(call, django_capture_on_commit_callbacks):
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=False) as sent:
        tasks.queue_rescue(call.pk, "https://voice.example.com")
        tasks.queue_rescue(call.pk, "https://voice.example.com")

    assert len(sent) == 1
    job = _job("voice.tasks.rescue_dropped_call", call.pk)
    assert job.args == [call.pk, "https://voice.example.com"]
    assert job.due_at >= before + timedelta(seconds=tasks.RESCUE_DELAY_S)


# -- runs -----------------------------------------------------------------------------------------------------
def test_a_run_is_running_then_done_with_its_result(twilio, call):
    url = twilio.add_recording(RECORDING_SID, hebrew_voicemail_wav())

    assert tasks.ingest_twilio_recording.apply(args=(RECORDING_SID, CALL_SID, url, 4.0, "voicemail")).get() == (
        Recording.Status.TRANSCRIBED
    )

    job = _job(INGEST, RECORDING_SID)
    assert (job.status, job.attempts, job.result, job.last_error) == (Job.Status.DONE, 1, "transcribed", "")
    assert job.started_at <= job.finished_at and job.pid == os.getpid() and job.host == socket.gethostname()


def test_retries_keep_the_job_pending_with_the_error_until_one_succeeds(twilio, call):
    url = twilio.add_recording(RECORDING_SID, hebrew_voicemail_wav(), fail_times=2, fail_status=503)
    seen = []

    def record(*_args, **_kwargs):
        job = _job(INGEST, RECORDING_SID)
        seen.append((job.status, job.last_error))

    from celery.signals import task_retry

    task_retry.connect(record, weak=False)
    try:
        tasks.ingest_twilio_recording.apply(args=(RECORDING_SID, CALL_SID, url, 4.0, "voicemail"))
    finally:
        task_retry.disconnect(record)

    assert seen == [(Job.Status.PENDING, "DownloadError: download answered HTTP 503")] * 2
    job = _job(INGEST, RECORDING_SID)
    assert (job.status, job.attempts) == (Job.Status.DONE, 3)


def test_a_recording_that_fails_for_good_fails_its_job_with_the_reason(twilio, call):
    url = twilio.add_recording(RECORDING_SID, b"", missing=True)

    assert tasks.ingest_twilio_recording.apply(args=(RECORDING_SID, CALL_SID, url, 4.0, "voicemail")).get() == "failed"

    job = _job(INGEST, RECORDING_SID)
    assert job.status == Job.Status.FAILED and "HTTP 404" in job.last_error


def test_a_task_that_gives_up_fails_its_job(call, settings):
    _said(call)
    with OpenAIStandin() as openai:
        settings.VOICE_LLM, settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "openai", "sk-test", openai.base_url
        for _ in range(tasks.PROVIDER_MAX_RETRIES + 1):
            openai.chat.append(Reply(status=400))
        assert tasks.after_call.apply(args=(call.pk,)).get() is False

    job = _job(AFTER_CALL, call.pk)
    assert job.status == Job.Status.FAILED and job.last_error.startswith("after-call summary:")
    assert job.attempts == tasks.PROVIDER_MAX_RETRIES + 1


def test_a_duplicate_twilio_recording_request_does_not_record_twice(twilio, call):
    call.business.twilio_recording = True
    call.business.save()
    status_url = "https://voice.example.com/webhook/recording_status"

    first = tasks.start_twilio_call_recording.apply(args=(CALL_SID, status_url)).get()
    again = tasks.start_twilio_call_recording.apply(args=(CALL_SID, status_url)).get()

    assert first.startswith("RE") and again == first
    assert len([r for r in twilio.requests if r.path.endswith("/Recordings.json")]) == 1


# -- the reconciler -----------------------------------------------------------------------------------------
def _running(call: Call, *, pid: int, host: str | None = None, started_ago: float = 0, worker: str = "w@h") -> Job:
    started = timezone.now() - timedelta(seconds=started_ago)
    return Job.objects.create(
        task=AFTER_CALL,
        key=str(call.pk),
        args=[call.pk],
        call=call,
        status=Job.Status.RUNNING,
        attempts=1,
        worker=worker,
        host=socket.gethostname() if host is None else host,
        pid=pid,
        started_at=started,
        updated_at=started,
    )


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_live_run_on_time_is_left_alone(call, django_capture_on_commit_callbacks):
    _running(call, pid=os.getpid(), started_ago=10)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert jobs.requeue_stuck() == []
    assert sent == []


def test_a_run_whose_process_is_gone_is_queued_again(call, django_capture_on_commit_callbacks):
    pid = _dead_pid()
    _running(call, pid=pid)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        (job,) = jobs.requeue_stuck()
    assert len(sent) == 1
    assert (job.status, job.requeues) == (Job.Status.PENDING, 1)
    assert job.last_error == f"re-queued: its worker process {pid} is gone"


def test_a_run_on_another_machine_is_queued_again_past_its_time_limit(call, django_capture_on_commit_callbacks):
    limit = jobs.time_limit_of(AFTER_CALL)
    assert limit == tasks.after_call.time_limit == 120
    _running(call, pid=1, host="another-machine", started_ago=limit + settings.JOB_STUCK_AFTER_SECONDS - 5)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert jobs.requeue_stuck() == []
        (job,) = jobs.requeue_stuck(now=timezone.now() + timedelta(seconds=10))
    assert len(sent) == 1 and "past its time limit" in job.last_error


def test_a_restarted_node_queues_what_it_was_running(call, django_capture_on_commit_callbacks):
    _running(call, pid=1, host="another-machine", started_ago=30, worker="celery@box")
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert jobs.requeue_stuck(node="celery@other", booted_at=timezone.now()) == []
        (job,) = jobs.requeue_stuck(node="celery@box", booted_at=timezone.now())
    assert len(sent) == 1 and job.last_error == "re-queued: its worker celery@box restarted"


def test_a_pending_job_whose_message_was_lost_is_sent_again_after_its_deadline(
    call, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as sent:
        tasks.queue_rescue(call.pk, "https://voice.example.com")  # due in 5 s
        grace = settings.JOB_STUCK_AFTER_SECONDS
        assert jobs.requeue_stuck(now=timezone.now() + timedelta(seconds=grace)) == []
        (job,) = jobs.requeue_stuck(now=timezone.now() + timedelta(seconds=grace + tasks.RESCUE_DELAY_S + 1))
    assert len(sent) == 2  # the first message (lost) and the one the reconciler sent
    assert job.last_error == "re-queued: never started: its message was lost"


def test_a_job_stuck_too_often_fails_instead_of_looping(call, settings, django_capture_on_commit_callbacks):
    settings.JOB_MAX_REQUEUES = 1
    dead = _dead_pid()
    _running(call, pid=dead)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        jobs.requeue_stuck()
        Job.objects.update(status=Job.Status.RUNNING, pid=dead)  # the re-run died the same way
        (job,) = jobs.requeue_stuck()
    assert len(sent) == 1
    assert job.status == Job.Status.FAILED and job.last_error.endswith("gave up (stuck 2 times)")


def test_a_job_of_an_unknown_task_is_failed_not_sent(call):
    Job.objects.create(
        task="voice.tasks.gone",
        key="1",
        status=Job.Status.PENDING,
        due_at=timezone.now() - timedelta(days=1),
        updated_at=timezone.now() - timedelta(days=1),
    )
    (job,) = jobs.requeue_stuck()
    assert job.status == Job.Status.FAILED and "unknown task" in job.last_error


def test_the_reconciler_is_on_beat_s_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["requeue-stuck-jobs"]
    assert entry == {"task": "voice.tasks.requeue_stuck_jobs", "schedule": settings.JOB_RECONCILE_INTERVAL_SECONDS}
    assert tasks.requeue_stuck_jobs.name == entry["task"]


# -- settings -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("JOB_STUCK_AFTER_SECONDS", "0", "must be positive"),
        ("JOB_MAX_REQUEUES", "-1", "not negative"),
        ("BROKER_VISIBILITY_TIMEOUT_SECONDS", "60", "must be at least the longest task time limit"),
    ],
)
def test_bad_job_settings_stop_the_start_with_what_to_fix(name, value, message):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agentlocator.settings", "READ_DOT_ENV": "0", name: value}
    env.setdefault("SECRET_KEY", "x")
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and name in done.stderr and message in done.stderr


def test_redis_redelivers_a_dead_worker_s_message_after_the_visibility_timeout():
    if settings.CELERY_BROKER_URL.startswith("redis"):
        assert settings.CELERY_BROKER_TRANSPORT_OPTIONS == {"visibility_timeout": 900}
    else:  # the SQLAlchemy transport would hand the option to create_engine
        assert not hasattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS")
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_TASK_REJECT_ON_WORKER_LOST
