"""Who is told about a call, and how often: the business's addresses and the staff who opted in get one email
per call, the webhook gets call.completed and lead.created (or lead.updated), and the same event heard twice,
or its job run twice, sends nothing twice. The entry points only queue; a Celery worker sends."""

from __future__ import annotations

import logging

import pytest
from django.core import mail
from django.utils import timezone

from crm.models import Call, Membership, Recording
from crm.signals import call_digested
from followup import notify, notify_tasks
from followup.models import FollowUp, Notification
from tests.followup.delivery import digest_call, digest_voicemail, run_notification_jobs
from tests.followup.webhook_receiver import webhook_receiver
from tests.support import factories
from tests.support.celery_eager import eager_tasks
from voice.models import Job

pytestmark = pytest.mark.django_db

SECRET = "whsec-notify"


@pytest.fixture
def receiver():
    with webhook_receiver(SECRET) as receiver:
        yield receiver


@pytest.fixture
def business(receiver):
    return factories.make_business(
        "מרפאת שיניים אלון",
        notification_emails="owner@alon.example\n\n  front-desk@alon.example  \nnot an address\nOWNER@alon.example",
        webhook_url=receiver.url,
        webhook_secret=SECRET,
    )


def member(business, username: str, notify_about: str, email: str | None = None):
    user = factories.make_staff(business, username)
    user.email = f"{username}@alon.example" if email is None else email
    user.save()
    Membership.objects.filter(user=user, business=business).update(notify=notify_about)
    return user


@pytest.fixture
def staff(business):
    member(business, "every", Membership.Notify.EVERY_CALL)
    member(business, "leads", Membership.Notify.NEW_LEADS)
    member(business, "quiet", Membership.Notify.NONE)
    member(business, "no_email", Membership.Notify.EVERY_CALL, email="")
    other = factories.make_business("Garage Beta")
    outsider = factories.make_staff(other, "outsider")
    outsider.email = "outsider@beta.example"
    outsider.save()
    Membership.objects.filter(user=outsider).update(notify=Membership.Notify.EVERY_CALL)


@pytest.fixture
def call(business) -> Call:
    lead = factories.make_lead(business, "+972501234567", "דנה כהן")
    return factories.make_call(business, lead, summary="דנה רוצה הלבנת שיניים.")


def recipients() -> list[str]:
    return sorted(address for m in mail.outbox for address in m.to)


# -- who ---------------------------------------------------------------------------------------------------
def test_a_new_lead_is_one_email_per_recipient_to_the_list_and_to_staff_who_want_new_leads(
    call, staff, receiver, django_capture_on_commit_callbacks
):
    digest_call(call, lead_created=True, capture=django_capture_on_commit_callbacks)

    assert recipients() == [
        "every@alon.example",
        "front-desk@alon.example",
        "leads@alon.example",
        "owner@alon.example",  # listed twice (in two cases): one email
    ]
    assert {m.subject for m in mail.outbox} == {"ליד חדש: דנה כהן, 050-123-4567"}
    assert receiver.events() == ["call.completed", "lead.created"]


def test_a_known_caller_reaches_the_list_and_staff_who_want_every_call(
    call, staff, receiver, django_capture_on_commit_callbacks
):
    digest_call(call, lead_created=False, capture=django_capture_on_commit_callbacks)

    assert recipients() == ["every@alon.example", "front-desk@alon.example", "owner@alon.example"]
    assert {m.subject for m in mail.outbox} == {"שיחה מ-דנה כהן, 050-123-4567"}
    assert receiver.events() == ["call.completed", "lead.updated"]


