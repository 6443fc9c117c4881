"""The message to the caller after the call: its text, who may get it, and the Celery task that sends it
through Twilio's Messaging API (SMS, or WhatsApp when the business has a WhatsApp sender).

Never twice for one call, whatever retries or duplicate deliveries: the call's one ``Notification`` (key
``sms:<call id>``) is claimed under its row lock before Twilio is asked, and its outcome is written after.
A run that finds a claim without an outcome does not send: either another run is sending right now (within
the lease) or a run died while sending, and then nobody knows whether Twilio took the message, so it stays
unsent rather than risk a second one. Only answers that prove nothing was sent (Twilio unreachable before
the request went out, or a 5xx/429 answer) are retried.

Every outcome (sent, refused, failed) is one event on the call's timeline (``CallEvent.Kind.SMS``); the
delivery reports that follow arrive at ``voice.message_webhooks.message_status``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

import phonenumbers
import requests
import urllib3
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from crm.business_hours import DAY_NAMES, zone_of
from crm.call_events import add_event
from crm.models import Business, Call, CallEvent
from crm.opening_hours import weekday_key
from crm.phones import DEFAULT_REGION, normalize_phone
from followup.models import DeliveryAttempt, FollowUp, Notification
from voice.job_task import JobTask
from voice.log_context import call_sid_var
from voice.public_url import callback_url
from voice.tasks import backoff
from voice.twilio_rest import TwilioRestException, TwilioUnreachable, send_message

log = logging.getLogger(__name__)

EVENT = "caller.message"
MAX_RETRIES = 6  # 1+2+4+8+16+32 s of Twilio trouble
SOFT_TIME_LIMIT_S = 30
TIME_LIMIT_S = 45
# A claim younger than this may belong to a run that is still sending (it cannot outlive its time limit).
SEND_LEASE = dt.timedelta(seconds=TIME_LIMIT_S + 15)
SOON = "בהקדם"  # {callback} when the caller asked for no particular time
SMS_TYPES = frozenset({phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})

# Hebrew reasons, shown to staff on the timeline.
NOT_A_NUMBER = "מספר המתקשר חסוי או לא תקין"
LANDLINE = "המספר אינו נייד ואינו יכול לקבל הודעות"
NO_SENDER = "לעסק אין מספר Twilio שממנו אפשר לשלוח"
INTERRUPTED = "ניסיון שליחה קודם נקטע באמצע; ייתכן שההודעה נשלחה, ולכן לא נשלחה שוב"


# -- the text ----------------------------------------------------------------------------------------------
def callback_phrase(when: dt.datetime | None, business: Business, now: dt.datetime | None = None) -> str:
    """When we will call back, in Hebrew, in the business's time zone: "היום ב-16:00", "מחר ב-10:00",
    "ביום שלישי ב-9:30", "ב-12/3 ב-10:00"; "בהקדם" when there is no time, or it has passed."""
    now = now or timezone.now()
    if when is None or when <= now:
        return SOON
    zone = zone_of(business)
    local, today = when.astimezone(zone), now.astimezone(zone).date()
    clock = f"{local.hour}:{local.minute:02d}"
    days = (local.date() - today).days
    if days == 0:
        day = "היום"
    elif days == 1:
        day = "מחר"
    elif days == 2:
        day = "מחרתיים"
    elif days < 7:
        name = DAY_NAMES[weekday_key(local.date())]  # "יום שלישי", "שבת"
        day = f"ב{name}"
    else:
        day = f"ב-{local.day}/{local.month}"
    return f"{day} ב-{clock}"


def message_text(template: str, business_name: str, callback: str) -> str:
    """The business's text with {business} and {callback} filled in. Plain replacement, so other braces
    in the owner's text are left as written rather than failing."""
    return template.replace("{business}", business_name).replace("{callback}", callback).strip()


