"""Running the notification jobs in tests: what a Celery worker does with the messages ``voice.jobs`` queued,
done inline through the task's own ``apply`` (retries included, at once instead of after their back-off)."""

from __future__ import annotations

from crm.models import Call, Recording
from crm.signals import call_digested, voicemail_digested
from followup import notify_tasks
from voice.models import Job


def run_notification_jobs() -> list[str]:
    """Run every pending delivery job, oldest first, as a worker would; their results."""
    pending = Job.objects.filter(task=notify_tasks.deliver_notification.name, status=Job.Status.PENDING)
    return [notify_tasks.deliver_notification.apply(args=job.args).get() for job in pending.order_by("pk")]


def digest_call(call: Call, *, lead_created: bool, capture) -> list[str]:
    """What voice/call_digest.py announces once a call's summary is written (after its commit), then the
    worker's part. The queued messages are not published (``capture``): the jobs' rows are what is run."""
    with capture(execute=False):
        call_digested.send(sender=Call, call=call, lead_created=lead_created)
    return run_notification_jobs()


def digest_voicemail(recording: Recording, *, lead_created: bool, capture) -> list[str]:
    with capture(execute=False):
        voicemail_digested.send(sender=Recording, recording=recording, lead_created=lead_created)
    return run_notification_jobs()
