"""A call's timeline: its events and utterances merged into one list, ordered by time since the call was answered.

Pure reads and formatting; the template decides the look. Utterances carry ``start_ms`` and events
``offset_ms``, both ms from the call's answer (one time base, see crm.call_events), so sorting them together
is the whole merge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.safestring import SafeString

from backoffice.charts import latency_waterfall
from backoffice.timeline_sentences import describe_event, lead_field_label, lead_status_label, value_text
from crm.models import Call, CallEvent, Utterance

# Plumbing that matters to whoever debugs a call, not to sales staff: hidden until asked for.
TECHNICAL_KINDS = frozenset(
    {
        CallEvent.Kind.WEBHOOK,
        CallEvent.Kind.CALL_STATUS,
        CallEvent.Kind.STREAM_STATUS,
        CallEvent.Kind.MARK,
        CallEvent.Kind.TURN,
    }
)
PROBLEM_KINDS = frozenset({CallEvent.Kind.ERROR, CallEvent.Kind.FALLBACK, CallEvent.Kind.RECORDING_FAILED})


def format_offset(ms: int) -> str:
    """ "01:02.3" for 62.3 s since the call began; a sign for the few events that precede it."""
    sign = "−" if ms < 0 else ""
    ms = abs(int(ms))
    minutes, rest = divmod(ms, 60_000)
    return f"{sign}{minutes:02d}:{rest // 1000:02d}.{rest % 1000 // 100}"


def recording_audio_url(recording_id: int) -> str:
    """The access-checked view streaming a recording (voice app); its fixed path if not routed by name."""
    try:
        return reverse("voice:recording_audio", args=[recording_id])
    except NoReverseMatch:
        return f"/recordings/{recording_id}/audio"


@dataclass
class Change:
    field: str
    old: Any
    new: Any
    has_old: bool


@dataclass
class TimelineEntry:
    at_ms: int
    css: str
    utterance: Utterance | None = None
    event: CallEvent | None = None
    title: SafeString | str = ""
    sentence: SafeString | str = ""
    raw: str = ""
    greeting: bool = False
    facts: list[tuple[str, str]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    technical: bool = False
    problem: bool = False
    # Barge-in: what the caller heard of the agent, and what was cut off.
    heard: str = ""
    unheard: str = ""
    waterfall: SafeString | str = ""

    @property
    def time(self) -> str:
        return format_offset(self.at_ms)

    @property
    def detail(self) -> SafeString | str:
        """The sentence, under the name the live page's template reads."""
        return self.sentence

    @property
    def is_utterance(self) -> bool:
        return self.utterance is not None


def split_heard(text: str, heard: str) -> tuple[str, str]:
    """(heard, not heard) of an interrupted agent utterance. The heard text is normally a prefix of the
    full text; when it is not (re-tokenised by the TTS), show it as heard and the whole text as not."""
    heard = heard.strip()
    if not heard:
        return "", text
    if text.startswith(heard):
        return heard, text[len(heard) :].strip()
    return heard, text


def _scalar(value: Any) -> str:
    return value_text(value)


def _change_value(name: str, value: Any) -> str:
    """A changed value as staff read it: a status by its label ("מתאים", not "qualified")."""
    if name == "status" and value not in (None, ""):
        return lead_status_label(value)
    return _scalar(value)


def _changes(changed: Any) -> list[Change]:
    """Tool payloads say what they changed either as {field: new} or {field: {"old": .., "new": ..}}
    (or [old, new]); both read as "field: old ← new", the field by its label in the lead form."""
    if not isinstance(changed, dict):
        return []
    result = []
    for name, value in changed.items():
        name = str(name)
        label = lead_field_label(name)
        if isinstance(value, dict) and "new" in value:
            old = _change_value(name, value.get("old"))
            result.append(Change(label, old, _change_value(name, value["new"]), "old" in value))
        elif isinstance(value, list | tuple) and len(value) == 2:
            result.append(Change(label, _change_value(name, value[0]), _change_value(name, value[1]), True))
        else:
            result.append(Change(label, "", _change_value(name, value), False))
    return result


def raw_payload(payload: Any) -> str:
    """The payload as stored, for whoever debugs a call (superusers see it folded under the sentence)."""
    return json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True, default=str)


def _event_entry(event: CallEvent) -> TimelineEntry:
    payload = event.payload if isinstance(event.payload, dict) else {}
    kind = event.kind
    described = describe_event(kind, payload, event.offset_ms, default_title=event.get_kind_display())
    entry = TimelineEntry(
        at_ms=event.offset_ms,
        css=f"event event-{kind.replace('_', '-')}",
        event=event,
        title=described.title,
        sentence=described.sentence,
        facts=described.facts,
        technical=kind in TECHNICAL_KINDS,
        problem=kind in PROBLEM_KINDS,
        raw=raw_payload(event.payload) if event.payload else "",
    )
    if kind == CallEvent.Kind.FALLBACK and not described.voicemail:
        entry.problem = False  # the backup voice spoke and the call went on: worth seeing, not an alarm
        entry.css += " event-tts-retry"
    if kind == CallEvent.Kind.TOOL_CALL:
        entry.changes = _changes(payload.get("changed"))
        entry.problem = bool(payload.get("error"))
    return entry


def _utterance_entry(utterance: Utterance) -> TimelineEntry:
    entry = TimelineEntry(
        at_ms=utterance.start_ms,
        css=f"bubble bubble-{utterance.speaker}",
        utterance=utterance,
        title=utterance.get_speaker_display(),
    )
    if utterance.speaker == Utterance.Speaker.AGENT:
        if utterance.interrupted:
            entry.css += " interrupted"
            entry.heard, entry.unheard = split_heard(utterance.text, utterance.heard_text)
        entry.waterfall = latency_waterfall(utterance.latency if isinstance(utterance.latency, dict) else {})
    return entry


def fold_greeting(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """The greeting once: its bubble (with what was said and when) stays, marked as the greeting, and the
    greeting event that repeats its text goes. A greeting without its bubble keeps its event."""
    said = {e.utterance.text.strip(): e for e in entries if e.utterance is not None and e.utterance.speaker == "agent"}
    folded = []
    for entry in entries:
        event = entry.event
        if event is not None and event.kind == CallEvent.Kind.GREETING:
            text = str((event.payload or {}).get("text", "")).strip() if isinstance(event.payload, dict) else ""
            bubble = said.get(text)
            if bubble is not None and text:
                bubble.greeting = True
                continue
        folded.append(entry)
    return folded


def build_timeline(call: Call) -> list[TimelineEntry]:
    """Events and utterances in time order; at the same instant an event (e.g. barge-in) comes first."""
    entries = [(e.offset_ms, 0, e.pk, _event_entry(e)) for e in call.events.all()]
    entries += [(u.start_ms, 1, u.pk, _utterance_entry(u)) for u in call.utterances.all()]
    entries.sort(key=lambda item: item[:3])
    return fold_greeting([item[3] for item in entries])
