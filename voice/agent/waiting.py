"""The caller waits for our answer: never in silence for long, never forever.

From the end-of-utterance decision until all of the answer's audio is queued, ``AnswerWait`` watches what
the caller hears (the pacer says how much of our audio is still to play). When nothing of ours has played
for ``first_ms`` it plays a filler ("רגע, אני בודק", ready audio, never the same twice in a row) and
reports it with the reason (``asr_slow``, ``llm_slow``, ``tts_slow``); another may follow while the
wait goes on, up to ``max_fillers``. When ``total_ms`` pass without any audio of the answer itself, the
work is cancelled where it stands (a hung provider's stream is closed by the cancellation) and the wait
ends in ``Failure(role, ...)``: the session's apology and failure path take over. So the providers'
per-chunk timeouts never decide how long the caller hears nothing.

Wall time here is the pacer's clock (the event loop's in production; tests run a manual one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from voice.agent.aio import cancel
from voice.agent.failures import Failure
from voice.agent.ports import CallReporter
from voice.audio.clock import MediaClock
from voice.audio.pacer import Clock

POLL_S = 0.05  # how often the watch looks at the pacer while the caller waits


@dataclass(frozen=True)
class ResponseDeadlines:
    first_ms: int = 1_200  # silence the caller may hear while waiting before a filler plays
    total_ms: int = 7_000  # longest wait without audio of the answer before giving up (the apology)
    max_fillers: int = 4  # per wait

    def __post_init__(self) -> None:
        if not 0 < self.first_ms < self.total_ms or self.max_fillers < 0:
            raise ValueError(f"need 0 < first_ms < total_ms and max_fillers >= 0, got {self}")


DEFAULT_DEADLINES = ResponseDeadlines()


class Fillers:
    """The call's holding phrases, taken in turn so the same one never plays twice in a row."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._texts = list(dict.fromkeys(texts))  # unique, in order
        self._next = 0
        self.last: str | None = None

    def pick(self, ready: Callable[[str], bool]) -> str | None:
        """The next phrase with ready audio, other than the last one played; None if there is none."""
        n = len(self._texts)
        for i in range(n):
            text = self._texts[(self._next + i) % n]
            if text != self.last and ready(text):
                self._next = (self._next + i + 1) % n
                self.last = text
                return text
        return None


class FillerPlayer(Protocol):
    """What the watch needs from the speaker."""

    @property
    def mid_sentence(self) -> bool:
        """A sentence has started playing and the rest of its audio is still coming."""
        ...

    def queued_ms(self) -> int:
        """Position after everything queued for the caller (it moves when audio is queued)."""
        ...

    def ahead_ms(self) -> int:
        """Audio queued or sent and not yet played."""
        ...

    def play_filler(self, text: str) -> bool:
        """Queue the ready audio of ``text``; False when it is not ready."""
        ...

    def filler_ready(self, text: str) -> bool: ...


class AnswerWait:
    """One wait of the caller for our answer; ``async with`` it around the work that makes the answer."""

    def __init__(
        self,
        deadlines: ResponseDeadlines,
        clock: Clock,
        speaker: FillerPlayer,
        fillers: Fillers,
        reporter: CallReporter,
        media_clock: MediaClock,
        *,
        waiting_for: Callable[[], str],  # "asr" | "llm" | "tts": what the answer waits on now
    ) -> None:
        self._deadlines = deadlines
        self._clock = clock
        self._speaker = speaker
        self._fillers = fillers
        self._reporter = reporter
        self._media_clock = media_clock
        self._waiting_for = waiting_for
        self._timeout = asyncio.timeout(None)
        self._task: asyncio.Task[None] | None = None
        self._expired: str | None = None  # the role waited on when the total deadline passed
        self.quiet_from = clock.now()  # since when the caller has heard nothing of ours (clock time)
        self.fillers_played = 0

    async def __aenter__(self) -> AnswerWait:
        await self._timeout.__aenter__()
        self._task = asyncio.get_running_loop().create_task(self._watch())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            await cancel(self._task)
        try:
            await self._timeout.__aexit__(exc_type, exc, tb)
        except TimeoutError as timeout:
            role = self._expired or "llm"
            seconds = self._deadlines.total_ms / 1000
            raise Failure(role, TimeoutError(f"no answer within {seconds:g} s")) from timeout

    def silence_left(self) -> float:
        """Seconds before the caller will have heard ``first_ms`` of silence from us (<= 0: already)."""
        now = self._clock.now()
        quiet_from = max(self.quiet_from, now + self._speaker.ahead_ms() / 1000)
        return self._deadlines.first_ms / 1000 - (now - quiet_from)

    async def _watch(self) -> None:
        clock, speaker, deadlines = self._clock, self._speaker, self._deadlines
        first_s, total_s = deadlines.first_ms / 1000, deadlines.total_ms / 1000
        progress_at = clock.now()  # when audio of the answer was last queued (fillers do not count)
        seen = speaker.queued_ms()
        while True:
            now = clock.now()
            if speaker.queued_ms() != seen:
                progress_at, seen = now, speaker.queued_ms()
            ahead = speaker.ahead_ms() / 1000
            if ahead > 0:
                self.quiet_from = max(self.quiet_from, now + ahead)
            if now - progress_at >= total_s:
                self._expire()
                return
            if (
                self.fillers_played < deadlines.max_fillers
                and now - self.quiet_from >= first_s
                and not speaker.mid_sentence
                and await self._filler()
            ):
                seen = speaker.queued_ms()
                continue
            await clock.sleep(POLL_S)

    async def _filler(self) -> bool:
        text = self._fillers.pick(self._speaker.filler_ready)
        if text is None or not self._speaker.play_filler(text):
            return False
        self.fillers_played += 1
        reason = f"{self._waiting_for()}_slow"
        payload = {"reason": reason, "text": text, "number": self.fillers_played}
        await self._reporter.event("filler", self._media_clock.ms, payload)
        return True

    def _expire(self) -> None:
        """Give up: cancel the work in the wait's task (it ends in ``Failure`` at ``__aexit__``)."""
        self._expired = self._waiting_for()
        self._timeout.reschedule(asyncio.get_running_loop().time())
