"""When the caller's latest frame was captured, on our own clock.

Twilio sends the caller's audio as it is captured, 20 ms a frame; we handle each frame some time later: the
network's delay, and, on a busy server, however far our event loop has fallen behind (at 40 calls on two
cores, a few hundred ms, with frames handled in bursts as it catches up). What played to the caller when a
frame was captured, which is what the frame's echo of our voice comes from, is then not what plays as we
handle it. The media time says how much audio came before the frame; so a frame was captured the least
difference seen between our clock and media time (the network's delay, as near as we can tell) after that
media time. Anything beyond that least difference is our lateness.

The least difference is taken over the whole call: a clock that drifts from Twilio's by 50 ppm moves it
30 ms in ten minutes, within what the echo guard allows for.
"""

from __future__ import annotations

import math

from voice.audio.clock import MediaClock
from voice.audio.pacer import Clock


class Lateness:
    def __init__(self, media_clock: MediaClock, clock: Clock) -> None:
        self._media = media_clock
        self._clock = clock
        # The least (clock time - media time) seen: the line's own delay. Read by ``PlayingAtCapture`` to tell
        # whether a frame would lower it; only ``captured_at`` sets it.
        self.base = math.inf

    def captured_at(self, now: float | None = None) -> float:
        """The clock time at which the latest inbound audio (up to ``media_clock.ms``) was captured, as
        seen at clock time ``now`` (None: read the clock)."""
        media_s = self._media.ms / 1000
        offset = (self._clock.now() if now is None else now) - media_s
        if offset < self.base:
            self.base = offset
        return self.base + media_s
