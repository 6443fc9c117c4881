"""The email staff get about a call, a voicemail or a follow-up coming due: Hebrew, right to left, an HTML
part and the same in plain text.

Built when it is sent (followup/notify_tasks.py), from the rows as they are then, so the call-back task made
from the same call is named when it exists. The subject says what happened and who: "ליד חדש: דנה כהן,
050-123-4567", "שיחה מ-…", "הודעה קולית מ-…", "תזכורת: לחזור אל …". Phone numbers are in the local format
people dial, isolated from the Hebrew around them in the HTML part (``<bdi dir="ltr">``).

Sending is Django's own mail (``EMAIL_URL`` picks SMTP, console or file backends): an ESP library such as
django-anymail can be plugged in through ``EMAIL_BACKEND`` without touching this module.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.template.loader import render_to_string

from crm.business_hours import DAY_NAMES, zone_of
from crm.models import Business, Call, Lead, Recording
from crm.opening_hours import weekday_key
from crm.phones import display_phone, normalize_phone
from crm.recordings import playable_recording
from followup import payloads
from followup.models import FollowUp, Notification

log = logging.getLogger(__name__)

HIDDEN = "מספר חסוי"
NO_NAME = "מתקשר/ת"

SUBJECTS = {
    payloads.LEAD_CREATED: "ליד חדש: {who}",
    payloads.CALL_COMPLETED: "שיחה מ-{who}",
    payloads.VOICEMAIL_RECEIVED: "הודעה קולית מ-{who}",
    payloads.FOLLOWUP_DUE: "תזכורת: לחזור אל {who}",
}
HEADINGS = {
    payloads.LEAD_CREATED: "ליד חדש התקשר",
    payloads.CALL_COMPLETED: "שיחה חדשה",
    payloads.VOICEMAIL_RECEIVED: "הודעה קולית חדשה",
    payloads.FOLLOWUP_DUE: "הגיע הזמן לחזור ללקוח",
}
NEW_LEAD_VOICEMAIL = "ליד חדש השאיר הודעה קולית"
EVENTS = tuple(SUBJECTS)


# -- addresses ---------------------------------------------------------------------------------------------
def clean_address(text: str) -> str | None:
    """A usable address from one line the owner typed, or None."""
    address = text.strip()
    if not address:
        return None
    try:
        validate_email(address)
    except ValidationError:
        return None
    return address


def business_addresses(business: Business) -> list[str]:
    """``Business.notification_emails``: one address per line; a line that is not an address is skipped
    with a warning (the owner's typo must not stop the others)."""
    found = []
    for line in business.notification_emails.splitlines():
        if not line.strip():
            continue
        address = clean_address(line)
        if address is None:
            log.warning("business %s: %r in notification emails is not an email address; skipped", business.pk, line)
        else:
            found.append(address)
    return found


# -- what the email says -----------------------------------------------------------------------------------
def local_when(value: dt.datetime | None, business: Business) -> str:
    """ "יום שלישי 12/3/2025 בשעה 16:00" on the business's clock ("" for no time)."""
    if value is None:
        return ""
    local = value.astimezone(zone_of(business))
    return f"{DAY_NAMES[weekday_key(local.date())]} {local.day}/{local.month}/{local.year} בשעה {local:%H:%M}"


def local_phone(raw: str | None) -> str:
    number = normalize_phone(raw)
    return display_phone(number) if number else ""


def who(lead: Lead | None, phone: str) -> str:
    """ "דנה כהן, 050-123-4567"; the number alone without a name; "מספר חסוי" for a hidden caller."""
    name = lead.name.strip() if lead else ""
    if name and phone:
        return f"{name}, {phone}"
    return name or phone or HIDDEN


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


def _recording(notification: Notification) -> Recording | None:
    recording_id = (notification.payload or {}).get("recording_id")
    if recording_id:
        return Recording.objects.filter(pk=recording_id).first()
    return playable_recording(notification.call) if notification.call else None


def context_for(notification: Notification) -> dict[str, Any]:
    """Everything the templates show, as plain values."""
    event = notification.event
    business = notification.business
    call: Call | None = notification.call
    follow_up: FollowUp | None = notification.follow_up
    lead = notification.lead or (call.lead if call else None) or (follow_up.lead if follow_up else None)
    if follow_up is None and call is not None and event != payloads.FOLLOWUP_DUE:
        follow_up = payloads.call_follow_up(call)
    recording = _recording(notification)
    phone = local_phone(lead.phone if lead else None) or local_phone(call.from_number if call else None)
    if event == payloads.VOICEMAIL_RECEIVED and recording is not None:
        summary = recording.summary
    else:
        summary = call.summary if call else ""
    return {
        "event": event,
        "heading": NEW_LEAD_VOICEMAIL
        if event == payloads.VOICEMAIL_RECEIVED and (notification.payload or {}).get("new_lead")
        else HEADINGS[event],
        "business": business.name,
        "name": lead.name.strip() if lead else "",
        "phone": phone,
        "who": who(lead, phone),
        "lead_url": payloads.admin_url("admin:crm_lead_change", lead.pk) if lead else None,
        "call_url": payloads.admin_url("admin:crm_call_change", call.pk) if call else None,
        "call_when": local_when(call.started_at, business) if call else "",
        "summary": summary.strip(),
        "transcript": recording.transcript.strip() if recording and event == payloads.VOICEMAIL_RECEIVED else "",
        "interest": lead.interest.strip() if lead else "",
        "callback_time": lead.callback_time.strip() if lead else "",
        "callback_at": local_when(lead.callback_at, business) if lead else "",
        "follow_up": (
            {
                "due": local_when(follow_up.due_at, business),
                "assignee": (follow_up.assignee.get_full_name() or follow_up.assignee.get_username())
                if follow_up.assignee
                else "",
                "note": follow_up.note.strip(),
                "url": payloads.admin_url("admin:followup_followup_change", follow_up.pk),
            }
            if follow_up
            else None
        ),
        "recording_url": payloads.recording_url(recording) if recording and recording.file else None,
    }


def compose(notification: Notification) -> Email:
    """Subject, plain text and HTML of one notification email. Raises ValueError for an event that has no
    email (a webhook-only event such as "test")."""
    if notification.event not in SUBJECTS:
        raise ValueError(f"no email for event {notification.event!r}; emails exist for {', '.join(EVENTS)}")
    context = context_for(notification)
    template = "followup_due" if notification.event == payloads.FOLLOWUP_DUE else "call"
    pattern = SUBJECTS[notification.event]
    if context["who"] == HIDDEN:
        pattern = pattern.replace("מ-{who}", "מ{who}")  # "שיחה ממספר חסוי"
    subject = pattern.format(who=context["who"])
    return Email(
        subject=" ".join(subject.split()),  # one line, whatever a name held
        text=render_to_string(f"followup/email/{template}.txt", context).strip() + "\n",
        html=render_to_string(f"followup/email/{template}.html", context),
    )


def message(notification: Notification, email: Email) -> EmailMultiAlternatives:
    msg = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient],
        headers={"X-Agentlocator-Event": notification.event, "X-Agentlocator-Delivery": str(notification.pk)},
    )
    msg.attach_alternative(email.html, "text/html")
    return msg
