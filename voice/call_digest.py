"""After the call (or the voicemail): what was said, understood. The transcript as text, the LLM's prompt and
its JSON answer parsed into a ``Digest`` (a summary and the lead facts), and the digest applied once: to the
recording or the call, and to the caller's lead (``crm.lead_facts.apply_lead_facts``, the one merge policy,
plus what only a digest does: the status, the follow-up date, the summary note).

Every step checks its state under a row lock first, so a rerun (Celery redelivers with acks_late) changes
nothing. The provider calls and the queueing live in ``voice.tasks``; this module knows no tasks.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.call_events import add_event
from crm.lead_facts import CALLBACK_AT, LEAD_FACT_FIELDS, LEAD_FACTS, apply_lead_facts
from crm.models import Call, CallEvent, Lead, Recording
from crm.services import find_or_create_lead
from crm.signals import call_digested, voicemail_digested

LANGUAGE = "he-IL"  # what voicemails are transcribed in
SUMMARY_LIMIT = 4000
FACT_LIMIT = 1000  # the lead's own field lengths cut further (apply_lead_facts)


@dataclass(frozen=True)
class Digest:
    summary: str
    facts: dict[str, str] = field(default_factory=dict)  # by LEAD_FACT_FIELDS; only what was said


def _keys_text() -> str:
    facts = ", ".join(f'"{fact.field}" ({fact.description}; אחרת מחרוזת ריקה)' for fact in LEAD_FACTS)
    return f'"summary" (סיכום קצר בעברית, עד שלושה משפטים), {facts}.'


DIGEST_INSTRUCTIONS = (
    "אתה עוזר למחלקת מכירות. קיבלת תמליל של {what}. החזר אובייקט JSON בלבד, בלי טקסט נוסף, עם המפתחות: " + _keys_text()
)


def digest_messages(transcript: str, *, voicemail: bool) -> list[dict[str, str]]:
    what = "הודעה קולית שהשאיר לקוח" if voicemail else "שיחת טלפון בין לקוח לבין נציג"
    return [
        {"role": "system", "content": DIGEST_INSTRUCTIONS.format(what=what)},
        {"role": "user", "content": transcript},
    ]


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_digest(answer: str) -> Digest:
    """The LLM's JSON answer; plain text (a model that ignored the format) becomes the summary."""
    match = _JSON_OBJECT.search(answer or "")
    data: Any = None
    if match:
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            data = None
    if not isinstance(data, dict):
        return Digest(summary=(answer or "").strip())

    def text(key: str, limit: int) -> str:
        value = data.get(key)
        return str(value).strip()[:limit] if isinstance(value, str | int | float) else ""

    facts = {name: text(name, FACT_LIMIT) for name in LEAD_FACT_FIELDS}
    return Digest(summary=text("summary", SUMMARY_LIMIT), facts={k: v for k, v in facts.items() if v})


def call_transcript(call: Call) -> str:
    """The conversation as text, the agent's turns as the caller heard them (cut at barge-in)."""
    lines = []
    for u in call.utterances.order_by("start_ms", "id"):
        if u.speaker == u.Speaker.CALLER:
            lines.append(f"לקוח: {u.text}")
        else:
            said = u.heard_text if u.interrupted and u.heard_text else u.text
            lines.append(f"נציג: {said}")
    return "\n".join(lines)


