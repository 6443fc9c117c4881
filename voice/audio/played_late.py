"""How much later than the pacer's estimate Twilio plays our audio, measured by its marks.

The pacer estimates that what it sends plays as it reaches Twilio. It plays later: the network's delay both
ways, and however much Twilio's jitter buffer holds. A mark comes back when the audio before it has played,
so the time it came back, against the time the estimate said that audio ended, is how late Twilio plays
(and how late the echo of our voice can come back, before the phone's own path adds to it).

The mark's time is taken as Twilio sent it, not as we handled it (the caller of ``add`` passes
``voice.audio.lateness``'s capture time of the latest inbound frame: a mark follows that frame on the socket),
so a busy server that handles it late does not count as a late play-out.

One mark's reading can be off by a frame or two (Twilio echoes a mark with its next message; a network's
jitter on the way there moves when a reply starts playing): the median of the latest few is the reading.
"""

from __future__ import annotations

import statistics
from collections import deque

_KEPT = 5  # marks the reading is the median of: one odd mark moves it not at all
_MAX_S = 2.0  # a reading past this is a mark lost and found, not a play-out delay


class PlayedLate:
    def __init__(self) -> None:
        self._readings: deque[float] = deque(maxlen=_KEPT)
        self.seconds = 0.0  # until a mark says otherwise: played as estimated

    @property
    def measured(self) -> bool:
        return bool(self._readings)

    def add(self, echoed_at: float, estimated_end: float) -> None:
        """A mark came back at clock time ``echoed_at``; the estimate said its audio ended at ``estimated_end``."""
        late = echoed_at - estimated_end
        if late > _MAX_S:
            return
        # Earlier than the estimate: the pacer starts its estimate again from the mark (``Pacer.on_mark``).
        self._readings.append(max(late, 0.0))
        self.seconds = statistics.median(self._readings)
