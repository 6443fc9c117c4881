"""Beat's follow-up rounds (followup/reminder_tasks.py): a task that comes due is reminded exactly once (its
notifications queued by followup.notify), and each morning every staff member gets one digest of the day's
tasks. The last test runs them as deployed: a real Celery worker and a real beat, as other processes."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from crm.models import Membership
from followup import reminder_tasks
from followup.models import FollowUp, Notification
from tests.support import factories
from tests.support.celery_worker import celery_worker, wait_for
from tests.support.live import ROOT, server_environment, stop_process

ISRAEL = ZoneInfo("Asia/Jerusalem")


@pytest.fixture
def business(db):
    return factories.make_business("מרפאת שיניים אלון", time_zone="Asia/Jerusalem")


def member(business, name: str, email: str = ""):
    user = factories.make_user(name, email=email or f"{name}@example.com", first_name=name.capitalize())
    factories.add_member(user, business, Membership.Role.STAFF)
    return user


def task(business, assignee, due_at: dt.datetime, **fields) -> FollowUp:
    lead = fields.pop("lead", None) or factories.make_lead(business, name=fields.pop("lead_name", "רון לוי"))
    return FollowUp.objects.create(business=business, lead=lead, assignee=assignee, due_at=due_at, **fields)


def reminders_of(follow_up: FollowUp) -> list[Notification]:
    return list(Notification.objects.filter(follow_up=follow_up, event="followup.due"))


# -- reminders -------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_due_task_is_reminded_exactly_once(business):
    dana = member(business, "dana")
    due = task(business, dana, timezone.now() - dt.timedelta(minutes=1))

    assert reminder_tasks.send_due_reminders.apply().get() == 1
    due.refresh_from_db()
    first_reminder = due.reminded_at
    assert first_reminder is not None
    (email,) = reminders_of(due)  # followup.notify queued the assignee's email
    assert email.channel == Notification.Channel.EMAIL and email.recipient == "dana@example.com"

    assert reminder_tasks.send_due_reminders.apply().get() == 0  # the next round, or the same one redelivered
    due.refresh_from_db()
    assert due.reminded_at == first_reminder and len(reminders_of(due)) == 1


@pytest.mark.django_db
def test_tasks_not_due_or_closed_are_not_reminded(business):
    dana = member(business, "dana")
    later = task(business, dana, timezone.now() + dt.timedelta(hours=1))
    done = task(business, dana, timezone.now() - dt.timedelta(hours=1), state=FollowUp.State.DONE)
    assert reminder_tasks.send_due_reminders.apply().get() == 0
    for follow_up in (later, done):
        follow_up.refresh_from_db()
        assert follow_up.reminded_at is None and not reminders_of(follow_up)


@pytest.mark.django_db
def test_an_overdue_task_stays_open(business):
    # No automatic "missed": a task a day late is still there, highlighted, until a person closes it.
    old = task(business, member(business, "dana"), timezone.now() - dt.timedelta(days=3))
    reminder_tasks.send_due_reminders.apply().get()
    old.refresh_from_db()
    assert old.state == FollowUp.State.OPEN and old.reminded_at is not None


# -- the morning digest ----------------------------------------------------------------------------------------
def end_of_local_today() -> dt.datetime:
    today = timezone.now().astimezone(ISRAEL).date()
    return dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tzinfo=ISRAEL)


@pytest.mark.django_db
def test_the_morning_digest_goes_once_per_person_per_day(business, settings):
    # Whenever the test runs, the business's morning has come: the digest hour is this very hour there.
    settings.FOLLOWUP_DIGEST_HOUR = timezone.now().astimezone(ISRAEL).hour
    dana, yossi = member(business, "dana"), member(business, "yossi")
    now = timezone.now()
    overdue = task(business, dana, now - dt.timedelta(days=1), lead_name="רון לוי", note="לחזור בעניין הצעת המחיר")
    later_today = task(
        business, dana, min(now + dt.timedelta(minutes=5), end_of_local_today() - dt.timedelta(seconds=1))
    )
    task(business, dana, end_of_local_today() + dt.timedelta(hours=10))  # tomorrow: not in today's digest
    task(business, dana, now - dt.timedelta(hours=1), state=FollowUp.State.DONE)
    task(business, yossi, now - dt.timedelta(hours=2))

    assert reminder_tasks.send_morning_digests.apply().get() == 2
    assert reminder_tasks.send_morning_digests.apply().get() == 0  # the next round of the same day

    assert len(mail.outbox) == 2
    (to_dana,) = [m for m in mail.outbox if m.to == ["dana@example.com"]]
    assert to_dana.subject == "המשימות שלך להיום (2)"
    html, mime = to_dana.alternatives[0]
    assert mime == "text/html" and 'dir="rtl"' in html and 'lang="he"' in html
    assert "רון לוי" in html and "באיחור" in html and "לחזור בעניין הצעת המחיר" in html
    assert f"/admin/followup/followup/{overdue.pk}/change/" in html
    assert f"/admin/followup/followup/{later_today.pk}/change/" in to_dana.body  # the plain-text part too
    today = now.astimezone(ISRAEL).date().isoformat()
    digest = Notification.objects.get(key=f"digest:{dana.pk}:{today}")
    assert digest.channel == Notification.Channel.EMAIL and digest.status == Notification.Status.SENT
    assert digest.attempts == 1 and digest.delivery_attempts.count() == 1


@pytest.mark.django_db
def test_no_digest_before_the_digest_hour(business, settings):
    local_hour = timezone.now().astimezone(ISRAEL).hour
    if local_hour == 23:
        pytest.skip("no later hour today to set the digest at")
    settings.FOLLOWUP_DIGEST_HOUR = local_hour + 1
    task(business, member(business, "dana"), timezone.now() - dt.timedelta(hours=1))
    assert reminder_tasks.send_morning_digests.apply().get() == 0
    assert mail.outbox == [] and not Notification.objects.filter(event="followup.digest").exists()


@pytest.mark.django_db
def test_no_morning_digest_in_the_afternoon(business, settings):
    """Beat was down all morning: the digest's hours are past and it waits for tomorrow morning."""
    local_hour = timezone.now().astimezone(ISRAEL).hour
    if local_hour < reminder_tasks.DIGEST_WINDOW_HOURS:
        pytest.skip("the window would wrap around midnight")
    settings.FOLLOWUP_DIGEST_HOUR = local_hour - reminder_tasks.DIGEST_WINDOW_HOURS
    task(business, member(business, "dana"), timezone.now() - dt.timedelta(hours=1))
    assert reminder_tasks.send_morning_digests.apply().get() == 0
    assert mail.outbox == []


