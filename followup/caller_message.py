"""The message to the caller after a call: queue it (``after_call``), and keep Twilio's reports of its delivery.

``after_call`` only queues (a durable job, published once the transaction commits): the sending, the check
that the number can receive a text and the timeline note all happen in the worker (``followup.sms_tasks``),
so nothing here can slow or break the call's own after-call work.

Delivery reports arrive at the signed ``voice.message_webhooks.message_status``, which announces them; each
new status is kept on the call's message (``Notification.provider_status``, never moving backwards) and is one
event on the call's timeline. A status already seen (Twilio retries, replays) changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from crm.call_events import add_event
from crm.models import Call, CallEvent
from followup import sms_tasks  # imported here so every process that hears crm.signals knows the task
from followup.models import Notification
from voice import jobs
from voice.message_webhooks import message_status_received

log = logging.getLogger(__name__)

INBOUND = "inbound"  # calls the business made (a staff call-back) get no message
# How far along a message is: a later report never turns "delivered" back into "sent".
STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "partially_delivered": 4,
    "read": 5,
}
NOT_DELIVERED = frozenset({"failed", "undelivered", "canceled"})


def after_call(call: Call, **_: Any) -> bool:
    """Queue the message when the business has one and the caller's number is known. True when queued
    (False also when it was queued before: one job per call, whatever retries)."""
    if call.direction != INBOUND or not call.business.followup_sms_text.strip():
        return False
    if sms_tasks.caller_number(call) is None:  # a hidden caller: nobody to write to
        return False
    return jobs.enqueue(sms_tasks.send_caller_message, (call.pk,), call_id=call.pk)


def apply_message_status(message_sid: str, status: str, error_code: str = "") -> bool:
    """Keep one delivery report of a message we sent. True when it was new (stored, and on the timeline)."""
    with transaction.atomic():  # the row lock serialises concurrent duplicates
        notification = Notification.objects.select_for_update().filter(provider_id=message_sid).first()
        if notification is None:
            log.warning("status %s for a message we did not send: ignored", status)
            return False
        payload = dict(notification.payload or {})
        seen = list(payload.get("statuses") or [])
        if status in seen:
            log.info("duplicate message status %s: ignored", status)
            return False
        payload["statuses"] = [*seen, status]
        notification.payload = payload
        if STATUS_RANK.get(status, -1) > STATUS_RANK.get(notification.provider_status, -1):
            notification.provider_status = status
        if status in NOT_DELIVERED:
            notification.status = Notification.Status.FAILED
            notification.last_error = f"Twilio: {status}" + (f" (error {error_code})" if error_code else "")
        notification.save()
        if notification.call_id is not None:
            event: dict[str, Any] = {
                "channel": notification.channel,
                "to": notification.recipient,
                "status": status,
                "message_sid": message_sid,
            }
            if error_code:
                event["error_code"] = error_code
            add_event(Call.objects.get(pk=notification.call_id), CallEvent.Kind.SMS, event)
    return True


@receiver(message_status_received)
def _on_message_status(sender: Any, *, message_sid: str, status: str, error_code: str = "", **_: Any) -> None:
    apply_message_status(message_sid, status, error_code)
