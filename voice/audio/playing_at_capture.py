"""Which of our audio was playing as the caller's latest frame was captured: the echo guard's question, asked
on every inbound frame of every call.

Asked in full, it reads the clock, the frame's capture time (``voice.audio.lateness``), how late Twilio plays
(``played_late``) and the pacer's play-out (``Pacer.playing_span``): in a busy server, the largest part of
what a clean line's guard costs (bench/README.md). Between two changes of the pacer (``Pacer.changes``: audio
sent, a play-out restarted, a mark), the answer moves with the capture time, and the capture time moves with
media time, 20 ms a frame. So the answer is carried forward by media time, for as long as the pacer says it
holds, and asked in full again at least every ``ask_every_ms``. A full question also reads the clock, which
is how ``Lateness`` finds the line's own delay (the least seen between our clock and media time): a frame
handled sooner after its capture than any before it makes the capture times earlier from then on, and a
carried answer does not see such a frame. Asked at least every 200 ms, the delay is found from five frames a
second instead of fifty, and a capture time that moves earlier is followed within 200 ms.
"""

from __future__ import annotations

from voice.audio.clock import MediaClock
from voice.audio.lateness import Lateness
from voice.audio.pacer import Clock, Pacer


class PlayingAtCapture:
    def __init__(
        self, pacer: Pacer, lateness: Lateness, media_clock: MediaClock, clock: Clock, *, ask_every_ms: int = 200
    ) -> None:
        if ask_every_ms < 0:
            raise ValueError(f"ask_every_ms must be 0 or more, not {ask_every_ms}")
        self._pacer = pacer
        self._lateness = lateness
        self._media = media_clock
        self._clock = clock
        self._ask_every = ask_every_ms
        self._changes = -1  # the pacer's ``changes`` when last asked (-1: never asked)
        self._asked_ms = 0  # media time when last asked
        self._holds_ms = 0.0  # for how much media time after that the answer carries
        self._position: int | None = None  # the answer then
        self.asked = 0  # questions asked in full

    def __call__(self) -> int | None:
        """Our position that was playing as the caller's latest frame was captured (None: we were silent)."""
        media = self._media.ms
        carried = media - self._asked_ms
        if carried < self._holds_ms and self._pacer.changes == self._changes:
            position = self._position
            return None if position is None else position + carried
        return self._ask(media)

    def _ask(self, media: int) -> int | None:
        # One reading of the clock for both: the capture time and the play-out are then taken at the same
        # moment (read twice, the clock can move between them).
        pacer, now = self._pacer, self._clock.now()
        at = self._lateness.captured_at(now) - pacer.played_late.seconds
        position, holds_ms = pacer.playing_span(at, now)
        self._changes, self._asked_ms, self._position = pacer.changes, media, position
        self._holds_ms = min(holds_ms, self._ask_every)
        self.asked += 1
        return position
