"""Outbound pacing: send an utterance's frames to Twilio a bounded lead ahead of real time.

Twilio buffers whatever it is sent and plays it in order, so sending a whole reply at once would make
barge-in useless (``clear`` would have to discard seconds of audio we can no longer account for).
The pacer keeps at most ``lead_ms`` of audio in Twilio's buffer: it sends immediately up to the lead
(in messages of at most ``max_message_ms``), then ``batch_ms`` of audio (default ten frames) each time
that much fits within the lead again, so Twilio always holds ``lead_ms - batch_ms`` (400 ms) or more: the
cushion against a stall on the way. With the defaults the opening burst (400 + 200 ms) ends on a whole
batch, so the next message follows it by exactly its length (a short last one would be followed by a wait
longer than its audio, which a listener for gaps takes for a stall). Twilio takes any whole number of
160-byte frames per media message and plays them in order; a message costs daphne and us far more than its
bytes (at 40 calls, 100 ms messages instead of 40 ms ones took 7 % off the server's CPU, and 200 ms ones
instead of 100 ms another 5-10 %, bench/README.md), so a reply goes out in a tenth of the messages and timer
wake-ups of frame-by-frame pacing. One sender task per call sleeps until the next batch is due; due times
come from an estimate of when the sent audio finishes playing (``play_end``) that advances exactly 20 ms
per frame, so the schedule does not drift. A message never spans a mark. A mark that says Twilio has
played everything sends what waits at once.

Positions are milliseconds of audio since the pacer was created. Marks placed with ``push_mark`` are
sent after the audio before them; Twilio echoes a mark when that audio has played, which gives a
lower bound on what the caller heard. ``heard_ms`` combines it with the play-out estimate.
``playing_ms(at=...)`` tells what played at an earlier moment (up to ten seconds back): the echo guard asks
what played when a caller's frame was captured, which a busy server handles later. Twilio plays our audio
later than the estimate (the network both ways, its jitter buffer). With ``measure_late`` (a real stream's
marks, not a harness's on its own clock), ``played_late`` measures by how much from the marks
(``voice.audio.played_late``), and ``heard_ms`` counts it: what the caller heard is that much behind the
estimate. A sentence's mark comes back only after the whole sentence has played, and the echo guard needs the
reading before the echo of the greeting's first words comes back: until a mark has measured it, each
play-out's first frame goes out alone, followed by a mark of the pacer's own (a probe).

``pause`` is a ``clear`` that loses nothing: what was sent and not heard goes back to the head of the queue
(the same audio at the same positions; its marks under new names, since Twilio echoes the flushed ones),
and ``resume`` sends it again. The agent pauses when the caller talks over it and goes on when that was
only a "כן" (``voice.agent.interruption``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, cast

from voice import metrics
from voice.audio.frames import FRAME_BYTES, FRAME_MS
from voice.audio.played_late import PlayedLate

if TYPE_CHECKING:
    from voice.agent.ports import MediaSink

_FRAME_S = FRAME_MS / 1000
DEFAULT_LEAD_MS = 600  # the speaker's and the session's default too
DEFAULT_BATCH_MS = 200
_HISTORY_S = 10.0  # how far back ``playing_ms(at=...)`` can tell what played (a loop that far behind is lost anyway)


class Clock(Protocol):
    """Where the pacer gets time from; tests inject a fast or manual clock."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The event loop's monotonic clock, optionally running ``speed`` times faster (tests, benchmarks)."""

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop of the latest reading

    def now(self) -> float:
        # The loop's own clock, not ``time.monotonic``: uvloop's timers count whole milliseconds from a
        # cached clock, and a sender that read another clock would wake early and sleep again. The loop is
        # kept, not looked up on every reading: read twice for every frame a caller sends us, the look-up
        # (~0.8 µs) cost more than the reading; a clock read on another loop (tests) looks it up again.
        loop = self._loop
        if loop is None or not loop.is_running():
            loop = self._loop = asyncio.get_running_loop()
        return loop.time() * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)


class _Mark:
    __slots__ = ("name", "probe")

    def __init__(self, name: str, probe: bool = False) -> None:
        self.name = name
        self.probe = probe  # the pacer's own, to measure ``played_late``: it ends no sentence


