"""A call that no summary will announce is news too: a lead rang and hung up before a word, the line
dropped, or the summary or the voicemail's transcript could not be made. Staff are told, as for any call,
once it is clear nothing else will tell them: the call has ended (``GRACE_S`` ago: a voicemail may still be
recording, late words may still be summarised), no voicemail is still on its way, and the after-call job
is no longer pending or running. Until then the check waits and looks again. If a summary or a transcribed
voicemail arrived meanwhile, its own path tells staff and this one stays silent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import shared_task
from django.utils import timezone

from crm.models import Call, Recording
from followup import notify
from voice import jobs
from voice.job_task import JobTask
from voice.models import Job

GRACE_S = 120
WAIT_S = 60  # between looks while the call, its voicemail or its summary is still under way
MAX_WAITS = 30  # half an hour; then staff are told whatever is still pending
ENDED = frozenset({Call.Status.COMPLETED, Call.Status.BUSY, Call.Status.FAILED, Call.Status.NO_ANSWER,
                   Call.Status.CANCELED})  # fmt: skip
STILL_COMING = frozenset({Recording.Status.PENDING, Recording.Status.STORED})


def after_unheard_call(call: Call, **_: Any) -> bool:
    """Queue the check (once per call, whatever retries), when the business has anyone to tell. True when
    queued now."""
    if not notify.has_audience(call.business):
        return False
    return jobs.enqueue(notify_unheard_call, (call.pk,), call_id=call.pk, countdown=GRACE_S)


def wait_reason(call: Call, now: dt.datetime) -> str | None:
    """Why staff cannot be told yet, or None. ``"told"`` when a summary or a transcript already told them."""
    voicemails = Recording.objects.filter(call=call, kind=Recording.Kind.VOICEMAIL)
    if call.summary or voicemails.filter(status=Recording.Status.TRANSCRIBED).exists():
        return "told"
    if voicemails.filter(status__in=STILL_COMING).exists():
        return "voicemail on its way"
    if call.status not in ENDED or call.ended_at is None:
        return "call not over"
    if now < call.ended_at + dt.timedelta(seconds=GRACE_S):
        return "within the grace"
    from voice.tasks import after_call  # the task's name, not its work (voice sits below followup)

    summary = Job.objects.filter(task=after_call.name, key=str(call.pk)).first()
    if summary is not None and summary.status in (Job.Status.PENDING, Job.Status.RUNNING):
        return "summary under way"
    return None


@shared_task(base=JobTask, bind=True, acks_late=True, max_retries=MAX_WAITS, soft_time_limit=30, time_limit=60)
def notify_unheard_call(self: JobTask, call_id: int) -> str:
    call = Call.objects.select_related("lead").filter(pk=call_id).first()
    if call is None:
        return "gone"
    reason = wait_reason(call, timezone.now())
    if reason == "told":
        return "heard"
    if reason is not None and self.request.retries < self.max_retries:
        raise self.retry(countdown=WAIT_S)
    lead_created = call.lead is not None and call.lead.created_at >= call.started_at
    return f"queued {len(notify.after_call(call, lead_created=lead_created))}"
