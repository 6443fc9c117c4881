"""A lead's story: what happened with a lead and what to do next, as one feed on its admin page.

``lead_story(lead, user)`` gathers what is already recorded elsewhere and puts it in one order:

- calls and voicemails (``crm.Call``, with the recording to play and the lead changes the call made),
- notes: the agent's stamped lines in ``Lead.notes`` ("[2026-12-04 10:30] …", ``crm.lead_facts``) and the
  lines staff add on the form,
- status and owner changes made in the admin (the form, the bulk status actions, the owner assignments),
- follow-up tasks opened, done or missed (``followup.FollowUp``),
- and the lead's creation.

Status and owner changes made by hand were recorded nowhere with their old and new values; Django's admin
history (``LogEntry``) only named the changed fields. ``change_details`` below is the one place that
writes them into the admin's own history entry (the admin calls it for the form and for its bulk actions),
and ``_admin_changes`` the one place that reads them back: no new table.

Entries are newest first, as CRMs show them: staff open a lead to call it, and the last thing that
happened is what they need before dialling; the next action stands apart above the feed. Every entry is one
Hebrew sentence in the tone of the call timeline (``timeline_sentences``); phones go through
``phone_display``; times are local. Calls and tasks come only from businesses the user works for.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from backoffice.admin_timeline import recording_audio_url
from backoffice.phone_display import phone_html
from backoffice.timeline_sentences import (
    Payload,
    clock,
    describe_event,
    lead_status_label,
    number,
    quoted,
)
from crm import selectors
from crm.models import Call, CallEvent, Lead
from crm.recordings import playable_recording
from followup.follow_ups import event_payload
from followup.models import FollowUp

# The agent's note line (crm.lead_facts.apply_lead_facts): "[YYYY-MM-DD HH:MM] text", local time.
STAMPED_NOTE = re.compile(r"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2})\]\s*(.+)$")
# The details key added to the admin's change message (LogEntry), beside Django's own "fields".
DETAILS = "lead_story"


@dataclass(frozen=True)
class Entry:
    """One line of the feed. ``kind`` is for styling and tests: created, call, voicemail, note, status,
    owner, task_opened, task_done, task_missed."""

    kind: str
    at: dt.datetime
    title: str
    sentence: SafeString | str
    summary: str = ""
    url: str = ""  # the call's page
    audio_url: str = ""  # the recording to play; none, no player

    @property
    def local_time(self) -> str:
        return timezone.localtime(self.at).strftime("%d/%m/%Y %H:%M")


@dataclass(frozen=True)
class NextAction:
    """What to do next for the lead, and by when; ``overdue`` when that time has passed."""

    at: dt.datetime
    title: str
    sentence: SafeString | str
    overdue: bool
    url: str = ""  # the task's page

    @property
    def local_time(self) -> str:
        return timezone.localtime(self.at).strftime("%d/%m/%Y %H:%M")


@dataclass
class Story:
    next_action: NextAction | None
    entries: list[Entry] = field(default_factory=list)


def lead_story(lead: Lead, user: selectors.User, *, now: dt.datetime | None = None) -> Story:
    """The lead's next action and its feed, newest first, as ``user`` may see them."""
    if not selectors.leads_for(user).filter(pk=lead.pk).exists():
        raise PermissionDenied  # the admin never gets here with another business's lead; nor may anyone else
    now = now or timezone.now()
    businesses = selectors.businesses_for(user)
    calls = list(selectors.calls_for(user).filter(lead=lead).prefetch_related("recordings"))
    tasks = list(
        FollowUp.objects.filter(lead=lead, business__in=businesses).select_related("assignee", "business", "lead")
    )
    changed_by_call = _lead_changes_by_call(user, calls)
    entries = [
        _created(lead),
        *(_call_entry(call, changed_by_call.get(call.pk, [])) for call in calls),
        *_task_entries(tasks),
        *_agent_notes(lead.notes),
        *_admin_changes(lead),
    ]
    entries.sort(key=lambda entry: entry.at, reverse=True)  # stable: same-moment entries keep their order
    return Story(next_action=next_action(lead, tasks, now), entries=entries)


