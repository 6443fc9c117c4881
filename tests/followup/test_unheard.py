"""A lead who rang and hung up before saying a word is news for staff too, once it is clear nothing more is
coming: no words arrived late, and no voicemail."""

from __future__ import annotations

import pytest
from django.core import mail

from crm.models import Utterance
from followup.unheard import GRACE_S, notify_unheard_call
from tests.followup.delivery import run_notification_jobs
from tests.support import factories
from voice import tasks
from voice.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def call():
    business = factories.make_business("מספרת רונית", notification_emails="ronit@example.com")
    return factories.make_call(business, from_number="+972547654321")


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


def test_words_that_arrive_late_tell_staff_through_the_summary_instead(call, django_capture_on_commit_callbacks):
    after_call_finds_nothing(call, django_capture_on_commit_callbacks)
    factories.make_utterance(call, Utterance.Speaker.CALLER, "שלום, רציתי לקבוע תור", 500, 2500)

    assert notify_unheard_call.apply(args=(call.pk,)).get() == "heard"
    assert run_notification_jobs() == [] and mail.outbox == []


def test_a_voicemail_tells_staff_through_its_own_path(call, django_capture_on_commit_callbacks):
    after_call_finds_nothing(call, django_capture_on_commit_callbacks)
    factories.make_recording(call, kind="voicemail")

    assert notify_unheard_call.apply(args=(call.pk,)).get() == "heard"
    assert mail.outbox == []


def test_the_after_call_job_running_twice_queues_one_check(call, django_capture_on_commit_callbacks):
    after_call_finds_nothing(call, django_capture_on_commit_callbacks)
    after_call_finds_nothing(call, django_capture_on_commit_callbacks)
    assert Job.objects.filter(task=notify_unheard_call.name).count() == 1
