"""Who is told about a call, a voicemail or a follow-up coming due, and on which channel.

Only decides and queues: each message is one ``Notification`` row (its ``key`` unique, so the same event
heard twice queues nothing twice) and one durable job (``voice.jobs``) that delivers it in a Celery worker
(followup/notify_tasks.py). Nothing here sends, so a failing mail server or webhook never touches the call's
own after-call work, and one recipient's trouble never holds up another's message.

Email, about a call (one per recipient per call: a new lead's call is one "ליד חדש" email, not two):
``Business.notification_emails`` (one address per line), plus each member of the business with an email
whose membership says "every call", or "new leads only" when the call made the lead. A voicemail goes to
the same people, as "הודעה קולית".

Webhook, when the business has a URL: ``call.completed`` (or ``voicemail.received``) and ``lead.created``
when the call made the lead, else ``lead.updated``. ``followup.due`` (``notify_follow_up_due``) emails the
task's assignee (the business's notification addresses when nobody with an email is assigned) and posts the
webhook. ``send_test_event`` posts a ``test`` event to the business's webhook, a new one on every call.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.db import IntegrityError, transaction

from crm.models import Business, Call, Lead, Membership, Recording
from followup import emails, notify_tasks, payloads
from followup.models import FollowUp, Notification
from voice import jobs

INBOUND = "inbound"
EMAIL = Notification.Channel.EMAIL
WEBHOOK = Notification.Channel.WEBHOOK


class NoWebhook(ValueError):
    """The business has no webhook URL to send to."""


# -- who -------------------------------------------------------------------------------------------------
def email_recipients(business: Business, *, new_lead: bool) -> list[str]:
    """The business's notification addresses, then members who asked for this kind of call; each address
    once (compared without case), in that order."""
    wanted = [Membership.Notify.EVERY_CALL] + ([Membership.Notify.NEW_LEADS] if new_lead else [])
    members = business.memberships.filter(notify__in=wanted, user__is_active=True).select_related("user").order_by("pk")
    found = emails.business_addresses(business)
    found += [address for m in members if (address := emails.clean_address(m.user.email or ""))]
    return _unique(found)


def has_audience(business: Business) -> bool:
    """Anyone at all hears about this business's calls: addresses, a webhook, or a member who asked."""
    if business.webhook_url or emails.business_addresses(business):
        return True
    return business.memberships.exclude(notify=Membership.Notify.NONE).exclude(user__email="").exists()


def follow_up_recipients(follow_up: FollowUp) -> list[str]:
    """The assignee; when nobody with an email is assigned, the business's notification addresses (so a due
    task is never told to nobody)."""
    assignee = follow_up.assignee
    still_here = (
        assignee is not None
        and assignee.is_active
        and Membership.objects.filter(user=assignee, business_id=follow_up.business_id).exists()
    )  # who left the business hears no more of its leads
    address = emails.clean_address(assignee.email or "") if still_here and assignee is not None else None
    return [address] if address else _unique(emails.business_addresses(follow_up.business))