class Pacer:
    def __init__(
        self,
        sink: MediaSink,
        *,
        lead_ms: int = DEFAULT_LEAD_MS,  # past the lead the buffer swings lead-batch..lead ms: 400 ms of stall cushion
        clock: Clock | None = None,
        play_grace_ms: int = 1500,
        batch_ms: int | None = None,  # None: 200 ms, or the lead or the message cap when shorter
        # A wake-up up to max_message_ms - batch_ms late catches up in one message (a short one after a whole
        # one would be followed by a batch's wait, which reads as a gap).
        max_message_ms: int = 400,
        on_queued: Callable[[bytes, int], None] | None = None,  # frames and their position, as queued
        resume_overlap_ms: int = 100,
        measure_late: bool = False,  # measure ``played_late`` by Twilio's marks (and probe until one has)
    ) -> None:
        if lead_ms < FRAME_MS:  # no room for one frame: nothing would ever be sent
            raise ValueError(f"lead_ms ({lead_ms}) is less than one frame ({FRAME_MS} ms)")
        if batch_ms is None:
            batch_ms = max(FRAME_MS, min(DEFAULT_BATCH_MS, lead_ms, max_message_ms) // FRAME_MS * FRAME_MS)
        if batch_ms < FRAME_MS or batch_ms % FRAME_MS or max_message_ms < batch_ms or max_message_ms % FRAME_MS:
            raise ValueError("batch_ms and max_message_ms are whole frames, batch_ms <= max_message_ms")
        if batch_ms > lead_ms:  # the sender would wait for room the lead never has
            raise ValueError(f"batch_ms ({batch_ms}) is more than lead_ms ({lead_ms})")
        self._sink = sink
        self._on_queued = on_queued
        self._batch = batch_ms // FRAME_MS  # frames per message once past the lead
        self._max_frames = max_message_ms // FRAME_MS
        self._lead = lead_ms / 1000
        self._clock: Clock = clock or LoopClock()
        self._grace = play_grace_ms / 1000
        self._queue: deque[bytes | _Mark] = deque()
        self._lock = asyncio.Lock()  # keeps `clear` behind a frame already being sent
        # One pause or clear at a time: each rewrites the queue and the positions around the `clear` it awaits.
        self._control = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sleeper: asyncio.Task[None] | None = None  # the sender, while it sleeps until a batch fits
        self._closed = False
        self._play_end = 0.0  # clock time when everything sent so far will have played
        # The play-out under way started at this clock time from this position (the estimate's: a restart after
        # Twilio's buffer ran dry, a pause, a clear, or a mark that said all had played), and the ones before
        # it as (start, position, end), the last ``_HISTORY_S`` of them: ``playing_ms(at=...)`` reads them.
        self._started_at, self._started_ms = 0.0, 0
        self._history: deque[tuple[float, int, float]] = deque()
        self._pending_marks: dict[str, int] = {}  # name -> position, queued or sent but not echoed
        # How many clears (a pause's too) Twilio had been sent as each pending mark went out: one sent before a
        # clear may come back because the clear flushed it, which says nothing about when Twilio plays.
        self._marks_flushes: dict[str, int] = {}
        self._flushes = 0
        self._sent_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._change_waiters: list[asyncio.Future[None]] = []  # ``wait_played``: woken when its answer may change
        self._clears = 0
        self._paused = False
        self._pauses_asked = 0  # pauses under way or waiting their turn: positions are being rewritten
        self._resume_asked = False  # ``resume`` came meanwhile: it applies once the last of them is done
        # A pause sends again from this much before the heard estimate: Twilio plays what we send a network
        # latency after we send it, so the estimate runs ahead of the caller's ear (marks confirm it later).
        self._overlap = resume_overlap_ms
        self._rewound = 0  # how far the latest pause went back before the estimate
        self._resent_marks = 0
        # What was sent lately, as (position, frames or mark): a pause sends the unheard part again. The
        # heard estimate trails what was sent by at most the lead and one message.
        self._sent_log: deque[tuple[int, bytes | _Mark]] = deque(
            maxlen=2 * (round(self._lead * 1000) // FRAME_MS + self._max_frames) + 16
        )
        self._mid_sentence = False  # the last thing sent was audio with no mark after it yet
        self._measure_late = measure_late
        self._fresh = True  # play-out (re)started and nothing sent since: the next message starts it
        self._probes = 0
        self._after_probe = False  # the probe's frame went alone: the next message makes the burst whole
        self.played_late = PlayedLate()
        self.pushed_ms = 0  # position after everything queued
        self.sent_ms = 0  # position after everything sent
        self.echoed_ms = 0  # position of the latest mark Twilio echoed as played
        # Each change to what ``playing_span`` answers other than the clock moving on (audio sent, a play-out
        # (re)started, a mark echoed): an answer carried forward holds only while this stands still.
        self.changes = 0
        self.frames_sent = 0
        self.media_messages_sent = 0
        self.marks_sent = 0

    # -- feeding --------------------------------------------------------------------------------
    def push(self, frames: bytes) -> None:
        """Queue whole 160-byte mu-law frames."""
        if len(frames) % FRAME_BYTES:
            raise ValueError("the pacer takes whole 160-byte frames")
        if not frames or self._closed:
            return
        self._queue.extend(frames[i : i + FRAME_BYTES] for i in range(0, len(frames), FRAME_BYTES))
        if self._on_queued is not None:
            self._on_queued(frames, self.pushed_ms)
        self.pushed_ms += len(frames) // FRAME_BYTES * FRAME_MS
        self._kick()

    def push_mark(self, name: str) -> int:
        """Queue a mark after the audio queued so far; returns its position."""
        self._pending_marks[name] = self.pushed_ms
        self._queue.append(_Mark(name))
        self._kick()
        return self.pushed_ms

    def _kick(self) -> None:
        if self._closed:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    # -- what Twilio tells us -------------------------------------------------------------------
    def on_mark(self, name: str, at: float | None = None) -> bool:
        """Twilio echoed ``name`` (at clock time ``at``, as Twilio sent it; None: now). Returns True if it
        means "played" (False: unknown or flushed by clear)."""
        position = self._pending_marks.pop(name, None)
        if position is None:
            return False
        if self._marks_flushes.pop(name, None) == self._flushes and self._measure_late:
            estimated_end = self._played_at(position)
            if estimated_end is not None:
                self.played_late.add(self._clock.now() if at is None else at, estimated_end)
        self.echoed_ms = max(self.echoed_ms, position)
        self.changes += 1  # the floor under the estimate, or how late Twilio plays
        # Marks come back in order: anything earlier has played too.
        for other in [n for n, p in self._pending_marks.items() if p <= position]:
            del self._pending_marks[other]
            self._marks_flushes.pop(other, None)
        if self.echoed_ms >= self.sent_ms:  # Twilio has played everything we sent: play-out ended by now
            now = self._clock.now()
            if now < self._play_end:
                self._restart_play_out(now)
                if self._asleep():  # until a batch fits by the old estimate: the caller hears nothing now
                    self._stop_sender()
                    self._kick()
        self._changed()
        return True

    def heard_ms(self) -> int:
        """Best estimate of the position the caller has heard up to: what had played by the estimate as late
        as Twilio plays (``played_late``), never past what was sent (after a pause, what it sends again from)."""
        now, late = self._clock.now(), self.played_late.seconds
        # Until a mark has measured how late Twilio plays: the play-out under way, as estimated.
        estimate = self._played_by(now - late) if late else self.sent_ms - round(max(0.0, self._play_end - now) * 1000)
        return max(self.echoed_ms, min(estimate, self.sent_ms), 0)

    def _played_by(self, at: float) -> int:
        """The position the estimate says had played by clock time ``at`` (0 before anything it keeps)."""
        if at >= self._started_at:
            return self._started_ms + round((at - self._started_at) * 1000)
        for started_at, started_ms, ended_at in reversed(self._history):
            if at >= started_at:
                return started_ms + round((min(at, ended_at) - started_at) * 1000)
        return 0

    def playing_ms(self, at: float | None = None, now: float | None = None) -> int | None:
        """The position playing now, or None when nothing is (all sent has played, by the estimate or
        by Twilio's marks). ``at``: at that earlier clock time instead (up to ``_HISTORY_S`` back), by the
        estimate alone: the echo guard asks what played when the caller's frame was captured, which a busy
        loop handles a few hundred ms later (an ``at`` not before now is now). ``now``: the clock's reading
        ``at`` was taken from (None: read it), so that one question reads the clock once."""
        return self.playing_span(at, now)[0]

    def playing_span(self, at: float | None = None, now: float | None = None) -> tuple[int | None, float]:
        """``playing_ms``'s answer, and for how many ms after ``at`` it holds carried forward: a position
        moving on 1 ms a ms, or None staying None, until the pacer next changes (``changes``). 0: not at all
        (a mark said more had played than the estimate, which then stands still until the estimate passes it).
        Whole ms: a position carried fewer ms than that is, to the ms, the one asking again gives.
        The echo guard asks on every inbound frame, and between changes carries the answer by media time
        (``voice.audio.playing_at_capture``)."""
        if self.sent_ms == 0:
            return None, math.inf
        # ``heard_ms`` inlined, on one reading of the clock: the echo guard asks on every inbound frame.
        if now is None:
            now = self._clock.now()
        if at is None or at >= now:
            buffered = self._play_end - now
            if buffered <= 0.0:
                return None, math.inf
            estimate = self.sent_ms - round(buffered * 1000)
            position = max(self.echoed_ms, min(estimate, self.sent_ms), 0)
            return position, (self.sent_ms - position if position == estimate else 0.0)
        if at >= self._started_at:  # the play-out under way: what was sent since is all behind it
            buffered = self._play_end - at
            if buffered <= 0.0:
                return None, math.inf
            estimate = self.sent_ms - round(buffered * 1000)
            return (estimate, self.sent_ms - estimate) if estimate >= 0 else (0, 0.0)
        next_start = self._started_at  # the play-out after the one ``at`` falls in (or before)
        for started_at, started_ms, ended_at in reversed(self._history):
            if at >= started_at:
                if at < ended_at:
                    return started_ms + round((at - started_at) * 1000), round((ended_at - at) * 1000)
                return None, round((next_start - at) * 1000)  # between two play-outs: until the next starts
            next_start = started_at
        return None, round((next_start - at) * 1000)

    def _played_at(self, position: int) -> float | None:
        """The clock time by which the estimate said audio up to ``position`` had played (None: it does not
        know, as for a mark with no audio before it, or one further back than it keeps)."""
        if self._started_ms < position <= self.sent_ms:
            return self._started_at + (position - self._started_ms) / 1000
        for started_at, started_ms, ended_at in reversed(self._history):
            if started_ms < position <= started_ms + round((ended_at - started_at) * 1000):
                return started_at + (position - started_ms) / 1000
        return None

    def _restart_play_out(self, now: float) -> None:
        """Play-out starts again at ``now`` from ``sent_ms`` (by the estimate): the one before ends there
        (or where its audio ran out), and is kept for ``playing_ms(at=...)``."""
        history = self._history
        history.append((self._started_at, self._started_ms, min(self._play_end, now)))
        while history and history[0][2] < now - _HISTORY_S:
            history.popleft()
        self._started_at, self._started_ms, self._play_end = now, self.sent_ms, now
        self._fresh = True
        self.changes += 1

    def buffered_ms(self) -> int:
        """Audio queued here or sent and not yet played."""
        ahead = max(0.0, self._play_end - self._clock.now())
        return self.pushed_ms - self.sent_ms + round(ahead * 1000)

    # -- control --------------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self._paused

    async def pause(self) -> int:
        """Stop sending and have Twilio drop its buffer, keeping what the caller did not hear to send again
        on ``resume``. Returns the position it will send again from: what the caller surely heard (a whole
        frame, ``resume_overlap_ms`` before the estimate unless a mark says more)."""
        self._pauses_asked += 1
        try:
            async with self._control:
                return await self._pause()
        except BaseException:
            if self._pauses_asked == 1:  # this pause never happened: a later one must not resume by itself
                self._resume_asked = False
            raise
        finally:
            self._pauses_asked -= 1
            if self._resume_asked and not self._pauses_asked:
                self._resume_asked = False
                self.resume()

    async def _pause(self) -> int:
        if self._paused or self._closed:
            return self.sent_ms
        estimate = self.heard_ms()
        heard = max(self.echoed_ms, estimate - self._overlap) // FRAME_MS * FRAME_MS
        # Never before what it can send again (nothing, right after a clear): positions would shift.
        heard = max(heard, self._sent_log[0][0] if self._sent_log else self.sent_ms)
        self._rewound = max(0, estimate - heard)
        self._paused = True
        self._stop_sender()
        async with self._lock:
            self._flushes += 1
            await self._sink.send_clear()
        # A mark echoed meanwhile says the caller heard further than the estimate did.
        if self.echoed_ms > heard:
            heard, self._rewound = self.echoed_ms, max(0, estimate - self.echoed_ms)
        again: list[bytes | _Mark] = []
        for position, item in self._sent_log:
            if isinstance(item, _Mark):
                if position > heard:  # flushed by the clear: its echo must not count, so a new name
                    self._pending_marks.pop(item.name, None)
                    self._marks_flushes.pop(item.name, None)
                    self._resent_marks += 1
                    item = _Mark(f"{item.name}.{self._resent_marks}", item.probe)
                    self._pending_marks[item.name] = position
                    again.append(item)
                continue
            first = max(0, heard - position) // FRAME_MS
            again.extend(item[i : i + FRAME_BYTES] for i in range(first * FRAME_BYTES, len(item), FRAME_BYTES))
        self._queue.extendleft(reversed(again))
        self._sent_log.clear()
        self.sent_ms = heard
        self._mid_sentence = False
        self._restart_play_out(self._clock.now())
        self._changed()
        return heard

    def held_ms(self) -> int:
        """While paused: audio the caller has not heard yet even by the estimate (what the pause held,
        less what it sends again only to be safe)."""
        return max(0, self.pushed_ms - self.sent_ms - self._rewound) if self._paused else 0

    def resume(self) -> None:
        """Send again from where ``pause`` stopped. Asked while a pause is under way (it awaits Twilio's
        clear) or waits its turn, it applies once that pause is done: audio sent before then would land
        behind the clear, out of order, and a pause that came after it would stand."""
        if self._pauses_asked:
            self._resume_asked = True
            return
        if not self._paused:
            return
        self._paused = False
        self._restart_play_out(self._clock.now())
        self._kick()
        self._changed()

    def _stop_sender(self) -> None:
        if self._task is not None and self._asleep():
            self._task.cancel()  # only while sleeping: never in the middle of a send
            self._task = self._sleeper = None

    def _asleep(self) -> bool:
        """The current sender sleeps until a batch fits (not a sender cancelled before it)."""
        return self._sleeper is not None and self._sleeper is self._task

    async def clear(self) -> int:
        """Stop sending, tell Twilio to drop its buffer, return the position the caller heard."""
        async with self._control:
            return await self._clear()

    async def _clear(self) -> int:
        heard = self.heard_ms()
        was_paused, self._paused = self._paused, False
        self._queue.clear()
        self._sent_log.clear()
        self.pushed_ms = self.sent_ms
        self._pending_marks.clear()  # their echoes now mean "flushed"
        self._marks_flushes.clear()
        self._clears += 1
        self._mid_sentence = False
        self._stop_sender()
        if not was_paused:  # a pause already emptied Twilio's buffer, and nothing was sent since
            async with self._lock:
                self._flushes += 1
                await self._sink.send_clear()
                # Play-out restarts as Twilio takes the clear, under the lock: audio pushed meanwhile is
                # sent after it and counted from here, not forgotten.
                self._restart_play_out(self._clock.now())
        else:
            self._restart_play_out(self._clock.now())
        self._release_sent_waiters(everything=True)
        self._changed()
        return heard

    async def wait_sent(self, position: int) -> None:
        """Return once audio up to ``position`` has been sent (or was cleared, or the pacer closed)."""
        if self._closed or self.sent_ms >= position or self.pushed_ms < position:
            return
        future = asyncio.get_running_loop().create_future()
        self._sent_waiters.append((position, future))
        await future

    async def wait_played(self) -> bool:
        """Wait until everything queued has played: the last mark echoed, or (marks lost) the estimated
        play-out end, as late as Twilio plays, plus a grace period passed. Returns False if a ``clear``
        intervened, or if the pacer closed before all of it was sent (it never will be).

        It sleeps until something that could change the answer happens (a send, a mark echoed, a pause,
        a clear, close) or the estimate's deadline comes: polling every 20 ms, as it did, was five times
        the wake-ups of the sender itself on every call that speaks."""
        target, clears = self.pushed_ms, self._clears
        while True:
            if self._clears != clears or (self._closed and self.sent_ms < target):
                return False
            if self.echoed_ms >= target:
                return True
            deadline = None
            if self.sent_ms >= target:
                deadline = self._play_end + self.played_late.seconds + self._grace - self._clock.now()
                if deadline <= 0:
                    return True
            await self._next_change(deadline)

    async def _next_change(self, within_s: float | None) -> None:
        """Until ``_changed`` is called, or ``within_s`` seconds on the pacer's clock (None: no limit)."""
        loop = asyncio.get_running_loop()
        change: asyncio.Future[None] = loop.create_future()
        self._change_waiters.append(change)
        timer = None if within_s is None else loop.create_task(self._clock.sleep(within_s))
        if timer is not None:
            timer.add_done_callback(lambda _: self._wake_one(change))
        try:
            await change
        finally:
            if timer is not None:
                timer.cancel()
            with contextlib.suppress(ValueError):
                self._change_waiters.remove(change)

    def _changed(self) -> None:
        waiters, self._change_waiters = self._change_waiters, []
        for waiter in waiters:
            self._wake_one(waiter)

    @staticmethod
    def _wake_one(waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            waiter.set_result(None)

    async def close(self) -> None:
        self._closed = True
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._release_sent_waiters(everything=True)
        self._changed()

    # -- the sender -----------------------------------------------------------------------------
    async def _run(self) -> None:
        queue, clock, sink = self._queue, self._clock, self._sink
        flowing = False  # this wake-up has sent audio: whatever still fits goes on at once
        while True:
            if not queue or self._paused:
                flowing = False
                self._wake.clear()
                await self._wake.wait()
                continue
            item = queue[0]
            if isinstance(item, _Mark):
                queue.popleft()
                async with self._lock:
                    await sink.send_mark(item.name)
                if item.name in self._pending_marks:  # not cleared meanwhile
                    self._marks_flushes[item.name] = self._flushes
                self._sent_log.append((self.sent_ms, item))
                self.marks_sent += 1
                if not item.probe:
                    self._mid_sentence = False
                continue
            if self._lock.locked():  # a clear is on its way to Twilio: count from where it leaves play-out
                async with self._lock:
                    pass
                continue
            now = clock.now()
            if self._play_end < now:
                if self._mid_sentence:  # a gap the caller hears inside a sentence (marks end sentences)
                    metrics.outbound_underrun()
                self._restart_play_out(now)  # Twilio's buffer ran dry: play-out restarts now
            # Frames ready to go in one message: up to a mark, the end of the queue or the message cap.
            ready = 0
            for queued in itertools.islice(queue, self._max_frames):
                if type(queued) is _Mark:
                    break
                ready += 1
            # Wait until a whole batch (or all that is queued, if less) fits within the lead. A batch that a
            # mark cuts goes out as two messages in the same wake-up, not as a short message and then a whole
            # batch's wait (a hole in what Twilio is sent, though not in what it plays).
            # Once a wake-up has sent, whatever still fits goes on at once; when nothing does, the sender sleeps
            # until a batch fits, not until one frame does (one timer per message, not two).
            need = self._batch if ready >= self._batch else self._frames_queued()
            if flowing and self._play_end + _FRAME_S - self._lead - now <= 1e-6:
                need = 1
            wait = self._play_end + need * _FRAME_S - self._lead - now
            if wait > 1e-6:
                flowing = False
                self._sleeper = asyncio.current_task()
                try:
                    await clock.sleep(wait)
                finally:
                    if self._sleeper is asyncio.current_task():
                        self._sleeper = None
                continue
            # Send everything ready that fits: the opening burst, or more than a batch after a late wake-up.
            fits = int((self._lead - (self._play_end - now)) / _FRAME_S + 1e-6)
            count = min(ready, max(fits, 1))
            if self._fresh and self._measure_late and not self.played_late.measured:
                count = 1  # the probe's reading comes back before the echo of our first words can
            elif self._after_probe:  # the burst's first frame went alone: it still ends on a whole batch
                count = min(count, self._max_frames - 1)
            self._after_probe = False
            # The ``count`` items at the head are frames: ``ready`` stopped at the first mark.
            payload = (
                cast(bytes, queue.popleft())
                if count == 1
                else b"".join(cast("list[bytes]", [queue.popleft() for _ in range(count)]))
            )
            self._sent_log.append((self.sent_ms, payload))
            self._play_end += count * _FRAME_S
            self.sent_ms += count * FRAME_MS
            self.changes += 1
            self.frames_sent += count
            self.media_messages_sent += 1
            self._mid_sentence = True
            flowing = True
            if self._fresh:
                self._fresh = False
                if self._measure_late and not self.played_late.measured:
                    self._probes += 1
                    probe = _Mark(f"~{self._probes}", probe=True)
                    self._pending_marks[probe.name] = self.sent_ms
                    queue.appendleft(probe)
                    self._after_probe = True
            async with self._lock:
                await sink.send_media(payload)
            if self._sent_waiters:
                self._release_sent_waiters()
            if self._change_waiters:
                self._changed()

    def _frames_queued(self) -> int:
        """Frames in the queue, marks aside, counted up to a batch."""
        count = 0
        for queued in self._queue:
            if type(queued) is not _Mark:
                count += 1
                if count >= self._batch:
                    break
        return count

    def _release_sent_waiters(self, everything: bool = False) -> None:
        keep = []
        for position, future in self._sent_waiters:
            if everything or self.sent_ms >= position:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((position, future))
        self._sent_waiters = keep