# -- the next action ---------------------------------------------------------------------------------------
def next_action(lead: Lead, tasks: Iterable[FollowUp], now: dt.datetime) -> NextAction | None:
    """The earliest open task; without one, the earlier of the caller's callback time and the follow-up
    date set on the lead; none when nothing is planned."""
    open_tasks = sorted((t for t in tasks if t.state == FollowUp.State.OPEN), key=lambda t: t.due_at)
    if open_tasks:
        task = open_tasks[0]
        sentence = format_html("{} עד {}", _task_what(task), number(_local(task.due_at)))
        if task.assignee is not None:
            sentence = format_html("{}, באחריות {}", sentence, str(task.assignee))
        url = reverse("admin:followup_followup_change", args=[task.pk])
        return NextAction(task.due_at, "משימת מעקב", sentence, task.due_at < now, url)
    planned: list[NextAction] = []
    if lead.callback_at is not None:
        sentence = format_html("לחזור למתקשר ב-{}, כפי שביקש", number(_local(lead.callback_at)))
        if lead.callback_time:
            sentence = format_html("{}: {}", sentence, quoted(lead.callback_time))
        planned.append(NextAction(lead.callback_at, "חזרה למתקשר", sentence, lead.callback_at < now))
    if lead.next_follow_up is not None:
        day = timezone.make_aware(dt.datetime.combine(lead.next_follow_up, dt.time.min))
        sentence = format_html("מעקב מתוכנן ל-{}", number(lead.next_follow_up.strftime("%d/%m/%Y")))
        overdue = lead.next_follow_up < timezone.localdate(now)
        planned.append(NextAction(day, "מעקב", sentence, overdue))
    return min(planned, key=lambda action: action.at) if planned else None


# -- the feed ----------------------------------------------------------------------------------------------
def _created(lead: Lead) -> Entry:
    return Entry("created", lead.created_at, "ליד חדש", format_html("הליד נוצר ({})", phone_html(lead.phone)))


OUTCOME_SENTENCES: dict[str, str] = {
    Call.Outcome.CONVERSATION: "המתקשר דיבר עם הנציג הממוחשב",
    Call.Outcome.VOICEMAIL: "המתקשר השאיר הודעה קולית",
    Call.Outcome.NO_MESSAGE: "המתקשר ניתק בלי להשאיר הודעה",
    Call.Outcome.FAILED: "השיחה נכשלה",
}


def _call_entry(call: Call, lead_changes: list[str]) -> Entry:
    """A call in one sentence (who, how long, how it ended), its summary, its player and its page."""
    if call.direction.startswith("outbound"):
        sentence = format_html("שיחה יוצאת אל {}", phone_html(call.to_number or call.from_number))
    else:
        sentence = format_html("שיחה נכנסת מ-{}", phone_html(call.from_number))
    if call.duration_seconds:
        sentence = format_html("{}, {} דקות", sentence, clock(call.duration_seconds * 1000))
    outcome = OUTCOME_SENTENCES.get(call.outcome, "")
    if outcome:
        sentence = format_html("{}: {}", sentence, outcome)
    if lead_changes:
        described = describe_event(CallEvent.Kind.LEAD_UPDATED, {"fields": lead_changes})
        sentence = format_html("{}. {}", sentence, described.sentence)
    recording = playable_recording(call)
    voicemail = call.outcome == Call.Outcome.VOICEMAIL
    summary = call.summary or (recording.summary if recording is not None else "")
    return Entry(
        kind="voicemail" if voicemail else "call",
        at=call.started_at,
        title="הודעה קולית" if voicemail else "שיחה",
        sentence=sentence,
        summary=summary,
        url=reverse("admin:crm_call_change", args=[call.pk]),
        audio_url=recording_audio_url(recording.pk) if recording is not None else "",
    )


def _lead_changes_by_call(user: selectors.User, calls: list[Call]) -> dict[int, list[str]]:
    """The lead fields each call changed (its digest's LEAD_UPDATED events), in order, once each."""
    changed: dict[int, list[str]] = {}
    events = selectors.events_for(user).filter(call__in=calls, kind=CallEvent.Kind.LEAD_UPDATED)
    for event in events.order_by("created_at", "id"):
        fields = changed.setdefault(event.call_id, [])
        fields.extend(str(name) for name in event.payload.get("fields") or [] if str(name) not in fields)
    return changed


def _task_entries(tasks: Iterable[FollowUp]) -> list[Entry]:
    """Each task once when opened and once when it ended (done, or missed at its due time)."""
    entries = []
    for task in tasks:
        opened = _follow_up_sentence(task, state="open")
        if task.note:
            opened = format_html("{}: {}", opened, quoted(task.note))
        entries.append(Entry("task_opened", task.created_at, "משימת מעקב", opened))
        if task.state == FollowUp.State.DONE and task.done_at is not None:
            done = _follow_up_sentence(task, state="done", outcome=task.outcome)
            entries.append(Entry("task_done", task.done_at, "משימה בוצעה", done))
        elif task.state == FollowUp.State.MISSED:
            entries.append(Entry("task_missed", task.due_at, "משימה הוחמצה", _follow_up_sentence(task, state="missed")))
    return entries


