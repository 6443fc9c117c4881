"""Twilio's outbound playout buffer: the one model of what a caller hears, shared by every emulator of
Twilio's side of a Media Stream (the socket emulator in ``twilio_side``, the in-memory ``FakeTwilio`` of the
unit tests, and through the first the simulator and the load benchmark).

What Twilio does with what a server sends on a bidirectional stream (/work/shared/twilio/README.md):

- ``media`` is queued and played in order, back to back; when the buffer has run dry, new audio starts
  playing as soon as it arrives (the caller heard silence meanwhile);
- a ``mark`` is echoed when the audio queued before it has finished playing;
- ``clear`` drops the audio not yet played and echoes every pending mark at once: a mark echoed after a
  clear means flushed, not heard.

Positions are media time in samples of 8 kHz audio (one mu-law byte each) counted from the start of the
stream. The buffer has no clock of its own: whoever drives it says what position "now" is, from the loop
clock (the socket emulator) or from a play head a test moves by hand (``FakeTwilio``). Integer positions
keep the audio the caller heard byte-exact, whatever the speed of the clock.
"""

from __future__ import annotations

from collections import deque

SAMPLE_RATE = 8000  # samples (mu-law bytes) per second of media


class PlayoutBuffer:
    """One stream's outbound buffer. Every method is O(1) but ``clear``, so that a caller sending and
    receiving 50 frames a second can consult it on every frame."""

    __slots__ = ("marks", "queued_to")

    def __init__(self) -> None:
        self.queued_to = 0  # where the queued audio ends: everything received has played by this position
        # Marks not echoed yet, as (due position, name) in due order (due positions never decrease).
        self.marks: deque[tuple[int, str]] = deque()

    def queue(self, nbytes: int, now: int) -> int:
        """``nbytes`` of audio arrived at ``now``; returns the position where it starts playing."""
        start = self.queued_to if self.queued_to > now else now
        self.queued_to = start + nbytes
        return start

    def mark(self, name: str, now: int) -> int:
        """A mark arrived at ``now``; returns the position at which it is due to be echoed."""
        due = self.queued_to if self.queued_to > now else now
        self.marks.append((due, name))
        return due

    def clear(self, now: int) -> list[str]:
        """Drop what has not played by ``now``; return every pending mark, to be echoed at once."""
        if self.queued_to > now:
            self.queued_to = now
        flushed = [name for _, name in self.marks]
        self.marks.clear()
        return flushed

    def next_due(self) -> int | None:
        """The position at which the next pending mark is due, if any."""
        return self.marks[0][0] if self.marks else None

    def pop_due(self, now: int) -> str | None:
        """The next mark whose audio has played by ``now`` (removed from the pending ones), else None."""
        marks = self.marks
        if marks and marks[0][0] <= now:
            return marks.popleft()[1]
        return None

    def pop_all_due(self, now: int) -> list[str]:
        """Every mark whose audio has played by ``now``, in order (removed from the pending ones)."""
        played: list[str] = []
        while (name := self.pop_due(now)) is not None:
            played.append(name)
        return played

    def pending(self) -> list[str]:
        """The names of the marks not echoed yet, in order."""
        return [name for _, name in self.marks]

    def due_of(self, name: str) -> int | None:
        """The due position of the first pending mark called ``name``, if there is one."""
        return next((due for due, pending in self.marks if pending == name), None)