def _local_today(call: Call) -> dt.date:
    try:
        zone = zoneinfo.ZoneInfo(call.business.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = timezone.get_default_timezone()
    return timezone.now().astimezone(zone).date()


def _apply_digest(
    lead: Lead,
    digest: Digest,
    *,
    said_at: dt.datetime,
    note_title: str,
    contacted: bool,
    follow_up: dt.date,
    keep_callback_at: bool = False,
) -> list[str]:
    """The lead facts by the one merge policy, then what only a digest does; saved. The changed fields.
    ``said_at`` (the call's start) is what "מחר" in the caller's words counts from, however late the digest."""
    changed = list(apply_lead_facts(lead, digest.facts, said_at=said_at, keep_callback_at=keep_callback_at))
    if contacted and lead.status == Lead.Status.NEW:
        lead.status = Lead.Status.CONTACTED
        changed.append("status")
    if lead.next_follow_up is None or lead.next_follow_up < follow_up:
        lead.next_follow_up = follow_up
        changed.append("next_follow_up")
    if digest.summary:
        note = f"{note_title}: {digest.summary}"
        if note not in lead.notes:  # a rerun must not add the same summary twice
            lead.notes = f"{lead.notes}\n{note}".strip()
            changed.append("notes")
    if changed:
        lead.save()
    return changed


def _digest_to_lead(call: Call, digest: Digest, *, source: str, **apply: Any) -> None:
    """Fill the call's lead (found or created by the caller's number, and linked) from what was said."""
    lead = call.lead or find_or_create_lead(call.business, call.from_number, source=source)
    if lead is None:  # hidden number: nobody to call back
        return
    if call.lead_id is None:
        call.lead = lead
        call.save(update_fields=["lead"])
    keep = _callback_at_given_in(call)
    changed = _apply_digest(lead, digest, said_at=call.started_at, keep_callback_at=keep, **apply)
    if changed:
        add_event(call, CallEvent.Kind.LEAD_UPDATED, {"lead_id": lead.pk, "fields": changed})


def finish_voicemail(recording: Recording, transcript: str, digest: Digest) -> Recording:
    """Transcript and summary on the recording, the lead found or created and updated, events. Once."""
    with transaction.atomic():
        recording = (
            Recording.objects.select_for_update(of=("self",)).select_related("call__business").get(pk=recording.pk)
        )
        if recording.status == Recording.Status.TRANSCRIBED:
            return recording
        call = recording.call
        recording.transcript = transcript
        recording.summary = digest.summary
        recording.status = Recording.Status.TRANSCRIBED
        recording.failure_reason = ""
        recording.save()
        add_event(call, CallEvent.Kind.TRANSCRIBED, {"recording_id": recording.pk, "text": transcript})
        add_event(
            call,
            CallEvent.Kind.SUMMARY,
            {"source": "voicemail", "recording_id": recording.pk, "text": digest.summary},
        )
        today = _local_today(call)
        _digest_to_lead(
            call,
            digest,
            source="voicemail",
            note_title=f"הודעה קולית {today:%d/%m/%Y}",
            contacted=False,
            follow_up=today,
        )
        created = _lead_created_by(call)
        voicemail_digested.send(sender=Recording, recording=recording, lead_created=created)
    return recording


def finish_call(call_id: int, digest: Digest) -> bool:
    """The after-call summary on the call and its lead. False when it was already done (safe to rerun)."""
    with transaction.atomic():
        call = (
            Call.objects.select_for_update(of=("self",), no_key=True).select_related("business", "lead").get(pk=call_id)
        )
        if call.summary:
            return False
        call.summary = digest.summary
        call.save(update_fields=["summary"])
        add_event(call, CallEvent.Kind.SUMMARY, {"source": "after_call", "text": digest.summary})
        today = _local_today(call)
        _digest_to_lead(
            call,
            digest,
            source="phone",
            note_title=f"שיחה {today:%d/%m/%Y}",
            contacted=True,
            follow_up=today + dt.timedelta(days=1),
        )
        created = _lead_created_by(call)
        call_digested.send(sender=Call, call=call, lead_created=created)
    return True


def _callback_at_given_in(call: Call) -> bool:
    """The agent's tool saved a callback time (not just words) during this call: the digest keeps it."""
    for payload in call.events.filter(kind=CallEvent.Kind.TOOL_CALL).values_list("payload", flat=True):
        given = (payload or {}).get("arguments") or {}
        if (payload or {}).get("ok") and str(given.get(CALLBACK_AT) or "").strip():
            return True
    return False


def _lead_created_by(call: Call) -> bool:
    """The call's lead is new: made during this call (by the agent's tool or by the digest)."""
    return call.lead is not None and call.lead.created_at >= call.started_at
