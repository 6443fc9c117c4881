"""A call's timeline: its events and utterances merged into one list, ordered by time since the call was answered.

Pure reads and formatting; the template decides the look. Utterances carry ``start_ms`` and events
``offset_ms``, both ms from the call's answer (one time base, see crm.call_events), so sorting them together
is the whole merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from backoffice.charts import latency_waterfall
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
    title: str = ""
    detail: str = ""
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
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list | tuple):
        return ", ".join(_scalar(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items())
    return str(value)


def _changes(changed: Any) -> list[Change]:
    """Tool payloads say what they changed either as {field: new} or {field: {"old": .., "new": ..}}
    (or [old, new]); both read as "field: old → new"."""
    if not isinstance(changed, dict):
        return []
    result = []
    for name, value in changed.items():
        if isinstance(value, dict) and "new" in value:
            result.append(Change(str(name), _scalar(value.get("old")) or "—", _scalar(value["new"]), "old" in value))
        elif isinstance(value, list | tuple) and len(value) == 2:
            result.append(Change(str(name), _scalar(value[0]) or "—", _scalar(value[1]), True))
        else:
            result.append(Change(str(name), "", _scalar(value), False))
    return result


def _event_entry(event: CallEvent) -> TimelineEntry:
    payload = event.payload if isinstance(event.payload, dict) else {}
    kind = event.kind
    entry = TimelineEntry(
        at_ms=event.offset_ms,
        css=f"event event-{kind.replace('_', '-')}",
        event=event,
        title=event.get_kind_display(),
        technical=kind in TECHNICAL_KINDS,
        problem=kind in PROBLEM_KINDS,
    )
    if kind == CallEvent.Kind.TOOL_CALL:
        entry.title = _("Tool call: %(name)s") % {"name": payload.get("name", "?")}
        arguments = payload.get("arguments") or {}
        if isinstance(arguments, dict):
            entry.facts = [(str(k), _scalar(v)) for k, v in arguments.items()]
        entry.changes = _changes(payload.get("changed"))
        if payload.get("error"):
            entry.detail = _scalar(payload["error"])
            entry.problem = True
    elif kind == CallEvent.Kind.DTMF:
        entry.detail = _scalar(payload.get("digit", payload.get("digits", "")))
    elif kind in (CallEvent.Kind.ERROR, CallEvent.Kind.FALLBACK, CallEvent.Kind.RECORDING_FAILED):
        entry.detail = _scalar(payload.get("message") or payload.get("reason") or payload.get("error") or "")
        entry.facts = [(str(k), _scalar(v)) for k, v in payload.items() if k not in ("message", "reason", "error")]
    elif kind in (CallEvent.Kind.GREETING, CallEvent.Kind.FILLER):
        entry.detail = _scalar(payload.get("text", ""))
    elif kind == CallEvent.Kind.RECORDING_STORED:
        entry.facts = [(str(k), _scalar(v)) for k, v in payload.items()]
    elif kind == CallEvent.Kind.BARGE_IN:
        entry.detail = _("The caller spoke over the agent.")
        entry.facts = [(str(k), _scalar(v)) for k, v in payload.items()]
    else:
        entry.facts = [(str(k), _scalar(v)) for k, v in payload.items()]
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


def build_timeline(call: Call) -> list[TimelineEntry]:
    """Events and utterances in time order; at the same instant an event (e.g. barge-in) comes first."""
    entries = [(e.offset_ms, 0, e.pk, _event_entry(e)) for e in call.events.all()]
    entries += [(u.start_ms, 1, u.pk, _utterance_entry(u)) for u in call.utterances.all()]
    entries.sort(key=lambda item: item[:3])
    return [item[3] for item in entries]
