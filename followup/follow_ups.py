"""Follow-up tasks: a callback request or a voicemail becomes one task for one person, and staff add their own.

``after_call`` and ``after_voicemail`` run when the after-call digest is written (``followup.receivers``).
They write one row each and queue nothing: the reminder comes from beat (``followup.reminder_tasks``) when
the task is due. One task per call and source, whatever retries: the unique constraint decides, and
``get_or_create`` under it returns the first one. A task is one ``follow_up`` event on the call's timeline.

Who gets it: the lead's owner when they still work for the business; else the business's on-duty sales staff
in turn (owners in turn only when the business has no sales staff on duty). The turn is durable without a
model of its own: the next after whoever of them got the business's latest task.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.business_hours import zone_of
from crm.call_events import add_event
from crm.callback_times import open_from, resolve_callback_time
from crm.models import Business, Call, CallEvent, Lead, Membership, Recording
from followup import reminder_tasks  # noqa: F401  (every process that hears crm.signals knows the beat tasks)
from followup.models import FollowUp

log = logging.getLogger(__name__)

User = get_user_model()

CALLBACK_KEYS = ("callback_time", "callback_at")
SAVE_TOOL = "save_lead_details"


# -- who ------------------------------------------------------------------------------------------------------
def on_duty_pool(business: Business) -> list[Any]:
    """The people who take tasks in turn: active on-duty sales staff, else on-duty owners; in a fixed order."""
    members = Membership.objects.filter(business=business, on_duty=True, user__is_active=True).select_related("user")
    for role in (Membership.Role.STAFF, Membership.Role.OWNER):
        pool = [m.user for m in members.filter(role=role).order_by("user_id")]
        if pool:
            return pool
    return []


def choose_assignee(business: Business, lead: Lead) -> Any | None:
    """The lead's owner when they still work for the business, else the next in turn (None: nobody on duty).
    Call it inside the transaction that creates the task, with the business row locked (``create_follow_up``),
    so two tasks created at once do not both go to the same person."""
    if lead.owner_id is not None:
        owner = User.objects.filter(pk=lead.owner_id, is_active=True, memberships__business=business).first()
        if owner is not None:
            return owner
    pool = on_duty_pool(business)
    if not pool:
        return None
    ids = [user.pk for user in pool]
    latest = (
        FollowUp.objects.filter(business=business, assignee_id__in=ids)
        .order_by("-created_at", "-pk")
        .values_list("assignee_id", flat=True)
        .first()
    )
    if latest is None:
        return pool[0]
    return pool[(ids.index(latest) + 1) % len(pool)]


# -- create ---------------------------------------------------------------------------------------------------
def create_follow_up(
    *,
    lead: Lead,
    due_at: dt.datetime,
    source: str,
    call: Call | None = None,
    note: str = "",
    assignee: Any | None = None,
) -> tuple[FollowUp, bool]:
    """One task (a second for the same call and source returns the first: (task, False)). Assigned by the
    rules above unless ``assignee`` is given; on the call's timeline when it has one."""
    business = lead.business
    try:
        with transaction.atomic():
            # One turn at a time. ``no_key``: a plain FOR UPDATE would also block every new call and lead of
            # the business (their foreign keys take FOR KEY SHARE on this row) until the digest commits.
            Business.objects.select_for_update(no_key=True).filter(pk=business.pk).first()
            if call is not None:
                existing = FollowUp.objects.filter(call=call, source=source).first()
                if existing is not None:
                    return existing, False
            who = assignee if assignee is not None else choose_assignee(business, lead)
            follow_up = FollowUp.objects.create(
                business=business, lead=lead, call=call, due_at=due_at, assignee=who, source=source, note=note
            )
            if call is not None:
                add_event(call, CallEvent.Kind.FOLLOW_UP, event_payload(follow_up))
    except IntegrityError:  # the same task created at the same moment by another process
        if call is None:
            raise
        return FollowUp.objects.get(call=call, source=source), False
    log.info("follow-up %s (%s) for lead %s, due %s, to %s", follow_up.pk, source, lead.pk, due_at, who)
    return follow_up, True


def event_payload(follow_up: FollowUp, **extra: Any) -> dict[str, Any]:
    """What the call's timeline says about a task."""
    return {
        "follow_up_id": follow_up.pk,
        "source": follow_up.source,
        "state": follow_up.state,
        "due_at": follow_up.due_at.astimezone(zone_of(follow_up.business)).isoformat(),  # the business's clock
        "assignee": follow_up.assignee.get_username() if follow_up.assignee else "",
        **extra,
    }


