"""A call that no summary will announce is news for staff too (a lead rang and hung up before a word, or
the summary could not be made), once it is clear nothing else will tell them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from crm.models import Call, Recording
from followup.unheard import GRACE_S, notify_unheard_call, wait_reason
from tests.followup.delivery import run_notification_jobs
from tests.support import factories
from voice import tasks
from voice.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def call():
    business = factories.make_business("מספרת רונית", notification_emails="ronit@example.com")
    return factories.make_call(
        business, from_number="+972547654321", ended_at=timezone.now() - dt.timedelta(seconds=GRACE_S + 5)
    )


def after_call_finds_nothing(call, capture) -> Job:
    """The after-call job runs and finds no words: the check is queued, to run after the grace."""
    with capture(execute=False):
        assert tasks.after_call.apply(args=(call.pk,)).get() is False
    return Job.objects.get(task=notify_unheard_call.name, key=str(call.pk))


def test_a_call_with_nothing_said_is_told_to_staff_after_the_grace(call, django_capture_on_commit_callbacks):
    job = after_call_finds_nothing(call, django_capture_on_commit_callbacks)
    assert job.status == Job.Status.PENDING and (job.due_at - job.created_at).total_seconds() >= GRACE_S - 1

    assert notify_unheard_call.apply(args=(call.pk,)).get() == "queued 1"
    run_notification_jobs()
    [email] = mail.outbox
    assert email.to == ["ronit@example.com"]
    assert "054-765-4321" in email.subject
    assert "לא נאמר דבר בשיחה" in email.body


def test_a_summary_that_arrived_meanwhile_tells_staff_instead(call):
    Call.objects.filter(pk=call.pk).update(summary="ביקשה תור לתספורת.")
    assert notify_unheard_call.apply(args=(call.pk,)).get() == "heard"
    assert run_notification_jobs() == [] and mail.outbox == []


def test_the_check_waits_while_anything_else_may_still_tell_staff(call):
    now = timezone.now()
    assert wait_reason(call, now) is None

    recording = factories.make_recording(call, kind=Recording.Kind.VOICEMAIL, status=Recording.Status.PENDING)
    assert wait_reason(call, now) == "voicemail on its way"
    Recording.objects.filter(pk=recording.pk).update(status=Recording.Status.TRANSCRIBED)
    assert wait_reason(call, now) == "told"
    Recording.objects.filter(pk=recording.pk).update(status=Recording.Status.FAILED)  # lost: staff must hear
    assert wait_reason(call, now) is None

    Call.objects.filter(pk=call.pk).update(status=Call.Status.IN_PROGRESS, ended_at=None)
    call.refresh_from_db()
    assert wait_reason(call, now) == "call not over"
    Call.objects.filter(pk=call.pk).update(status=Call.Status.COMPLETED, ended_at=now)
    call.refresh_from_db()
    assert wait_reason(call, now) == "within the grace"

    later = now + dt.timedelta(seconds=GRACE_S + 1)
    job = Job.objects.create(task=tasks.after_call.name, key=str(call.pk), call=call)
    assert wait_reason(call, later) == "summary under way"
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED)  # the summary gave up: staff must hear
    assert wait_reason(call, later) is None


def test_the_after_call_job_running_twice_queues_one_check(call, django_capture_on_commit_callbacks):
    after_call_finds_nothing(call, django_capture_on_commit_callbacks)
    after_call_finds_nothing(call, django_capture_on_commit_callbacks)
    assert Job.objects.filter(task=notify_unheard_call.name).count() == 1


def test_nothing_is_queued_where_nobody_would_be_told(django_capture_on_commit_callbacks):
    quiet = factories.make_call(factories.make_business("עסק שקט"), from_number="+972547654321")
    with django_capture_on_commit_callbacks(execute=False):
        assert tasks.after_call.apply(args=(quiet.pk,)).get() is False
    assert not Job.objects.filter(task=notify_unheard_call.name).exists()
