"""Beat's two follow-up rounds (``CELERY_BEAT_SCHEDULE`` in the settings):

- ``send_due_reminders`` (every ``FOLLOWUP_REMINDER_INTERVAL_SECONDS``): each open task whose time has come
  and that was not reminded of yet is marked reminded under its row lock, and in the same transaction its
  notifications are queued (``followup.notify.notify_follow_up_due``: the assignee's email, the webhook's
  ``followup.due``). Two rounds at once, or a redelivered message, remind once; a round that fails before
  it commits leaves the task for the next round.
- ``send_morning_digests`` (every few minutes): once a business's clock passes ``FOLLOWUP_DIGEST_HOUR``,
  each staff member with open tasks due that day or overdue gets one email listing them. Once per person
  per day: the ``Notification`` keyed ``digest:<user id>:<date>`` is claimed before the email is sent, and a
  claim whose sending died is not sent again (better no digest than two).

Overdue tasks are never closed by a round (no automatic "missed"): they stay open, highlighted, and in every
morning's digest until a person closes them. No retries and no acks_late: the next round is the retry.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from typing import Any

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from crm.business_hours import zone_of
from crm.models import Business
from crm.phones import display_phone
from followup.models import DeliveryAttempt, FollowUp, Notification
from voice.public_url import absolute_url

log = logging.getLogger(__name__)

BATCH = 500  # tasks per reminder round; the next round takes the rest
DIGEST_EVENT = "followup.digest"
DIGEST_MAX_ATTEMPTS = 3  # a digest refused by the mail server is tried again by the next rounds, then left
DIGEST_WINDOW_HOURS = 4  # from FOLLOWUP_DIGEST_HOUR: a beat that was down longer skips the day's digest
DIGEST_SUBJECT = "המשימות שלך להיום ({count})"


# -- reminders -------------------------------------------------------------------------------------------------
@shared_task(ignore_result=True, soft_time_limit=120, time_limit=150)
def send_due_reminders() -> int:
    """Remind the assignees of tasks that came due; returns how many were reminded in this round."""
    from followup.notify import notify_follow_up_due  # the notifier sits beside us; imported when first used

    now = timezone.now()
    due = FollowUp.objects.filter(state=FollowUp.State.OPEN, due_at__lte=now, reminded_at__isnull=True)
    reminded = 0
    for pk in list(due.order_by("due_at").values_list("pk", flat=True)[:BATCH]):
        try:
            with transaction.atomic():
                follow_up = due.select_for_update().filter(pk=pk).first()
                if follow_up is None:  # closed, or reminded by another round meanwhile
                    continue
                follow_up.reminded_at = now
                follow_up.save(update_fields=["reminded_at"])
                notify_follow_up_due(follow_up)
            reminded += 1
        except Exception:  # one task's trouble does not hold up the others; the next round tries it again
            log.exception("reminder for follow-up %s failed", pk)
    if reminded:
        log.info("%d follow-up reminder(s) queued", reminded)
    return reminded


# -- the morning digest ----------------------------------------------------------------------------------------
def digest_key(user_id: int, day: dt.date) -> str:
    return f"digest:{user_id}:{day.isoformat()}"


def tasks_for_digests(now: dt.datetime, hour: int) -> dict[tuple[int, dt.date], list[FollowUp]]:
    """(assignee id, their business's local date) → open tasks due that day or before, for every business
    whose clock is past ``hour``. A person working for two businesses gets one list per day."""
    found: dict[tuple[int, dt.date], list[FollowUp]] = defaultdict(list)
    for business in Business.objects.all():
        zone = zone_of(business)
        local = now.astimezone(zone)
        if not hour <= local.hour < hour + DIGEST_WINDOW_HOURS:  # a morning digest, not an afternoon one
            continue
        end_of_day = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tzinfo=zone)
        tasks = (
            FollowUp.objects.filter(
                business=business,
                state=FollowUp.State.OPEN,
                due_at__lt=end_of_day,
                assignee__isnull=False,
                assignee__is_active=True,
                assignee__memberships__business=business,  # who left the business hears no more of its leads
            )
            .select_related("lead", "business", "assignee")
            .order_by("due_at")
        )
        for task in tasks:
            assert task.assignee_id is not None
            found[(task.assignee_id, local.date())].append(task)
    return found


@shared_task(ignore_result=True, soft_time_limit=240, time_limit=300)
def send_morning_digests() -> int:
    """Send today's digests not sent yet; returns how many went out in this round."""
    now = timezone.now()
    users = {u.pk: u for u in get_user_model().objects.filter(follow_ups__state=FollowUp.State.OPEN).distinct()}
    sent = 0
    for (user_id, day), tasks in tasks_for_digests(now, settings.FOLLOWUP_DIGEST_HOUR).items():
        user = users.get(user_id)
        if user is None or not user.email:
            continue
        try:
            sent += send_digest(user, day, tasks, now)
        except Exception:
            log.exception("morning digest for user %s failed", user_id)
    return sent


def _claim(user: Any, day: dt.date, tasks: list[FollowUp]) -> Notification | None:
    """The day's digest row for this person, claimed for one sending (attempts + 1) under its lock; None when
    it was sent, is being sent, or died while sending."""
    key = digest_key(user.pk, day)
    defaults = {
        "business": tasks[0].business,
        "event": DIGEST_EVENT,
        "channel": Notification.Channel.EMAIL,
        "recipient": user.email,
        "payload": {"date": day.isoformat(), "follow_up_ids": [t.pk for t in tasks]},
    }
    try:
        with transaction.atomic():
            Notification.objects.get_or_create(key=key, defaults=defaults)
    except IntegrityError:
        pass  # created by another round at the same moment
    with transaction.atomic():
        notification = Notification.objects.select_for_update().get(key=key)
        if notification.status == Notification.Status.SENT:
            return None
        if notification.unfinished_attempts() > 0:  # a sending in progress, or one that died: not again
            return None
        if notification.attempts >= DIGEST_MAX_ATTEMPTS:
            return None
        notification.attempts += 1
        notification.status = Notification.Status.PENDING
        notification.save(update_fields=["attempts", "status", "updated_at"])
    return notification


def digest_message(user: Any, day: dt.date, tasks: list[FollowUp], now: dt.datetime) -> EmailMultiAlternatives:
    """The Hebrew email: subject with the count, right-to-left HTML and a plain-text part."""
    rows = []
    for task in tasks:
        zone = zone_of(task.business)
        local = task.due_at.astimezone(zone)
        rows.append(
            {
                "task": task,
                "lead_name": task.lead.name,
                "phone": display_phone(task.lead.phone),
                "due": local.strftime("%H:%M") if local.date() == day else local.strftime("%d/%m %H:%M"),
                "overdue": task.due_at < now,
                "url": _admin_url(task.pk),
            }
        )
    context = {
        "user": user,
        "name": user.get_full_name() or user.get_username(),
        "day": day.strftime("%d/%m/%Y"),
        "rows": rows,
        "count": len(tasks),
        "overdue_count": sum(1 for r in rows if r["overdue"]),
        "list_url": _admin_url(None),
    }
    message = EmailMultiAlternatives(
        subject=DIGEST_SUBJECT.format(count=len(tasks)),
        body=render_to_string("backoffice/followups/digest_email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
    )
    message.attach_alternative(render_to_string("backoffice/followups/digest_email.html", context), "text/html")
    return message


def _admin_url(follow_up_id: int | None) -> str:
    """Absolute links into the admin, as the other emails make them ("" when the page does not exist)."""
    try:
        if follow_up_id is None:
            return absolute_url(reverse("admin:followup_followup_changelist"))
        return absolute_url(reverse("admin:followup_followup_change", args=[follow_up_id]))
    except NoReverseMatch:
        return ""


def send_digest(user: Any, day: dt.date, tasks: list[FollowUp], now: dt.datetime) -> int:
    """One person's digest for one day: 1 when it went out now, 0 when it was not this round's to send."""
    notification = _claim(user, day, tasks)
    if notification is None:
        return 0
    started = time.monotonic()
    error = ""
    try:
        digest_message(user, day, tasks, now).send()
    except Exception as exc:  # a refusing mail server: written down, tried again by a later round
        error = f"{type(exc).__name__}: {exc}"
    with transaction.atomic():
        notification = Notification.objects.select_for_update().get(pk=notification.pk)
        DeliveryAttempt.objects.create(
            notification=notification, error=error[:2000], duration_ms=int((time.monotonic() - started) * 1000)
        )
        notification.last_error = error[:2000]
        if error:
            notification.status = Notification.Status.FAILED
        else:
            notification.status, notification.sent_at = Notification.Status.SENT, timezone.now()
        notification.save()
    if error:
        log.warning("morning digest to %s failed: %s", user.email, error)
        return 0
    return 1