# -- after a call ----------------------------------------------------------------------------------------------
def callback_requested_in(call: Call) -> bool:
    """The caller asked for a call back in this call: the agent saved a callback time, or the digest did."""
    for event in call.events.filter(kind__in=[CallEvent.Kind.TOOL_CALL, CallEvent.Kind.LEAD_UPDATED]):
        payload = event.payload or {}
        if event.kind == CallEvent.Kind.LEAD_UPDATED:
            if any(key in (payload.get("fields") or []) for key in CALLBACK_KEYS):
                return True
        elif payload.get("name") == SAVE_TOOL and payload.get("ok", True):
            said = {**(payload.get("arguments") or {}), **(payload.get("changed") or {})}
            if any(str(said.get(key) or "").strip() for key in CALLBACK_KEYS):
                return True
    return False


def callback_due(call: Call, lead: Lead) -> dt.datetime:
    """When to call back: the lead's time when it was set for this request (not before the call), else the
    words resolved against the call's start, else as soon as the business is open."""
    said_at = call.started_at
    if lead.callback_at is not None and lead.callback_at >= said_at:
        return lead.callback_at
    resolved = resolve_callback_time(lead.callback_time, call.business, said_at)
    return resolved or open_from(call.business, timezone.now())


def callback_note(lead: Lead) -> str:
    note = f"לחזור ללקוח/ה. ביקש/ה: „{lead.callback_time}”" if lead.callback_time else "לחזור ללקוח/ה."
    return f"{note}\n{lead.interest}" if lead.interest else note


def after_call(call: Call, **_: Any) -> FollowUp | None:
    """A callback request made in this call becomes one task (the first, whatever retries). Never raises: the
    notifications that follow must not be lost to a failure here."""
    try:
        call = Call.objects.select_related("business", "lead").get(pk=call.pk)
        lead = call.lead
        if lead is None or not callback_requested_in(call):
            return None
        follow_up, _created = create_follow_up(
            lead=lead,
            call=call,
            source=FollowUp.Source.CALLBACK,
            due_at=callback_due(call, lead),
            note=callback_note(lead),
        )
        return follow_up
    except Exception:
        log.exception("no follow-up for call %s", call.pk)
        return None


def after_voicemail(recording: Recording, **_: Any) -> FollowUp | None:
    """A voicemail becomes one task, due now (or when the business next opens). Never raises."""
    try:
        recording = Recording.objects.select_related("call__business", "call__lead").get(pk=recording.pk)
        call, lead = recording.call, recording.call.lead
        if lead is None:  # a hidden number: nobody to call back
            return None
        note = "לחזור ללקוח/ה שהשאיר/ה הודעה קולית."
        if recording.summary:
            note += f"\n{recording.summary}"
        follow_up, _created = create_follow_up(
            lead=lead,
            call=call,
            source=FollowUp.Source.VOICEMAIL,
            due_at=open_from(call.business, timezone.now()),
            note=note,
        )
        return follow_up
    except Exception:
        log.exception("no follow-up for voicemail %s", recording.pk)
        return None


# -- staff close them ------------------------------------------------------------------------------------------
class NotOpen(Exception):
    """The task is done or missed already: nothing changed."""


def mark_done(follow_up_id: int, outcome: str, by: Any) -> FollowUp:
    """Close a task with what came of it, under its row lock (a double click closes it once). ``ValueError``
    for an empty outcome, ``NotOpen`` when it was closed already; either way nothing changes."""
    outcome = (outcome or "").strip()
    if not outcome:
        raise ValueError("outcome")
    with transaction.atomic():
        follow_up = (
            FollowUp.objects.select_for_update(of=("self",)).select_related("call", "assignee").get(pk=follow_up_id)
        )
        if follow_up.state != FollowUp.State.OPEN:
            raise NotOpen(follow_up.get_state_display())
        follow_up.state, follow_up.outcome, follow_up.done_at = FollowUp.State.DONE, outcome, timezone.now()
        follow_up.save(update_fields=["state", "outcome", "done_at"])
        if follow_up.call is not None:
            by_name = by.get_username() if by is not None else ""
            add_event(follow_up.call, CallEvent.Kind.FOLLOW_UP, event_payload(follow_up, outcome=outcome, by=by_name))
    return follow_up