def sms_refusal(number: str | None) -> str:
    """Why this number cannot get a text message ("" when it can): only mobile numbers (or numbers whose
    plan does not tell mobile from fixed) can; an Israeli landline (02/03/04/08/09), VoIP or a hidden caller
    cannot."""
    if not number:
        return NOT_A_NUMBER
    try:
        parsed = phonenumbers.parse(number, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return NOT_A_NUMBER
    if not phonenumbers.is_valid_number(parsed):
        return NOT_A_NUMBER
    if phonenumbers.number_type(parsed) not in SMS_TYPES:
        return LANDLINE
    return ""


def caller_number(call: Call) -> str | None:
    """The caller's number in E.164 (the lead's when Twilio's From is missing), None for hidden callers."""
    return normalize_phone(call.from_number) or (normalize_phone(call.lead.phone) if call.lead else None)


def sender_number(call: Call) -> str | None:
    """The business's Twilio number the caller dialled, else the business's first number."""
    number = normalize_phone(call.to_number)
    if number:
        return number
    first = call.business.phone_numbers.order_by("pk").values_list("number", flat=True).first()
    return normalize_phone(first)


@dataclass(frozen=True)
class Planned:
    """What would be sent for a call: channel, addresses (``whatsapp:``-prefixed for WhatsApp), the text,
    or why nothing can be."""

    channel: str
    to: str
    from_: str
    body: str
    refusal: str = ""


def plan_message(call: Call) -> Planned:
    business = call.business
    whatsapp = bool(business.whatsapp_sender.strip())
    channel = Notification.Channel.WHATSAPP if whatsapp else Notification.Channel.SMS
    to = caller_number(call) or ""
    sender = normalize_phone(business.whatsapp_sender) if whatsapp else sender_number(call)
    # The time this call's callback request became (its task), never a time left from an earlier call.
    task = FollowUp.objects.filter(call=call, source=FollowUp.Source.CALLBACK).first()
    when = task.due_at if task is not None else None
    body = message_text(business.followup_sms_text, business.name, callback_phrase(when, business))
    refusal = sms_refusal(to) or ("" if sender else NO_SENDER)
    prefix = "whatsapp:" if whatsapp else ""
    return Planned(channel, prefix + to if to else "", prefix + (sender or ""), body, refusal)


# -- the task ----------------------------------------------------------------------------------------------
@shared_task(
    base=JobTask,
    bind=True,
    acks_late=True,
    max_retries=MAX_RETRIES,
    soft_time_limit=SOFT_TIME_LIMIT_S,
    time_limit=TIME_LIMIT_S,
)
def send_caller_message(self: JobTask, call_id: int) -> str:
    """Send the business's message to the caller of ``call_id`` once. Returns what happened: "sent",
    "refused", "failed", "already <status>", "busy" (another run is sending), "off" or "no call"."""
    call = Call.objects.select_related("business", "lead").filter(pk=call_id).first()
    if call is None:
        return "no call"
    token = call_sid_var.set(call.call_sid or "-")
    try:
        return _send(self, call)
    finally:
        call_sid_var.reset(token)


def _send(task: JobTask, call: Call) -> str:
    if not call.business.followup_sms_text.strip():
        return "off"  # the owner turned the message off since the call
    plan = plan_message(call)
    notification = _notification_for(call, plan)
    outcome = _claim(notification.pk, plan)
    if outcome:
        return outcome
    started = time.monotonic()
    try:
        sent = send_message(to=plan.to, from_=plan.from_, body=plan.body, status_callback=_status_callback())
    except TwilioRestException as exc:
        reason = f"Twilio HTTP {exc.status}" + (f" ({exc.code})" if exc.code else "") + f": {exc.msg}"
        # 429: Twilio refused before taking the message, so it is tried again. A 5xx does not prove the
        # message was dropped (it may have gone out): never twice beats once more, so it is not resent.
        retry = exc.status == 429
        return _failed(task, notification.pk, call, plan, reason, started, status_code=exc.status, retry=retry)
    except TwilioUnreachable as exc:
        # Only a connection never made proves nothing was sent; a timeout or a reset after the request
        # went out may come after Twilio took the message: not sent again.
        never_connected = _never_connected(exc.__cause__)
        reason = f"Twilio unreachable: {exc}" if never_connected else f"{INTERRUPTED} ({exc})"
        return _failed(task, notification.pk, call, plan, reason, started, retry=never_connected)
    except SoftTimeLimitExceeded:
        return _failed(task, notification.pk, call, plan, INTERRUPTED, started, retry=False)
    _sent(notification.pk, call, plan, sent.sid, sent.status, started)
    log.info("%s to the caller sent: %s", plan.channel, sent.sid)
    return "sent"


def _never_connected(error: BaseException | None) -> bool:
    """The request never reached Twilio: the connection was refused, timed out while connecting, or the
    name did not resolve (urllib3's NewConnectionError, wrapped by requests)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    if not isinstance(error, requests.ConnectionError) or isinstance(error, requests.ReadTimeout):
        return False
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, urllib3.exceptions.NewConnectionError):
            return True
        cause = getattr(cause, "reason", None) or cause.__cause__ or cause.__context__
    return "NewConnectionError" in str(error) or "Name or service not known" in str(error)


def _status_callback() -> str:
    return callback_url(reverse("voice:message_status"))


def _notification_for(call: Call, plan: Planned) -> Notification:
    """The call's one message row, created on first sight (two runs at once: one row)."""
    key = f"sms:{call.pk}"
    defaults = {
        "business": call.business,
        "event": EVENT,
        "channel": plan.channel,
        "recipient": plan.to,
        "call": call,
        "lead": call.lead,
        "payload": {"body": plan.body, "from": plan.from_, "statuses": []},
    }
    try:
        with transaction.atomic():
            notification, _ = Notification.objects.get_or_create(key=key, defaults=defaults)
    except IntegrityError:
        notification = Notification.objects.get(key=key)
    return notification


def _claim(notification_id: int, plan: Planned) -> str:
    """Under the row lock: "" when this run may send now (one more attempt counted), else why not (and,
    for a refusal or an interrupted send, the outcome written once)."""
    with transaction.atomic():
        notification = Notification.objects.select_for_update().get(pk=notification_id)
        if notification.status != Notification.Status.PENDING:
            return f"already {notification.status}"
        if notification.unfinished_attempts() > 0:
            if notification.claimed_within(SEND_LEASE):
                log.info("another run is sending this message: nothing to do")
                return "busy"
            _finish(notification, plan, Notification.Status.FAILED, INTERRUPTED, event_status="failed")
            return "failed"
        if plan.refusal:
            log.info("no message to the caller: %s", plan.refusal)
            _finish(notification, plan, Notification.Status.FAILED, plan.refusal, event_status="refused")
            return "refused"
        notification.attempts += 1
        notification.last_error = ""
        notification.save(update_fields=["attempts", "last_error", "updated_at"])
    return ""


def _finish(notification: Notification, plan: Planned, status: str, error: str, *, event_status: str) -> None:
    notification.status, notification.last_error = status, error[:2000]
    notification.save(update_fields=["status", "last_error", "updated_at"])
    if notification.call is not None:
        add_event(
            notification.call,
            CallEvent.Kind.SMS,
            {"channel": plan.channel, "to": plan.to, "status": event_status, "reason": error[:500]},
        )


def _attempt(notification: Notification, started: float, *, status_code: int | None, error: str = "") -> None:
    DeliveryAttempt.objects.create(
        notification=notification,
        status_code=status_code,
        error=error[:2000],
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def _sent(notification_id: int, call: Call, plan: Planned, sid: str, provider_status: str, started: float) -> None:
    with transaction.atomic():
        notification = Notification.objects.select_for_update().get(pk=notification_id)
        _attempt(notification, started, status_code=201)
        notification.status, notification.sent_at = Notification.Status.SENT, timezone.now()
        notification.provider_id, notification.provider_status = sid, provider_status
        notification.last_status_code, notification.last_error = 201, ""
        payload = dict(notification.payload or {})
        payload["statuses"] = [provider_status] if provider_status else []
        notification.payload = payload
        notification.save()
        add_event(
            call,
            CallEvent.Kind.SMS,
            {"channel": plan.channel, "to": plan.to, "status": provider_status, "message_sid": sid, "text": plan.body},
        )


def _failed(
    task: JobTask,
    notification_id: int,
    call: Call,
    plan: Planned,
    reason: str,
    started: float,
    *,
    status_code: int | None = None,
    retry: bool,
) -> str:
    """One failed try, written down. Retried when nothing was sent and tries are left; else failed for good,
    on the timeline, and the job failed with the reason."""
    retry = retry and task.request.retries < task.max_retries
    with transaction.atomic():
        notification = Notification.objects.select_for_update().get(pk=notification_id)
        _attempt(notification, started, status_code=status_code, error=reason)
        notification.last_status_code, notification.last_error = status_code, reason[:2000]
        notification.save(update_fields=["last_status_code", "last_error", "updated_at"])
        if not retry:
            _finish(notification, plan, Notification.Status.FAILED, reason, event_status="failed")
    if retry:
        log.info("message not sent (%s): retry %s", reason, task.request.retries + 1)
        raise task.retry(countdown=backoff(task.request.retries))
    log.warning("message to the caller failed: %s", reason)
    task.give_up(reason)
    return "failed"