def _follow_up_sentence(task: FollowUp, **payload: Any) -> SafeString | str:
    """The call timeline's own sentence for a task (one wording for a task, wherever it shows)."""
    return describe_event(CallEvent.Kind.FOLLOW_UP, event_payload(task, **payload)).sentence


def _task_what(task: FollowUp) -> SafeString | str:
    if task.note:
        return quoted(task.note)
    what: dict[str, str] = {
        FollowUp.Source.CALLBACK: "לחזור למתקשר, כפי שביקש",
        FollowUp.Source.VOICEMAIL: "לחזור למתקשר שהשאיר הודעה קולית",
    }
    return what.get(task.source, "משימת מעקב")


def _agent_notes(notes: str) -> list[Entry]:
    """The stamped note lines in the lead's notes, at their time; other lines are the form's to show."""
    entries = []
    for line in notes.splitlines():
        match = STAMPED_NOTE.match(line.strip())
        if match is None:
            continue
        try:
            at = timezone.make_aware(dt.datetime.strptime(match[1], "%Y-%m-%d %H:%M"))
        except ValueError:
            continue
        entries.append(Entry("note", at, "הערה", format_html("נרשמה הערה: {}", quoted(match[2]))))
    return entries


# -- status and owner changes, kept in the admin's history ----------------------------------------------------
def change_details(before: Lead | None, after: Lead, *, old_notes: str = "") -> dict[str, Any]:
    """What the story needs to know of a change made in the admin, to add to its LogEntry message: the old
    and new status and owner (owners by name, so the story outlives a removed user), and a note added at
    the end of the notes. ``before`` is the lead as it was (``None``: only the notes' old text is known)."""
    details: dict[str, Any] = {}
    if before is not None and before.status != after.status:
        details["status"] = [before.status, after.status]
    if before is not None and before.owner_id != after.owner_id:
        details["owner"] = [_name(before.owner), _name(after.owner)]
    added = after.notes[len(old_notes) :].strip() if after.notes.startswith(old_notes) else ""
    if added and after.notes != old_notes:
        details["note"] = added
    return details


def with_details(message: list[dict[str, Any]] | str, details: dict[str, Any]) -> list[dict[str, Any]]:
    """Django's change message (a list of {"changed": {"fields": …}}) with the story's details beside it;
    Django ignores the extra key when it shows the history."""
    entries = [dict(part) for part in message] if isinstance(message, list) else []
    if details:
        entries.append({DETAILS: details})
    return entries


def _name(user: Any) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def _admin_changes(lead: Lead) -> list[Entry]:
    entries = []
    logs = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Lead), object_id=str(lead.pk), action_flag=CHANGE
    ).select_related("user")
    for log in logs.order_by("action_time", "id"):
        for details in _details_of(log.change_message):
            entries.extend(_detail_entries(log.action_time, _name(log.user), details))
    return entries


def _details_of(change_message: str) -> list[dict[str, Any]]:
    try:
        parts = json.loads(change_message or "[]")
    except json.JSONDecodeError:
        return []
    if not isinstance(parts, list):
        return []
    return [part[DETAILS] for part in parts if isinstance(part, dict) and isinstance(part.get(DETAILS), dict)]


def _detail_entries(at: dt.datetime, by: str, details: Payload) -> list[Entry]:
    entries = []
    if isinstance(status := details.get("status"), list) and len(status) == 2:
        old, new = (lead_status_label(value) for value in status)
        sentence = format_html("הסטטוס שונה מ-{} ל-{}{}", quoted(old), quoted(new), _by(by))
        entries.append(Entry("status", at, "סטטוס", sentence))
    if isinstance(owner := details.get("owner"), list) and len(owner) == 2:
        old, new = owner
        if new and old:
            sentence = format_html("הליד הועבר מ-{} אל {}{}", quoted(old), quoted(new), _by(by))
        elif new:
            sentence = format_html("הליד הוקצה ל-{}{}", quoted(new), _by(by))
        else:
            sentence = format_html("הליד נשאר בלי אחראי (עד כה {}){}", quoted(old), _by(by))
        entries.append(Entry("owner", at, "אחראי", sentence))
    if note := str(details.get("note") or "").strip():
        entries.append(Entry("note", at, "הערה", format_html("נוספה הערה{}: {}", _by(by), quoted(note))))
    return entries


def _by(name: str) -> SafeString:
    return format_html(" (על ידי {})", name) if name else mark_safe("")


def _local(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%d/%m/%Y %H:%M")
