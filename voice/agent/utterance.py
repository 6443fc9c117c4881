"""What the agent is saying: one utterance, its sentences, where their audio sits, and what was heard.

Positions are the pacer's (ms of outbound audio since the call started). Marks echoed by Twilio and the
play-out estimate say how far the caller heard; ``heard_text`` turns that position back into words.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sentence:
    text: str
    mark: str
    start_pos: int  # pacer positions (ms of outbound audio)
    end_pos: int


@dataclass
class Utterance:
    """What the agent is saying now: its sentences, where their audio sits, and this turn's context."""

    number: int
    kind: str  # greeting | reply | idle | goodbye | apology
    t0: float | None = None  # loop time of the end-of-utterance decision (replies)
    latency: dict[str, int] = field(default_factory=dict)
    sentences: list[Sentence] = field(default_factory=list)
    start_pos: int | None = None
    start_media_ms: int = 0
    turn_messages: list[dict[str, Any]] = field(default_factory=list)  # tool calls and results
    reported: bool = False
    committed: bool = False

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)

    @property
    def has_audio(self) -> bool:
        return self.start_pos is not None

    @property
    def unreported_audio(self) -> bool:
        """Audio of it was queued and its row is not written yet: it is playing, or was cut short."""
        return self.has_audio and not self.reported

    def note_latency(self, key: str) -> None:
        """Record the first time ``key`` happens, in ms since the end-of-utterance decision (replies only)."""
        if self.t0 is not None and key not in self.latency:
            self.latency[key] = ms_since(self.t0)

    def heard_text(self, heard_pos: int) -> str:
        """Sentences fully heard count fully; the one cut off counts in proportion to its heard ms,
        trimmed back to a word boundary."""
        parts = []
        for s in self.sentences:
            if heard_pos >= s.end_pos:
                parts.append(s.text)
                continue
            if heard_pos > s.start_pos and s.end_pos > s.start_pos:
                cut = int(len(s.text) * (heard_pos - s.start_pos) / (s.end_pos - s.start_pos))
                partial = s.text[:cut]
                if cut < len(s.text) and not s.text[cut].isspace():
                    partial = partial.rsplit(" ", 1)[0] if " " in partial else ""
                if partial.strip():
                    parts.append(partial.strip())
            break
        return " ".join(parts)


def ms_since(t0: float) -> int:
    """Milliseconds of loop time since ``t0`` (latencies are wall time; everything else is media time)."""
    return round((asyncio.get_running_loop().time() - t0) * 1000)
