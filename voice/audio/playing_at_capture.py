"""Which of our audio was playing as the caller's latest frame was captured: the echo guard's question, asked
on every inbound frame of every call.

Asked in full, it takes the frame's capture time (``voice.audio.lateness``), how late Twilio plays
(``played_late``) and the pacer's play-out at that time (``Pacer.playing_span``): in a busy server, about
as much as the rest of a clean line's guard (bench/README.md). But between two changes of the pacer
(``Pacer.changes``: audio sent, a play-out restarted, a mark), the answer moves on with the capture time,
and the capture time moves on with media time, 20 ms a frame, until a frame is handled sooner after its
capture than any before it (it lowers the line's delay, ``Lateness.base``, and every capture time after
it). So the answer is carried forward by media time, for as long as the pacer says it holds and no frame
lowers the line's delay: what asking in full would give, to the ms. Only the clock is read on every frame
(to find such a frame); the capture time and the pacer are asked on ~1 frame in 10 while we speak and
~0 while we are silent.

Where the carried answer and asking in full can differ: a frame captured exactly as it is handled (at the
line's least delay so far) is asked about "now", where a mark that says more has played than the estimate
puts a floor under the answer (``Pacer.playing_span``); carried, the answer has no such floor. Such a mark
comes only when the estimate ran behind Twilio, which plays what it receives after we send it.
"""

from __future__ import annotations

from voice.audio.clock import MediaClock
from voice.audio.lateness import Lateness
from voice.audio.pacer import Clock, Pacer


class PlayingAtCapture:
    def __init__(self, pacer: Pacer, lateness: Lateness, media_clock: MediaClock, clock: Clock) -> None:
        self._pacer = pacer
        self._lateness = lateness
        self._media = media_clock
        self._clock = clock
        self._changes = -1  # the pacer's ``changes`` when last asked (-1: never asked)
        self._asked_ms = 0  # media time when last asked
        self._holds_ms = 0.0  # for how much media time after that the answer carries
        self._position: int | None = None  # the answer then
        self.asked = 0  # questions asked in full

    def __call__(self) -> int | None:
        """Our position that was playing as the caller's latest frame was captured (None: we were silent)."""
        media, now = self._media.ms, self._clock.now()
        carried = media - self._asked_ms
        if (
            carried < self._holds_ms
            and self._pacer.changes == self._changes
            and now - media / 1000 >= self._lateness.base  # as ``captured_at`` tests it: the delay stands
        ):
            position = self._position
            return None if position is None else position + carried
        return self._ask(media, now)

    def _ask(self, media: int, now: float) -> int | None:
        # One reading of the clock for both: the capture time and the play-out are taken at the same moment.
        pacer = self._pacer
        at = self._lateness.captured_at(now) - pacer.played_late.seconds
        position, holds_ms = pacer.playing_span(at, now)
        self._changes, self._asked_ms, self._position, self._holds_ms = pacer.changes, media, position, holds_ms
        self.asked += 1
        return position
