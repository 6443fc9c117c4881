"""The voice app's own records: the durable state of every Celery job (the after-call work, recordings).

A broker message can be lost (a worker killed while holding it from the embedded SQLite broker, a process dying
between commit and publish); the row here cannot. voice/jobs.py writes it, voice/job_task.py reports each run
into it, and the reconciler re-queues what is stuck.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Job(models.Model):
    """One logical job: a task name and a key (its first argument: a call id, a RecordingSid...), with the
    arguments to queue it again. Queueing the same logical job twice sends one message."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    task = models.CharField(_("task"), max_length=100)
    key = models.CharField(_("key"), max_length=200)
    args = models.JSONField(_("arguments"), default=list, blank=True)
    kwargs = models.JSONField(_("keyword arguments"), default=dict, blank=True)
    call = models.ForeignKey(
        "crm.Call",
        verbose_name=_("call"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="jobs",
    )
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0, help_text=_("Runs started by a worker."))
    requeues = models.PositiveIntegerField(
        _("re-queued"), default=0, help_text=_("Times the reconciler queued it again because it was stuck.")
    )
    last_error = models.TextField(_("last error"), blank=True)
    result = models.CharField(_("result"), max_length=200, blank=True)
    worker = models.CharField(_("worker"), max_length=200, blank=True, help_text=_("The Celery node of the last run."))
    # Where the last run's process lives: on the same machine, the reconciler can see that it is gone.
    host = models.CharField(_("host"), max_length=200, blank=True)
    pid = models.PositiveIntegerField(_("process id"), null=True, blank=True)
    # Asked for again while running (new material arrived): queued once more when this run ends.
    rerun = models.BooleanField(_("run again"), default=False)
    due_at = models.DateTimeField(_("due"), default=timezone.now)  # a countdown or a retry's back-off
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("background job")
        verbose_name_plural = _("background jobs")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["task", "key"], name="voice_job_one_per_task_key")]
        indexes = [models.Index(fields=["status", "due_at"], name="voice_job_status_due")]

    def __str__(self) -> str:
        return f"{self.task.rsplit('.', 1)[-1]}:{self.key}"