@pytest.mark.django_db
def test_who_left_the_business_gets_no_digest_of_its_leads(business, settings):
    settings.FOLLOWUP_DIGEST_HOUR = timezone.now().astimezone(ISRAEL).hour
    dana = member(business, "dana")
    task(business, dana, timezone.now() - dt.timedelta(hours=1))
    Membership.objects.filter(user=dana, business=business).delete()
    assert reminder_tasks.send_morning_digests.apply().get() == 0
    assert mail.outbox == []


@pytest.mark.django_db
def test_nobody_without_tasks_or_an_email_gets_a_digest(business, settings):
    settings.FOLLOWUP_DIGEST_HOUR = timezone.now().astimezone(ISRAEL).hour
    member(business, "idle")
    no_email = factories.make_user("no_email")
    factories.add_member(no_email, business)
    task(business, no_email, timezone.now() - dt.timedelta(hours=1))
    assert reminder_tasks.send_morning_digests.apply().get() == 0 and mail.outbox == []


# -- as deployed: a worker and beat ------------------------------------------------------------------------------
def beat_argv(schedule: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "agentlocator",
        "beat",
        "--loglevel=INFO",
        f"--schedule={schedule}",
        "--max-interval=1",
        "--pidfile=",
    ]


@pytest.mark.django_db(transaction=True)
def test_beat_and_a_real_worker_remind_a_due_task_once(tmp_path, staff_groups):
    business = factories.make_business("מרפאת שיניים אלון", time_zone="Asia/Jerusalem")
    dana = member(business, "dana")
    due = task(business, dana, timezone.now() - dt.timedelta(minutes=1))
    env = {"FOLLOWUP_REMINDER_INTERVAL_SECONDS": "1", "EMAIL_URL": "consolemail://"}

    with celery_worker(tmp_path / "worker.log", **env):
        log = tmp_path / "beat.log"
        with open(log, "wb") as out:
            beat = subprocess.Popen(
                beat_argv(str(tmp_path / "beat-schedule")),
                cwd=ROOT,
                env=server_environment(**env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:

            def reminded() -> bool:
                due.refresh_from_db()
                return due.reminded_at is not None and bool(reminders_of(due))

            wait_for(reminded, 60, "beat and the worker never reminded the due task", log, beat)
            time.sleep(3)  # a few more beats: still one reminder
            assert beat.poll() is None
        finally:
            stop_process(beat)

    due.refresh_from_db()
    assert due.reminded_at is not None
    assert len(reminders_of(due)) == 1
    assert "send_due_reminders" in log.read_text(errors="replace")