def test_a_voicemail_goes_to_the_same_people(call, staff, business, receiver, django_capture_on_commit_callbacks):
    voicemail = factories.make_recording(call, kind=Recording.Kind.VOICEMAIL, transcript="תחזרו אליי", summary="לחזור")

    digest_voicemail(voicemail, lead_created=True, capture=django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 4 and {m.subject for m in mail.outbox} == {"הודעה קולית מ-דנה כהן, 050-123-4567"}
    assert "ליד חדש השאיר הודעה קולית" in mail.outbox[0].body
    assert receiver.events() == ["voicemail.received", "lead.created"]
    body = receiver.received[0].json
    assert body["recording"]["id"] == voicemail.pk and body["recording"]["transcript"] == "תחזרו אליי"
    assert body["recording"]["url"] == f"http://testserver/recordings/{voicemail.pk}/audio"


def test_lines_that_are_not_addresses_are_skipped_with_a_warning(call, caplog, django_capture_on_commit_callbacks):
    with caplog.at_level(logging.WARNING, logger="followup.emails"):
        digest_call(call, lead_created=False, capture=django_capture_on_commit_callbacks)

    assert recipients() == ["front-desk@alon.example", "owner@alon.example"]
    assert "'not an address' in notification emails is not an email address" in caplog.text


def test_no_webhook_url_no_webhook_and_no_addresses_no_email(django_capture_on_commit_callbacks):
    business = factories.make_business()
    call = factories.make_call(business, factories.make_lead(business, "+972501234567"))

    assert digest_call(call, lead_created=True, capture=django_capture_on_commit_callbacks) == []
    assert Notification.objects.count() == 0


def test_a_call_staff_made_is_not_emailed_to_them_but_the_webhook_hears_it(
    business, receiver, django_capture_on_commit_callbacks
):
    lead = factories.make_lead(business, "+972501234567", "דנה כהן")
    outbound = factories.make_call(business, lead, direction="outbound-api", from_number="+97233763805")

    digest_call(outbound, lead_created=False, capture=django_capture_on_commit_callbacks)

    assert mail.outbox == []
    assert receiver.events() == ["call.completed", "lead.updated"]


# -- once --------------------------------------------------------------------------------------------------
def test_the_signal_twice_and_every_job_run_twice_send_one_email_and_one_post_each(
    call, receiver, django_capture_on_commit_callbacks
):
    digest_call(call, lead_created=True, capture=django_capture_on_commit_callbacks)
    assert digest_call(call, lead_created=True, capture=django_capture_on_commit_callbacks) == []
    for notification in Notification.objects.all():
        assert notify_tasks.deliver_notification.apply(args=[notification.pk]).get() == "already sent"

    assert recipients() == ["front-desk@alon.example", "owner@alon.example"]
    assert receiver.events() == ["call.completed", "lead.created"]
    assert Notification.objects.count() == 4
    assert Job.objects.filter(task=notify_tasks.deliver_notification.name).count() == 4


def test_end_to_end_with_celery_eager_the_digest_signal_delivers_everything_once(
    call, receiver, django_capture_on_commit_callbacks
):
    """The signal as voice/call_digest.py sends it, the jobs published on commit and run by Celery inline."""
    for _ in range(2):
        with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
            call_digested.send(sender=Call, call=call, lead_created=True)

    assert recipients() == ["front-desk@alon.example", "owner@alon.example"]
    assert receiver.events() == ["call.completed", "lead.created"]
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    assert set(Job.objects.filter(task=notify_tasks.deliver_notification.name).values_list("status", flat=True)) == {
        Job.Status.DONE
    }


def test_the_entry_point_only_queues(call, receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as published:
        queued = notify.after_call(call, lead_created=True)

    assert len(queued) == 4 and len(published) == 4  # one message each, published once the digest commits
    assert {n.status for n in queued} == {"pending"} and {n.attempts for n in queued} == {0}
    assert mail.outbox == [] and receiver.received == []
    assert Job.objects.filter(task=notify_tasks.deliver_notification.name, status=Job.Status.PENDING).count() == 4


def test_a_timeline_event_tells_the_call_who_was_notified(call, receiver, django_capture_on_commit_callbacks):
    digest_call(call, lead_created=True, capture=django_capture_on_commit_callbacks)

    told = [e.payload for e in call.events.filter(kind="notified").order_by("pk")]
    assert sorted((p["channel"], p["to"], p["status"]) for p in told) == [
        ("email", "front-desk@alon.example", "sent"),
        ("email", "owner@alon.example", "sent"),
        ("webhook", "127.0.0.1", "sent"),  # the host only: a webhook URL may hold a token
        ("webhook", "127.0.0.1", "sent"),
    ]


# -- a failing receiver never holds up the rest ------------------------------------------------------------
def test_a_failing_webhook_does_not_stop_the_emails(call, receiver, django_capture_on_commit_callbacks):
    receiver.answer(410, 410)

    results = digest_call(call, lead_created=True, capture=django_capture_on_commit_callbacks)

    assert sorted(results) == ["failed", "failed", "sent", "sent"]
    assert recipients() == ["front-desk@alon.example", "owner@alon.example"]
    failed = Notification.objects.filter(channel="webhook")
    assert {(n.status, n.last_status_code) for n in failed} == {("failed", 410)}


# -- follow-ups coming due ---------------------------------------------------------------------------------
def test_a_due_follow_up_emails_its_assignee_and_posts_followup_due_once(
    call, business, receiver, django_capture_on_commit_callbacks
):
    seller = member(business, "yossi", Membership.Notify.NONE)
    task = FollowUp.objects.create(business=business, lead=call.lead, call=call, due_at=timezone.now(), assignee=seller)

    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=False):
            notify.notify_follow_up_due(task)
        run_notification_jobs()

    assert recipients() == ["yossi@alon.example"]
    assert receiver.events() == ["followup.due"]
    body = receiver.received[0].json
    assert body["follow_up"]["id"] == task.pk and body["follow_up"]["assignee"]["email"] == "yossi@alon.example"
    assert body["lead"]["phone"] == "+972501234567" and body["call"]["id"] == call.pk


def test_a_follow_up_moved_to_a_later_time_is_reminded_again(
    call, business, receiver, django_capture_on_commit_callbacks
):
    seller = member(business, "yossi", Membership.Notify.NONE)
    task = FollowUp.objects.create(business=business, lead=call.lead, due_at=timezone.now(), assignee=seller)
    with django_capture_on_commit_callbacks(execute=False):
        notify.notify_follow_up_due(task)
        task.due_at = timezone.now() + timezone.timedelta(hours=2)
        task.save()
        notify.notify_follow_up_due(task)
    run_notification_jobs()

    assert len(mail.outbox) == 2 and receiver.events() == ["followup.due", "followup.due"]


def test_a_follow_up_nobody_with_an_email_holds_goes_to_the_business_addresses(
    call, business, django_capture_on_commit_callbacks
):
    task = FollowUp.objects.create(business=business, lead=call.lead, due_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=False):
        notify.notify_follow_up_due(task)
    run_notification_jobs()

    assert recipients() == ["front-desk@alon.example", "owner@alon.example"]
    assert {m.subject for m in mail.outbox} == {"תזכורת: לחזור אל דנה כהן, 050-123-4567"}


def test_a_follow_up_of_someone_who_left_the_business_goes_to_the_business_addresses(
    call, business, django_capture_on_commit_callbacks
):
    gone = member(business, "gone", Membership.Notify.EVERY_CALL)
    task = FollowUp.objects.create(business=business, lead=call.lead, due_at=timezone.now(), assignee=gone)
    Membership.objects.filter(user=gone, business=business).delete()
    with django_capture_on_commit_callbacks(execute=False):
        notify.notify_follow_up_due(task)
    run_notification_jobs()

    assert "gone@alon.example" not in recipients()
    assert recipients() == ["front-desk@alon.example", "owner@alon.example"]
