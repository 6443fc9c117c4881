"""The app's Celery tasks, where ``autodiscover_tasks`` looks for them (each lives beside its work)."""

from followup.notify_tasks import deliver_notification
from followup.reminder_tasks import send_due_reminders, send_morning_digests
from followup.sms_tasks import send_caller_message
from followup.unheard import notify_unheard_call

__all__ = [
    "deliver_notification",
    "notify_unheard_call",
    "send_caller_message",
    "send_due_reminders",
    "send_morning_digests",
]
