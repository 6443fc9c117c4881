"""The job-state service: every Celery job of ours has a row (voice.models.Job) that says where it is.

- ``enqueue`` records the logical job (task name + key, the key being the task's first argument) and publishes
  its message once the transaction commits. The same logical job queued again while pending, running or done
  sends no second message (5 status callbacks make one after-call job); a failed job is queued again.
- ``started`` / ``succeeded`` / ``retrying`` / ``failed`` are what each run reports (voice/job_task.py calls
  them from Celery's hooks): running with one more attempt; done; pending again until the retry is due; failed
  with the error.
- ``requeue_stuck`` is the reconciler: a job pending long past its due time (its message was lost) or running
  when its worker is known dead is queued again, and a job stuck too often is failed. A worker is known dead
  when its process is gone (same machine: the embedded setup), when its node starts again (run once at worker
  start-up with that node's name: a node name runs in one process at a time), or, from anywhere, when the run
  is past its task's hard time limit (the pool would have killed it). Run by beat and at worker start-up.

Every task is idempotent (state checked under a row lock), so a message sent twice does no harm.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from celery import Task, current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from voice.models import Job

log = logging.getLogger(__name__)

ERROR_LIMIT = 2000
KEY_LIMIT = 200
RESULT_LIMIT = 200
DEFAULT_TIME_LIMIT_S = 300  # a task without a time limit of its own (settings.CELERY_TASK_TIME_LIMIT's default)


def key_of(args: Sequence[Any], kwargs: Mapping[str, Any] | None = None) -> str:
    """A job's key: its task's first argument (the call id, the CallSid, the RecordingSid)."""
    if args:
        return str(args[0])[:KEY_LIMIT]
    if kwargs:
        return str(next(iter(kwargs.values())))[:KEY_LIMIT]
    return ""


def _error_text(error: BaseException | str | None) -> str:
    if error is None:
        return ""
    if isinstance(error, BaseException):
        error = f"{type(error).__name__}: {error}"
    return error[:ERROR_LIMIT]


def _publish(task: Task, args: Sequence[Any], kwargs: Mapping[str, Any], countdown: float) -> None:
    """Send the message once the current transaction commits, so a worker never looks for rows not there yet.
    A process that dies before the publish leaves the job pending: the reconciler sends it later."""
    args, kwargs = list(args), dict(kwargs)
    transaction.on_commit(lambda: task.apply_async(args=args, kwargs=kwargs, countdown=countdown or None))


def _task_named(name: str) -> Task | None:
    # Re-queueing starts from a row, so the task comes from Celery's registry by the name stored there.
    return current_app.tasks.get(name)


def enqueue(
    task: Task,
    args: Sequence[Any],
    *,
    call_id: int | None = None,
    countdown: float = 0,
    redo: bool = False,
) -> bool:
    """Record the logical job and queue it once this transaction commits. True when a message will be sent.

    ``redo``: the caller knows there is new material (e.g. the call's utterances are stored now): a done job
    runs again, a running one runs once more when it ends."""
    now = timezone.now()
    due = now + timedelta(seconds=countdown)
    with transaction.atomic():
        job, created = Job.objects.select_for_update().get_or_create(
            task=task.name,
            key=key_of(args),
            defaults={"args": list(args), "call_id": call_id, "due_at": due, "created_at": now, "updated_at": now},
        )
        if not created:
            if job.status == Job.Status.RUNNING and redo and not job.rerun:
                job.rerun, job.updated_at = True, now
                job.save(update_fields=["rerun", "updated_at"])
            if job.status in (Job.Status.PENDING, Job.Status.RUNNING):
                return False
            if job.status == Job.Status.DONE and not redo:
                return False
            job.status, job.args, job.kwargs, job.rerun = Job.Status.PENDING, list(args), {}, False
            job.due_at, job.updated_at = due, now
            job.call_id = job.call_id or call_id
            job.save()
        _publish(task, args, {}, countdown)
    return True


def _locked(task_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Job | None:
    return Job.objects.select_for_update().filter(task=task_name, key=key_of(args, kwargs)).first()


def started(task_name: str, args: Sequence[Any], kwargs: Mapping[str, Any], *, worker: str) -> None:
    """A worker starts a run: running, one more attempt. A run nobody queued through ``enqueue`` (a message
    from before this table existed, a direct ``apply``) gets its row here."""
    now = timezone.now()
    with transaction.atomic():
        job, _ = Job.objects.select_for_update().get_or_create(
            task=task_name,
            key=key_of(args, kwargs),
            defaults={"args": list(args), "kwargs": dict(kwargs), "created_at": now},
        )
        job.status, job.attempts, job.worker = Job.Status.RUNNING, job.attempts + 1, worker[:200]
        job.host, job.pid = socket.gethostname()[:200], os.getpid()
        job.started_at, job.updated_at, job.finished_at = now, now, None
        job.save()


def succeeded(task_name: str, args: Sequence[Any], kwargs: Mapping[str, Any], *, result: Any = None) -> None:
    """The run returned: done (unless it gave up, see ``failed``), or queued once more when asked meanwhile."""
    now = timezone.now()
    with transaction.atomic():
        job = _locked(task_name, args, kwargs)
        if job is None or job.status != Job.Status.RUNNING:
            return  # failed by the run itself, or already re-queued by the reconciler
        job.result = "" if result is None else str(result)[:RESULT_LIMIT]
        job.finished_at = job.updated_at = now
        task = _task_named(task_name) if job.rerun else None
        if task is not None:
            job.status, job.rerun, job.due_at = Job.Status.PENDING, False, now
            _publish(task, job.args, job.kwargs, 0)
        else:
            job.status, job.rerun = Job.Status.DONE, False
        job.save()


def retrying(task_name: str, args: Sequence[Any], kwargs: Mapping[str, Any], *, countdown: float, error: Any) -> None:
    """The run asked Celery for a retry: pending again, due after the back-off."""
    now = timezone.now()
    with transaction.atomic():
        job = _locked(task_name, args, kwargs)
        if job is None:
            return
        job.status, job.last_error = Job.Status.PENDING, _error_text(error)
        job.due_at, job.updated_at = now + timedelta(seconds=countdown), now
        job.save()


def failed(task_name: str, args: Sequence[Any], kwargs: Mapping[str, Any], *, error: Any) -> None:
    """The run failed for good (raised, or gave up after its last retry): failed, with the error."""
    now = timezone.now()
    with transaction.atomic():
        job = _locked(task_name, args, kwargs)
        if job is None:
            return
        job.status, job.last_error, job.rerun = Job.Status.FAILED, _error_text(error), False
        job.finished_at = job.updated_at = now
        job.save()


# -- the reconciler ----------------------------------------------------------------------------------------
def result_of(task_name: str, key: str) -> str:
    """What the last successful run of this job returned ("" when none did)."""
    found = Job.objects.filter(task=task_name, key=key[:KEY_LIMIT]).values_list("result", flat=True).first()
    return found or ""


def time_limit_of(task_name: str) -> float:
    """The hard time limit a run of this task cannot outlive (the pool kills it then)."""
    task = _task_named(task_name)
    limit = getattr(task, "time_limit", None) or current_app.conf.task_time_limit
    return float(limit or DEFAULT_TIME_LIMIT_S)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def why_stuck(job: Job, now: datetime, *, node: str = "", booted_at: datetime | None = None) -> str:
    """Why this pending or running job will not finish by itself, or "" when it may still."""
    grace = timedelta(seconds=settings.JOB_STUCK_AFTER_SECONDS)
    if job.status == Job.Status.RUNNING:
        if node and job.worker == node and booted_at is not None and (job.started_at or now) < booted_at:
            return f"its worker {node} restarted"
        if job.pid and job.host == socket.gethostname() and not _process_alive(job.pid):
            return f"its worker process {job.pid} is gone"
        started_at = job.started_at or job.updated_at
        if started_at + timedelta(seconds=time_limit_of(job.task)) + grace < now:
            return "still running past its time limit: its worker died"
    elif job.status == Job.Status.PENDING and max(job.due_at, job.updated_at) + grace < now:
        return "never started: its message was lost"
    return ""


def requeue_stuck(*, now: datetime | None = None, node: str = "", booted_at: datetime | None = None) -> list[Job]:
    """Queue every stuck job again (failed instead after ``JOB_MAX_REQUEUES`` tries). Returns those touched."""
    now = now or timezone.now()
    touched = []
    candidates = Job.objects.filter(status__in=[Job.Status.PENDING, Job.Status.RUNNING]).values_list("pk", flat=True)
    for pk in list(candidates):
        with transaction.atomic():
            job = Job.objects.select_for_update().filter(pk=pk).first()
            if job is None or not (reason := why_stuck(job, now, node=node, booted_at=booted_at)):
                continue
            task = _task_named(job.task)
            if task is None or job.requeues >= settings.JOB_MAX_REQUEUES:
                why = "unknown task" if task is None else f"stuck {job.requeues + 1} times"
                job.status, job.last_error = Job.Status.FAILED, f"{reason}; gave up ({why})"
                job.finished_at = now
                log.error("job %s failed: %s", job, job.last_error)
            else:
                job.status, job.requeues, job.last_error = Job.Status.PENDING, job.requeues + 1, f"re-queued: {reason}"
                job.due_at, job.rerun = now, False
                _publish(task, job.args, job.kwargs, 0)
                log.warning("job %s re-queued: %s", job, reason)
            job.updated_at = now
            job.save()
            touched.append(job)
    return touched
