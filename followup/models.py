"""Follow-up tasks of sales staff, and every message sent about a call (the unit of idempotency)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Business, Call, Lead


class FollowUp(models.Model):
    """Something a person must do for a lead by a time: call back as the caller asked, answer a
    voicemail, or anything staff added by hand."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        MISSED = "missed", _("Missed")

    class Source(models.TextChoices):
        CALLBACK = "callback", _("Callback request")
        VOICEMAIL = "voicemail", _("Voicemail")
        MANUAL = "manual", _("Added by hand")

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="follow_ups")
    lead = models.ForeignKey(Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="follow_ups")
    call = models.ForeignKey(
        Call, verbose_name=_("call"), on_delete=models.SET_NULL, null=True, blank=True, related_name="follow_ups"
    )
    due_at = models.DateTimeField(_("due"))
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="follow_ups",
    )
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.OPEN)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.MANUAL)
    note = models.TextField(_("what to do"), blank=True)
    outcome = models.TextField(_("outcome"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("reminder sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["due_at"]
        constraints = [
            # One task per call and source, whatever retries: a callback request or a voicemail makes one.
            models.UniqueConstraint(
                fields=["call", "source"], condition=models.Q(call__isnull=False), name="one_follow_up_per_call_source"
            )
        ]
        indexes = [models.Index(fields=["state", "due_at"]), models.Index(fields=["assignee", "state"])]

    def __str__(self) -> str:
        return f"{self.lead} @ {self.due_at:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    """One message about one event to one recipient on one channel. Its ``key`` is unique: a retried job,
    a replayed callback or a second run makes no second message."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        WEBHOOK = "webhook", _("Webhook")
        SMS = "sms", _("SMS")
        WHATSAPP = "whatsapp", _("WhatsApp")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField(_("event"), max_length=40)  # call.completed, lead.created, followup.due, ...
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    recipient = models.CharField(_("recipient"), max_length=500)
    key = models.CharField(_("key"), max_length=200, unique=True)
    call = models.ForeignKey(Call, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications")
    lead = models.ForeignKey(Lead, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications")
    follow_up = models.ForeignKey(
        FollowUp, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_status_code = models.PositiveIntegerField(_("last status code"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    provider_id = models.CharField(_("provider id"), max_length=64, blank=True, db_index=True)  # MessageSid
    provider_status = models.CharField(_("provider status"), max_length=20, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event} → {self.recipient} ({self.get_channel_display()})"

    # A run claims an attempt (``attempts`` + 1, under the row lock) before it sends, and writes a
    # ``DeliveryAttempt`` with the outcome after: one place for what a claim without an outcome means.
    def unfinished_attempts(self) -> int:
        """Attempts claimed whose outcome was never written: a run still sending, or one that died."""
        return self.attempts - self.delivery_attempts.count()

    def claimed_within(self, lease: dt.timedelta) -> bool:
        """The latest claim is younger than ``lease``: its run may still be sending (a lease outlives the
        task's time limit, so a run past it is dead)."""
        return self.updated_at > timezone.now() - lease


class DeliveryAttempt(models.Model):
    """One try at delivering a notification, with what the other side answered."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="delivery_attempts")
    at = models.DateTimeField(_("at"), auto_now_add=True)
    status_code = models.PositiveIntegerField(_("status code"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["at"]

    def __str__(self) -> str:
        return f"{self.notification_id} @ {self.at:%Y-%m-%d %H:%M:%S}: {self.status_code or self.error[:40]}"