def _unique(addresses: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for address in addresses:
        seen.setdefault(address.lower(), address)
    return list(seen.values())


# -- the one way a message is queued ---------------------------------------------------------------------
def notification_key(channel: str, event: str, subject: str, recipient: str) -> str:
    """The idempotency unit: channel, event, the object it is about, the recipient (hashed: an address or a
    URL can be long, and a webhook URL may hold a token)."""
    digest = hashlib.sha256(recipient.strip().lower().encode("utf-8")).hexdigest()[:24]
    return f"{channel}:{event}:{subject}:{digest}"


def _queue(
    *,
    business: Business,
    channel: str,
    event: str,
    subject: str,
    recipient: str,
    payload: dict[str, Any],
    call: Call | None = None,
    lead: Lead | None = None,
    follow_up: FollowUp | None = None,
    key: str | None = None,
) -> Notification | None:
    """Create the row and queue its delivery in one transaction (the job is published once it commits).
    None when that message was queued before."""
    key = key or notification_key(channel, event, subject, recipient)
    try:
        with transaction.atomic():
            notification, created = Notification.objects.get_or_create(
                key=key,
                defaults={
                    "business": business,
                    "event": event,
                    "channel": channel,
                    "recipient": recipient,
                    "call": call,
                    "lead": lead,
                    "follow_up": follow_up,
                    "payload": payload,
                },
            )
            if created:
                jobs.enqueue(notify_tasks.deliver_notification, (notification.pk,), call_id=call.pk if call else None)
    except IntegrityError:  # the same message queued at the same moment by another process
        return None
    return notification if created else None


def _queued(items: list[Notification | None]) -> list[Notification]:
    return [n for n in items if n is not None]


# -- the entry points ------------------------------------------------------------------------------------
def after_call(call: Call, *, lead_created: bool, **_: Any) -> list[Notification]:
    """A call's summary is written: queue the emails and webhooks about it. Returns what was queued now."""
    call = Call.objects.select_related("business", "lead").get(pk=call.pk)
    business, lead = call.business, call.lead
    new_lead = bool(lead_created and lead is not None)
    subject = f"call-{call.pk}"
    queued: list[Notification | None] = []
    if call.direction == INBOUND:  # a call staff made themselves (a call-back) is not news to them
        event = payloads.LEAD_CREATED if new_lead else payloads.CALL_COMPLETED
        for address in email_recipients(business, new_lead=new_lead):
            queued.append(
                _queue(
                    business=business,
                    channel=EMAIL,
                    event=event,
                    subject=subject,
                    recipient=address,
                    payload={"new_lead": new_lead},
                    call=call,
                    lead=lead,
                    # one email per recipient per call, whichever event it is told as
                    key=notification_key(EMAIL, "call", subject, address),
                )
            )
    if business.webhook_url:
        queued.append(_webhook(business, payloads.call_completed(call), subject, call=call, lead=lead))
        if lead is not None:
            queued.append(_lead_webhook(business, call, lead, created=new_lead, subject=subject))
    return _queued(queued)


def after_voicemail(recording: Recording, *, lead_created: bool, **_: Any) -> list[Notification]:
    """A voicemail is transcribed and summarised: queue the emails and webhooks about it."""
    recording = Recording.objects.select_related("call__business", "call__lead").get(pk=recording.pk)
    call = recording.call
    business, lead = call.business, call.lead
    new_lead = bool(lead_created and lead is not None)
    subject = f"recording-{recording.pk}"
    queued: list[Notification | None] = [
        _queue(
            business=business,
            channel=EMAIL,
            event=payloads.VOICEMAIL_RECEIVED,
            subject=subject,
            recipient=address,
            payload={"recording_id": recording.pk, "new_lead": new_lead},
            call=call,
            lead=lead,
        )
        for address in email_recipients(business, new_lead=new_lead)
    ]
    if business.webhook_url:
        queued.append(_webhook(business, payloads.voicemail_received(recording), subject, call=call, lead=lead))
        if lead is not None:
            queued.append(_lead_webhook(business, call, lead, created=new_lead, subject=subject))
    return _queued(queued)


def notify_follow_up_due(follow_up: FollowUp) -> list[Notification]:
    """A follow-up task comes due: its assignee is emailed and the webhook gets ``followup.due``. Once per
    task and due time (a task moved to a later time is reminded again then)."""
    follow_up = FollowUp.objects.select_related("business", "lead", "call", "assignee").get(pk=follow_up.pk)
    business = follow_up.business
    subject = f"followup-{follow_up.pk}@{int(follow_up.due_at.timestamp())}"
    common: dict[str, Any] = {
        "business": business,
        "call": follow_up.call,
        "lead": follow_up.lead,
        "follow_up": follow_up,
    }
    queued: list[Notification | None] = [
        _queue(channel=EMAIL, event=payloads.FOLLOWUP_DUE, subject=subject, recipient=address, payload={}, **common)
        for address in follow_up_recipients(follow_up)
    ]
    if business.webhook_url:
        queued.append(
            _queue(
                channel=WEBHOOK,
                event=payloads.FOLLOWUP_DUE,
                subject=subject,
                recipient=business.webhook_url,
                payload=payloads.followup_due(follow_up),
                **common,
            )
        )
    return _queued(queued)


def send_test_event(business: Business) -> Notification:
    """Queue a ``test`` event to the business's webhook (a new delivery every time). Raises ``NoWebhook``
    when the business has no webhook URL."""
    if not business.webhook_url:
        raise NoWebhook(f"business {business.pk} ({business.name}) has no webhook URL")
    notification = _queue(
        business=business,
        channel=WEBHOOK,
        event=payloads.TEST,
        subject=f"business-{business.pk}",
        recipient=business.webhook_url,
        payload=payloads.ping(business),
        key=f"webhook:test:business-{business.pk}:{uuid.uuid4().hex}",
    )
    assert notification is not None  # a fresh key is never taken
    return notification


def _webhook(business: Business, payload: dict[str, Any], subject: str, **rows: Any) -> Notification | None:
    return _queue(
        business=business,
        channel=WEBHOOK,
        event=payload["event"],
        subject=subject,
        recipient=business.webhook_url,
        payload=payload,
        **rows,
    )


def _lead_webhook(business: Business, call: Call, lead: Lead, *, created: bool, subject: str) -> Notification | None:
    # lead.created is about the lead (once, whether its call or its voicemail tells it first);
    # lead.updated is about what this call or voicemail added to it.
    payload = payloads.lead_changed(call, created=created)
    return _webhook(
        business, payload, f"lead-{lead.pk}" if created else f"lead-{lead.pk}/{subject}", call=call, lead=lead
    )
