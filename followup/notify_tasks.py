"""The Celery task that delivers one notification (an email or a webhook POST), whatever retries happen.

One ``Notification`` row is one message to one recipient; its job (``voice.jobs``, keyed by the row's id) is
queued once by followup/notify.py. Each run:

1. claims an attempt under the row's lock: nothing to do when the row is already sent or failed; "busy"
   when another run claimed an attempt within the lease and has not written its outcome (it may still be
   sending: this run comes back after the lease). An attempt claimed longer ago than the lease belongs to a
   run that died mid-send: it is written down as interrupted and the message is tried again (at least
   once: a webhook receiver deduplicates on ``X-Agentlocator-Delivery``, the same on every try);
2. sends, outside any transaction (a slow receiver holds no lock);
3. writes the outcome under the lock: one ``DeliveryAttempt`` (status code, error, duration), and the row
   sent, failed for good, or left pending for a retry with capped exponential back-off.

A webhook is tried up to ``settings.WEBHOOK_MAX_ATTEMPTS`` times, an email up to ``EMAIL_MAX_ATTEMPTS``; a
4xx answer other than 408/429 (or an SMTP 5xx refusal) is final at once. Failures end in the row and its
attempts (and, for a call, one "staff notified" event on its timeline), never in the call's own work.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crm.call_events import add_event
from crm.models import CallEvent
from followup import emails, payloads, webhooks
from followup.models import DeliveryAttempt, Notification
from voice.job_task import JobTask

log = logging.getLogger(__name__)

EMAIL_MAX_ATTEMPTS = 5
BACKOFF_BASE_S = 5  # 5, 10, 20, 40 s, ... between tries
BACKOFF_CAP_S = 1800
SOFT_TIME_LIMIT_S = 60
TIME_LIMIT_S = 90
# An attempt claimed more recently than this may belong to a run still sending (none outlives its limit).
LEASE = dt.timedelta(seconds=TIME_LIMIT_S + 15)
ERROR_LIMIT = 2000

BUSY = "busy"
INTERRUPTED = "the run sending this attempt stopped before it wrote the outcome"
CHANNELS = (Notification.Channel.EMAIL, Notification.Channel.WEBHOOK)


def retry_delay(failed_attempts: int) -> int:
    """Seconds before the next try after ``failed_attempts`` failures (1, 2, ...): 5, 10, 20, ... capped."""
    return int(min(BACKOFF_BASE_S * 2 ** max(failed_attempts - 1, 0), BACKOFF_CAP_S))


def max_attempts(notification: Notification) -> int:
    if notification.channel == Notification.Channel.WEBHOOK:
        return int(settings.WEBHOOK_MAX_ATTEMPTS)
    return EMAIL_MAX_ATTEMPTS


@dataclass(frozen=True)
class Result:
    """One try: delivered, or the error, and whether another try could help."""

    delivered: bool
    status_code: int | None = None
    error: str = ""
    final: bool = False
    retry_after_s: float | None = None


# -- the task ----------------------------------------------------------------------------------------------
@shared_task(
    base=JobTask,
    bind=True,
    acks_late=True,
    max_retries=None,  # the row counts the tries (max_attempts); Celery's own count also includes "busy" waits
    soft_time_limit=SOFT_TIME_LIMIT_S,
    time_limit=TIME_LIMIT_S,
)
def deliver_notification(self: JobTask, notification_id: int) -> str:
    """Deliver the notification once. Returns "sent", "failed", "already <status>", "busy" or why not."""
    claimed = _claim(notification_id)
    if claimed == BUSY:
        raise self.retry(countdown=LEASE.total_seconds())
    if isinstance(claimed, str):
        return claimed
    started = time.monotonic()
    try:
        result = _send(claimed)
    except SoftTimeLimitExceeded:
        result = Result(False, error=f"gave up after the task's {SOFT_TIME_LIMIT_S} s limit")
    return _record(self, notification_id, result, started)


def _claim(notification_id: int) -> Notification | str:
    """Under the row lock: the notification with one more attempt counted, or why this run does nothing."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("business", "call", "lead", "follow_up")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None:
            return "no such notification"
        if notification.status != Notification.Status.PENDING:
            return f"already {notification.status}"
        if notification.channel not in CHANNELS:
            return f"not delivered here: {notification.channel}"
        unfinished = notification.unfinished_attempts()
        if unfinished > 0:
            if notification.claimed_within(LEASE):
                log.info("notification %s is being sent by another run", notification.pk)
                return BUSY
            for _ in range(unfinished):
                DeliveryAttempt.objects.create(notification=notification, error=INTERRUPTED)
            if notification.attempts >= max_attempts(notification):
                _finish(notification, Notification.Status.FAILED, None, INTERRUPTED)
                return "failed"
        notification.attempts += 1
        notification.save(update_fields=["attempts", "updated_at"])
    return notification


