"""The media clock: how much of the caller's audio has arrived, in milliseconds.

Time inside a call is media time, not wall-clock arrival time: 20 ms of audio is 20 ms whether it came
late, early or in a burst. The edge that receives the audio (the Twilio socket) advances the clock once
per inbound payload and hands it to whatever drives the call; everything else (the agent session, its
voice activity detector, the diagnostic handlers, the call store) only reads it. One counter, so two
parts of a call can never disagree about what time it is.
"""

from __future__ import annotations

from voice.audio.frames import SAMPLE_RATE


class MediaClock:
    def __init__(self) -> None:
        self._bytes = 0  # 8 kHz mu-law: one byte per sample

    def advance(self, payload: bytes) -> None:
        """``payload`` of inbound audio has arrived."""
        self._bytes += len(payload)

    @property
    def ms(self) -> int:
        """Milliseconds of inbound audio so far."""
        return self._bytes * 1000 // SAMPLE_RATE

    def ms_before(self, nbytes: int) -> int:
        """The media time ``nbytes`` of audio before now (where a frame still held back ends)."""
        return (self._bytes - nbytes) * 1000 // SAMPLE_RATE
