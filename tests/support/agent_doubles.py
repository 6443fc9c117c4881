"""In-memory stand-ins for the two edges of the conversation core.

``FakeTwilio`` plays Twilio's part of a bidirectional Media Stream: it records what the core sends and
plays it through the simulator's model of Twilio's buffer (``voice.simulator.playout.PlayoutBuffer``, the
same rules the socket emulator follows). Nothing plays by itself: a test moves the play head
(``play_until``, ``play_mark``, ``play_all``), or with ``echo_marks=True`` everything plays as soon as it is
sent. Like Twilio it echoes a mark once the audio before it has played and echoes every pending mark when it
receives ``clear``.
``MemoryReporter`` is the CRM: it keeps utterances, timeline events, lead facts and the end of the call.
``ManualClock`` is a pacer clock that only moves when a test advances it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any

from voice.agent.ports import StreamHandler, UtteranceRecord
from voice.audio.frames import FRAME_BYTES, SAMPLE_RATE
from voice.simulator.playout import PlayoutBuffer


class FakeTwilio:
    """A ``MediaSink`` that is Twilio's side of the stream, in memory; marks are echoed to ``handler``."""

    def __init__(self, *, echo_marks: bool = False) -> None:
        self.handler: StreamHandler | None = None
        self.echo_marks = echo_marks  # play everything at once: each mark is echoed as soon as it is sent
        self.log: list[tuple[str, Any]] = []  # ("media", bytes) | ("mark", name) | ("clear", None)
        self.media_bytes = 0  # all audio sent, cleared or not
        self.mark_positions: dict[str, int] = {}  # mark -> bytes of audio sent before it
        self.echoed: list[str] = []
        self.buffer = PlayoutBuffer()
        self.played = 0  # the play head: position in the buffer (bytes of 8 kHz audio) heard so far
        self._tasks: set[asyncio.Task[None]] = set()

    # MediaSink
    async def send_media(self, payload: bytes) -> None:
        assert payload and len(payload) % FRAME_BYTES == 0, "outbound media must be whole 160-byte frames"
        self.log.append(("media", payload))
        self.media_bytes += len(payload)
        self.buffer.queue(len(payload), self.played)

    async def send_mark(self, name: str) -> None:
        self.log.append(("mark", name))
        self.mark_positions[name] = self.media_bytes
        self.buffer.mark(name, self.played)
        if self.echo_marks:
            self._echo_soon(self._play_to(self.buffer.queued_to))

    async def send_clear(self) -> None:
        self.log.append(("clear", None))
        self._echo_soon(self.buffer.clear(self.played))  # Twilio echoes cleared marks too

    # What the tests look at
    @property
    def audio_ms(self) -> int:
        return self.media_bytes * 1000 // SAMPLE_RATE

    @property
    def frames(self) -> int:
        return self.media_bytes // FRAME_BYTES

    @property
    def marks(self) -> list[str]:
        return [value for kind, value in self.log if kind == "mark"]

    @property
    def pending_marks(self) -> list[str]:
        return self.buffer.pending()

    @property
    def clears(self) -> int:
        return sum(1 for kind, _ in self.log if kind == "clear")

    def kinds(self) -> list[str]:
        """The message kinds in order, consecutive media collapsed into one."""
        out: list[str] = []
        for kind, _ in self.log:
            if not (kind == "media" and out and out[-1] == "media"):
                out.append(kind)
        return out

    # Playing
    async def play_until(self, audio_ms: int) -> list[str]:
        """Play up to ``audio_ms`` of the buffer (the audio sent, less what a clear dropped) and echo the
        marks whose audio has fully played by then."""
        played = self._play_to(audio_ms * SAMPLE_RATE // 1000)
        await self._echo(played)
        return played

    async def play_mark(self, name: str) -> None:
        """Echo ``name`` and every mark before it."""
        due = self.buffer.due_of(name)
        if due is not None:
            await self._echo(self._play_to(due))

    async def play_all(self) -> list[str]:
        played = self._play_to(self.buffer.queued_to)
        await self._echo(played)
        return played

    def _play_to(self, position: int) -> list[str]:
        self.played = max(self.played, position)
        return self.buffer.pop_all_due(self.played)

    async def _echo(self, names: list[str]) -> None:
        for name in names:
            self.echoed.append(name)
            if self.handler is not None:
                await self.handler.mark(name)

    def _echo_soon(self, names: list[str]) -> None:
        if names:
            task = asyncio.get_running_loop().create_task(self._echo(names))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


class MemoryReporter:
    def __init__(self, lead: dict[str, str] | None = None) -> None:
        self.utterances: list[UtteranceRecord] = []
        self.events: list[tuple[str, int, dict[str, Any]]] = []
        self.lead: dict[str, str] = dict(lead or {})
        self.notes: list[str] = []
        self.lead_updates: list[dict[str, str]] = []
        self.ended: list[tuple[str, bool]] = []

    async def utterance(self, record: UtteranceRecord) -> None:
        self.utterances.append(record)

    async def event(self, kind: str, offset_ms: int, payload: dict[str, Any] | None = None) -> None:
        self.events.append((kind, offset_ms, dict(payload or {})))

    async def update_lead(self, facts: dict[str, str]) -> dict[str, Any]:
        self.lead_updates.append(dict(facts))
        changed: dict[str, Any] = {}
        for key, value in facts.items():
            if key == "note":
                self.notes.append(value)
                changed["note"] = value
            elif self.lead.get(key) != value:
                self.lead[key] = value
                changed[key] = value
        return changed

    async def end_call(self, reason: str, *, voicemail: bool = False) -> None:
        self.ended.append((reason, voicemail))

    # What the tests look at
    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.events]

    def payloads(self, kind: str) -> list[dict[str, Any]]:
        return [payload for k, _, payload in self.events if k == kind]

    def said(self, speaker: str) -> list[str]:
        return [u.text for u in self.utterances if u.speaker == speaker]


class ManualClock:
    """A pacer clock that stands still until ``advance`` moves it, waking sleepers in time order."""

    def __init__(self) -> None:
        self._now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._seq), future))
        await future

    async def advance(self, seconds: float) -> None:
        await settle()  # whatever is ready runs at the current time first
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target + 1e-9:  # float sums are not exact
            due, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, due)
            if not future.done():
                future.set_result(None)
            await settle()
        self._now = target
        await settle()

    async def stall(self, seconds: float) -> None:
        """Time passes while the event loop is busy: sleepers due meanwhile all wake late, at the end."""
        await settle()
        self._now += seconds
        await self.advance(0)


async def settle(rounds: int = 5) -> None:
    """Let every ready task run a few steps."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def until(
    predicate: Callable[[], bool],
    *,
    within: float = 5.0,
    clock: ManualClock | None = None,
    step: float = 0.02,
) -> None:
    """Wait (at most ``within`` real seconds) until ``predicate()`` holds, advancing ``clock`` by
    ``step`` between looks."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        if clock is not None:
            await clock.advance(step)
        else:
            await asyncio.sleep(0.001)