def _send(notification: Notification) -> Result:
    try:
        if notification.channel == Notification.Channel.EMAIL:
            return _send_email(notification)
        return _post_webhook(notification)
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # a bug or a surprise: it ends in the row, retried, never in the call's work
        log.exception("notification %s: unexpected error", notification.pk)
        return Result(False, error=f"{type(exc).__name__}: {exc}")


def _send_email(notification: Notification) -> Result:
    try:
        email = emails.compose(notification)
    except ValueError as exc:
        return Result(False, error=str(exc), final=True)
    try:
        emails.message(notification, email).send()
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        code = codes[0] if codes else None
        return Result(
            False, status_code=code, error=f"recipient refused: {exc.recipients}", final=bool(code and code >= 500)
        )
    except smtplib.SMTPResponseException as exc:
        reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        final = exc.smtp_code >= 500 and not isinstance(exc, smtplib.SMTPAuthenticationError)
        return Result(False, status_code=exc.smtp_code, error=f"SMTP {exc.smtp_code}: {reply}", final=final)
    except OSError as exc:  # refused, unreachable, timed out, TLS (smtplib's errors are OSErrors too)
        return Result(False, error=f"mail server: {type(exc).__name__}: {exc}")
    payload = dict(notification.payload or {})
    payload["subject"] = email.subject
    Notification.objects.filter(pk=notification.pk).update(payload=payload)
    return Result(True)


def _post_webhook(notification: Notification) -> Result:
    answer = webhooks.post(
        notification.recipient,
        event=notification.event,
        delivery_id=notification.pk,
        body=payloads.body_bytes(notification),
        secret=notification.business.webhook_secret,
    )
    return Result(answer.delivered, answer.status_code, answer.error, answer.final, answer.retry_after_s)


def _record(task: JobTask, notification_id: int, result: Result, started: float) -> str:
    """The try written down; then retried, or finished (sent, or failed for good)."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",)).select_related("call").get(pk=notification_id)
        )
        DeliveryAttempt.objects.create(
            notification=notification,
            status_code=result.status_code,
            error=result.error[:ERROR_LIMIT],
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        if result.delivered:
            _finish(notification, Notification.Status.SENT, result.status_code, "")
            return "sent"
        exhausted = notification.attempts >= max_attempts(notification)
        if result.final or exhausted:
            _finish(notification, Notification.Status.FAILED, result.status_code, result.error)
        else:
            notification.last_status_code, notification.last_error = result.status_code, result.error[:ERROR_LIMIT]
            notification.save(update_fields=["last_status_code", "last_error", "updated_at"])
    if not (result.final or exhausted):
        delay = retry_delay(notification.attempts)
        if result.retry_after_s is not None:
            delay = int(min(max(delay, result.retry_after_s), BACKOFF_CAP_S))
        log.info(
            "notification %s not delivered (%s): try %s in %s s",
            notification_id,
            result.error,
            notification.attempts + 1,
            delay,
        )
        raise task.retry(countdown=delay)
    log.warning("notification %s failed for good: %s", notification_id, result.error)
    task.give_up(result.error or "not delivered")
    return "failed"


def _finish(notification: Notification, status: str, status_code: int | None, error: str) -> None:
    notification.status = status
    notification.last_status_code, notification.last_error = status_code, error[:ERROR_LIMIT]
    if status == Notification.Status.SENT:
        notification.sent_at = timezone.now()
    notification.save()
    if notification.call is not None:
        add_event(notification.call, CallEvent.Kind.NOTIFIED, timeline_payload(notification))


def timeline_payload(notification: Notification) -> dict[str, object]:
    """What the call's timeline says: which event went where, and how it ended. A webhook shows its host
    only (its full URL may carry a token)."""
    to = notification.recipient
    if notification.channel == Notification.Channel.WEBHOOK:
        to = urlsplit(to).hostname or "webhook"
    payload: dict[str, object] = {
        "event": notification.event,
        "channel": notification.channel,
        "to": to,
        "status": notification.status,
        "notification_id": notification.pk,
    }
    if notification.last_error:
        payload["reason"] = notification.last_error[:500]
    return payload
