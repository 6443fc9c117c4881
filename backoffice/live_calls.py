"""Calls in progress, as staff see them on the live page, and what staff may do to one: end it, or send
the caller to voicemail. Reads are scoped like every other read (crm.selectors); the two actions go through
Twilio's REST API (voice.twilio_rest) and are written to the call's timeline as "hangup" events, the same
shape the agent uses, so the <Connect action> decides consistently if Twilio still calls it.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.db.models import QuerySet

from crm import selectors
from crm.call_events import add_event
from crm.models import Call, CallEvent

User = AbstractUser | AnonymousUser

LIVE_STATUSES = (Call.Status.RINGING, Call.Status.IN_PROGRESS)
ENDED_BY_STAFF = "ended_by_staff"
VOICEMAIL_BY_STAFF = "moved_to_voicemail_by_staff"


def live_calls_for(user: User) -> QuerySet[Call]:
    """The user's calls that are ringing or talking right now, newest first."""
    return (
        selectors.calls_for(user)
        .filter(status__in=LIVE_STATUSES, ended_at__isnull=True)
        .select_related("lead", "business")
        .order_by("-started_at")
    )


def is_live(call: Call) -> bool:
    return call.status in LIVE_STATUSES and call.ended_at is None


def may_follow_calls(user: User) -> bool:
    """Active staff allowed to read calls (the admin's own rule); which calls is then scoped by business."""
    return bool(user.is_authenticated and user.is_active and user.is_staff and user.has_perm("crm.view_call"))


def may_watch(user: User, call_sid: str) -> bool:
    """May this user follow this call's live updates? (Staff of its business, or a superuser.)"""
    return may_follow_calls(user) and selectors.calls_for(user).filter(call_sid=call_sid).exists()


def record_staff_action(call: Call, user: User, *, voicemail: bool) -> CallEvent:
    """The timeline row of a staff action, stored and pushed to the live page by the one event writer (at
    "now" on the call's timeline): a "hangup" event saying who did it and where the caller went."""
    return add_event(
        call,
        CallEvent.Kind.HANGUP,
        {
            "reason": VOICEMAIL_BY_STAFF if voicemail else ENDED_BY_STAFF,
            "voicemail": voicemail,
            "by": user.get_username(),
        },
    )
