"""Both sides of a streamed call, kept aligned in media time for the two-channel recording.

Media time is the caller's audio: every inbound byte is 1/8 ms (8 kHz mu-law), so the clock is the number of
inbound bytes seen. Agent audio is what we queue to Twilio; Twilio plays its buffer in order, so a new chunk
starts where the previous one ends or now, whichever is later. ``clear`` drops what had not played yet.
Everything is a bytearray append or a truncation: cheap enough to run on every 20 ms frame.

Audio up to the media clock is settled: the caller said it and the agent's part of it has played (``clear``
only drops what lies beyond now). ``take()`` hands the settled part over (to be spooled to storage as the
call goes) and forgets it, so the tape holds only the last few seconds, not the whole call.
"""

from __future__ import annotations

from dataclasses import dataclass

SILENCE = 0xFF  # mu-law code for (positive) zero


@dataclass(frozen=True)
class TapeChunk:
    """Settled audio of both tracks, equal length, starting at ``start`` (media time, in samples)."""

    start: int
    caller: bytes
    agent: bytes

    @property
    def end(self) -> int:
        return self.start + len(self.caller)


class CallTape:
    """Caller and agent tracks of one call, both indexed by media time in samples."""

    def __init__(self) -> None:
        self._start = 0  # media time of the first sample still held (everything before was taken)
        self._caller = bytearray()
        self._agent = bytearray()  # may run ahead of the caller track: audio queued but not yet played

    @property
    def now(self) -> int:
        """The media clock, in samples (bytes) of caller audio received."""
        return self._start + len(self._caller)

    @property
    def now_ms(self) -> int:
        return self.now // 8

    @property
    def held_ms(self) -> int:
        """Settled audio not taken yet, in ms."""
        return len(self._caller) // 8

    def inbound(self, payload: bytes) -> None:
        """Caller audio, in arrival order; advances the media clock by len(payload)/8 ms."""
        self._caller += payload

    def outbound(self, payload: bytes) -> None:
        """Agent audio sent to Twilio now: it plays after whatever is still queued, or now if nothing is."""
        gap = len(self._caller) - len(self._agent)
        if gap > 0:
            self._agent += bytes((SILENCE,)) * gap
        self._agent += payload

    def clear(self) -> None:
        """Twilio emptied its buffer (barge-in): agent audio queued beyond now was never heard."""
        del self._agent[len(self._caller) :]

    def tracks(self) -> tuple[bytes, bytes]:
        """(caller, agent) mu-law of equal length, from the last ``take()`` (or the start) up to now.

        Agent audio still queued past the media clock when the stream stops was never played (the call
        ended first), so it is not part of what anybody heard.
        """
        n = len(self._caller)
        agent = bytes(self._agent[:n])
        if len(agent) < n:
            agent += bytes((SILENCE,)) * (n - len(agent))
        return bytes(self._caller), agent

    def take(self) -> TapeChunk:
        """The settled audio not taken yet, which the tape then forgets; agent audio queued beyond now stays."""
        caller, agent = self.tracks()
        chunk = TapeChunk(start=self._start, caller=caller, agent=agent)
        n = len(caller)
        del self._caller[:]
        del self._agent[:n]
        self._start += n
        return chunk
