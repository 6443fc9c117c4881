"""The narrow interface between the framework-free conversation core and its edges.

The core (``voice.agent``) never imports Django. It receives Twilio media through a
``StreamHandler``, sends audio through a ``MediaSink`` and reports what happened through a
``CallReporter``. The Channels consumer implements ``MediaSink`` (the socket) and
``CallReporter`` (the ORM); tests and benchmarks implement them in memory.

Time inside a call is media time (``voice.audio.clock.MediaClock``: ms of inbound audio, advanced by the
edge once per payload), never wall-clock arrival.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class MediaSink(Protocol):
    """Where outbound audio goes (the Twilio socket). Payloads are raw mu-law 8 kHz, whole 160-byte frames."""

    async def send_media(self, payload: bytes) -> None: ...

    async def send_mark(self, name: str) -> None: ...

    async def send_clear(self) -> None: ...


@dataclass
class UtteranceRecord:
    """One transcript segment, reported when it completes."""

    speaker: str  # "caller" | "agent"
    text: str
    start_ms: int  # media time from the start of the stream
    end_ms: int
    interrupted: bool = False  # agent only: cut by barge-in
    heard_text: str = ""  # agent only: the part the caller actually heard (from marks)
    # Per-turn latency figures in ms, measured from the end-of-utterance decision. Keys used:
    # "asr", "llm_first_token", "tts_first_audio", "first_frame"; plus "eos_ms" (media time of end of speech).
    latency: dict[str, int] = field(default_factory=dict)


class CallReporter(Protocol):
    """What the core tells the CRM. Implementations must not block the event loop."""

    async def utterance(self, record: UtteranceRecord) -> None: ...

    async def event(self, kind: str, offset_ms: int, payload: dict[str, Any] | None = None) -> None:
        """A timeline event. Kinds are ``crm.models.CallEvent.Kind`` values, e.g. "greeting", "turn",
        "barge_in", "tool_call", "dtmf", "idle", "error", "fallback"."""
        ...

    async def update_lead(self, facts: dict[str, str]) -> dict[str, Any]:
        """Write facts to this call's lead only (keys: the edge's lead facts and "note"; the edge's tools
        call this). Returns what changed (field -> new value) for the timeline."""
        ...

    async def end_call(self, reason: str, *, voicemail: bool = False) -> None:
        """Ask the edge to end the call (after the goodbye has played) or move it to voicemail."""
        ...


class StreamHandler(Protocol):
    """Drives one Media Stream. The consumer calls these in the order Twilio's messages arrive."""

    async def start(self) -> None:
        """After the ``start`` message (the greeting is spoken here, once)."""
        ...

    async def media(self, payload: bytes) -> None:
        """One inbound chunk of mu-law audio (normally one 160-byte, 20 ms frame)."""
        ...

    async def mark(self, name: str) -> None:
        """Twilio echoed a mark: the audio sent before it has played (or was cleared)."""
        ...

    async def dtmf(self, digit: str) -> None: ...

    async def stop(self) -> None:
        """The stream ended (``stop`` or socket closed). Cancel work in flight; idempotent."""
        ...

    def stream_facts(self) -> dict[str, int]:
        """What it measured of the stream, for the stream's last event (``stream_stopped``), after ``stop``."""
        ...
