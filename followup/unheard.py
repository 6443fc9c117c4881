"""A call that ended with nothing said is news too: a lead rang and hung up (or the line dropped before
the agent heard a word). Staff are told, as for any call, once it is clear no words and no voicemail are
coming: the first after-call run can beat the socket's last rows, so the check waits ``GRACE_S`` and looks
again. If words or a voicemail arrived meanwhile, their own path tells staff and this one stays silent."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from crm.models import Call, Recording, Utterance
from followup import notify
from voice import jobs
from voice.job_task import JobTask

GRACE_S = 120


def after_unheard_call(call: Call, **_: Any) -> bool:
    """Queue the check (once per call, whatever retries). True when queued now."""
    return jobs.enqueue(notify_unheard_call, (call.pk,), call_id=call.pk, countdown=GRACE_S)


@shared_task(base=JobTask, bind=True, acks_late=True, max_retries=3, soft_time_limit=30, time_limit=60)
def notify_unheard_call(self: JobTask, call_id: int) -> str:
    call = Call.objects.select_related("lead").filter(pk=call_id).first()
    if call is None:
        return "gone"
    heard = (
        bool(call.summary)
        or Utterance.objects.filter(call=call, speaker=Utterance.Speaker.CALLER).exists()
        or Recording.objects.filter(call=call, kind=Recording.Kind.VOICEMAIL).exists()
    )
    if heard:
        return "heard"  # the summary or the voicemail tells staff
    lead_created = call.lead is not None and call.lead.created_at >= call.started_at
    return f"queued {len(notify.after_call(call, lead_created=lead_created))}"
