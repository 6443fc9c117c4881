"""A random user of the pacer and a Twilio that plays what it is sent, checking what Twilio got.

Each run (one seed) pushes audio and marks, advances the clock, pauses, clears, resumes, waits for
play-out and closes, in a random order, while Twilio may hold any send (a media message, a mark, a clear)
for a while. Every frame carries its own id and position, so what Twilio received can be checked against
what was pushed: in order, nothing dropped by a clear sent after it, marks at the positions they were
queued at, a pause sending again from no later than what Twilio played, Twilio never holding more than the
lead (unless the network held a send), and nothing left waiting once the pacer closed.

``serial`` is how the Channels consumer drives it (a mark's echo and a new pause never arrive while a pause
is under way); ``free`` lets everything happen at once. ``run_one(seed, steps, mode, trace=True)`` prints
the run step by step, to read a failure.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections import Counter
from collections.abc import Coroutine
from typing import Any

from tests.support.agent_doubles import ManualClock, settle
from voice.audio.frames import FRAME_BYTES, FRAME_MS
from voice.audio.pacer import Pacer, _Mark

FILL = b"\xaa" * (FRAME_BYTES - 8)


def frame(uid: int, pos: int) -> bytes:
    return struct.pack(">II", uid, pos) + FILL


def unframe(payload: bytes) -> list[tuple[int, int]]:
    return [struct.unpack(">II", payload[i : i + 8]) for i in range(0, len(payload), FRAME_BYTES)]


class Failure(Exception):
    def __init__(self, cls: str, detail: str) -> None:
        super().__init__(f"{cls}: {detail}")
        self.cls = cls
        self.detail = detail


class Sink:
    """Twilio: records what it gets, holds sends on request, plays its buffer in real (clock) time."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.hold_next = {"media": False, "clear": False, "mark": False}
        self.gates: list[asyncio.Event] = []
        self.clears = 0
        self.media_held_ever = False
        # Twilio's buffer model
        self.buf_end = 0.0
        self.seg_received_ms = 0
        self.marks_in_buffer: list[tuple[str, float]] = []  # (name, play time)
        self.echo_inflight: list[tuple[str, float]] = []  # (name, deliver time), FIFO
        self.last_deliver = 0.0

    async def _hold(self, kind: str) -> None:
        if self.hold_next[kind]:
            self.hold_next[kind] = False
            ev = asyncio.Event()
            self.gates.append(ev)
            self.h.log(f"  sink holds a {kind}")
            t0 = self.now()
            await ev.wait()
            if self.now() > t0:  # time passed while held: a network stall the pacer cannot see
                self.media_held_ever = True

    def now(self) -> float:
        return self.h.clock.now()

    def _echo_at(self, name: str, t: float) -> None:
        t = max(t, self.last_deliver)
        self.last_deliver = t
        self.echo_inflight.append((name, t))

    def play(self) -> None:
        now = self.now()
        keep = []
        for name, t in self.marks_in_buffer:
            if t <= now + 1e-9:
                self._echo_at(name, t + self.h.rng.choice([0, 0, 0.02, 0.05, 0.12]))
            else:
                keep.append((name, t))
        self.marks_in_buffer = keep

    async def send_media(self, payload: bytes) -> None:
        await self._hold("media")
        self.play()
        now = self.now()
        n = len(payload) // FRAME_BYTES
        self.buf_end = max(self.buf_end, now) + n * FRAME_MS / 1000
        self.seg_received_ms += n * FRAME_MS
        self.h.on_sink_media(payload)
        ahead = self.buf_end - now
        if ahead > self.h.lead / 1000 + 1e-6 and not self.media_held_ever:  # a held send is a network stall
            self.h.fail("lead_exceeded", f"Twilio holds {ahead * 1000:.0f} ms > lead {self.h.lead}")

    async def send_mark(self, name: str) -> None:
        await self._hold("mark")
        self.play()
        self.marks_in_buffer.append((name, max(self.buf_end, self.now())))
        self.h.on_sink_mark(name)

    async def send_clear(self) -> None:
        await self._hold("clear")
        self.play()
        now = self.now()
        actual_heard_local = self.seg_received_ms - max(0.0, self.buf_end - now) * 1000
        for name, _ in self.marks_in_buffer:  # Twilio echoes the marks a clear flushes
            self._echo_at(name, now + self.h.rng.choice([0, 0.02]))
        self.marks_in_buffer = []
        self.buf_end = now
        self.seg_received_ms = 0
        self.clears += 1
        self.h.on_sink_clear(actual_heard_local)


class Harness:
    def __init__(self, seed: int, steps: int, mode: str, trace: bool = False) -> None:
        self.seed = seed
        self.steps = steps
        self.mode = mode
        self.trace = trace
        self.rng = random.Random(seed)
        self.step_no = -1
        self.failures: list[Failure] = []
        self.uid = 0
        self.mark_no = 0
        self.latest: dict[int, int] = {}  # position -> uid of the audio meant to play there
        self.dropped_uids: set[int] = set()
        self.dropped_marks: set[str] = set()  # original names
        self.mark_pos: dict[str, int] = {}
        # segments of what the sink got between clears: base position, items, Twilio's heard at its end
        self.segments: list[dict[str, Any]] = [{"base": 0, "items": [], "heard_local": None, "kind": "start"}]
        self.ctrl_tasks: list[tuple[str, asyncio.Task]] = []
        self.waiters: list[tuple[int, asyncio.Task]] = []
        self.sent_waiters: list[asyncio.Task] = []
        self.pause_state: dict[int, str] = {}  # id -> queued | running | done
        self.last_ctrl = None  # call order of pause / resume / clear
        self.flags: Counter[str] = Counter()
        self.lost_resume_kind: str | None = None

    def log(self, msg: str) -> None:
        if self.trace:
            print(f"[{self.step_no:4d} t={self.clock.now():7.3f}] {msg}")

    def fail(self, cls: str, detail: str) -> None:
        self.failures.append(Failure(cls, f"step {self.step_no}: {detail}"))
        self.log(f"!! FAIL {cls}: {detail}")

    # -- the sink's view -------------------------------------------------------------------
    def on_sink_media(self, payload: bytes) -> None:
        seg = self.segments[-1]
        for uid, pos in unframe(payload):
            if uid in self.dropped_uids:
                self.fail("dropped_audio_sent", f"uid {uid}@{pos} sent after a clear dropped it")
            elif self.latest.get(pos) != uid:
                self.fail("wrong_audio_at_position", f"uid {uid}@{pos}, latest there {self.latest.get(pos)}")
            seg["items"].append(("f", uid, pos))
        positions = [pos for _, pos in unframe(payload)]
        self.log(f"  sink media {positions[0]}..{positions[-1]} ({len(positions)} fr)")

    def on_sink_mark(self, name: str) -> None:
        orig = name.split(".")[0]
        if orig in self.dropped_marks:
            self.fail("dropped_mark_sent", f"{name} sent after a clear dropped it")
        self.segments[-1]["items"].append(("m", name, None))
        self.log(f"  sink mark {name}")

    def on_sink_clear(self, heard_local: float) -> None:
        self.segments[-1]["heard_local"] = heard_local
        self.segments.append({"base": None, "items": [], "heard_local": None, "kind": "?"})
        self.log(f"  sink clear (Twilio had played {heard_local:.0f} ms of the segment)")

    # -- checks ----------------------------------------------------------------------------
    def check_always(self) -> None:
        p = self.pacer
        if p.sent_ms > p.pushed_ms:
            self.fail("sent_gt_pushed", f"sent {p.sent_ms} > pushed {p.pushed_ms}")
        if p.sent_ms % FRAME_MS or p.pushed_ms % FRAME_MS:
            self.fail("misaligned", f"sent {p.sent_ms} pushed {p.pushed_ms}")

    def quiescent(self) -> bool:
        return not self.sink.gates and all(t.done() for _, t in self.ctrl_tasks)

    def check_quiescent(self) -> None:
        seg = self.segments[-1]
        if seg["base"] is None:
            self.fail("segment_without_base", "a clear reached Twilio but no pause/clear claimed it")
            return
        frames = sum(1 for it in seg["items"] if it[0] == "f")
        if seg["base"] + frames * FRAME_MS != self.pacer.sent_ms:
            self.fail(
                "sent_ms_vs_sink",
                f"pacer sent_ms {self.pacer.sent_ms} but sink segment base {seg['base']} + {frames} frames",
            )

    def check_segments(self) -> None:
        for k, seg in enumerate(self.segments):
            base = seg["base"]
            expected = base
            seen_marks = set()
            for kind, a, pos in seg["items"]:
                if kind == "f":
                    if expected is None:
                        expected = pos
                    if pos != expected:
                        self.fail(
                            "order_gap_dup",
                            f"segment {k} ({seg['kind']}, base {base}): frame at {pos}, expected {expected}",
                        )
                        expected = pos
                    expected += FRAME_MS
                else:
                    orig = a.split(".")[0]
                    if orig in seen_marks:
                        self.fail("dup_mark", f"segment {k}: {a} twice")
                    seen_marks.add(orig)
                    if expected is not None and self.mark_pos[orig] != expected:
                        self.fail(
                            "mark_position",
                            f"segment {k}: mark {a} queued at {self.mark_pos[orig]}, sent at {expected}",
                        )
            # A pause sends again from what the caller surely heard: never past what Twilio played.
            if k + 1 < len(self.segments):
                nxt = self.segments[k + 1]
                if nxt["kind"] == "pause" and base is not None and nxt["base"] is not None:
                    actual = base + seg["heard_local"]
                    if nxt["base"] > actual + 1e-6 and not self.sink.media_held_ever:
                        self.fail(
                            "pause_skips_unheard",
                            f"pause resends from {nxt['base']} but Twilio had played only to {actual:.0f}",
                        )

    # -- the run ---------------------------------------------------------------------------
    async def run(self) -> None:
        self.clock = ManualClock()
        self.sink = Sink(self)
        rng = self.rng
        self.lead = rng.choice([100, 200, 300, 400, 500, 600])  # 500, 600: bursts of several messages
        overlap = rng.choice([0, 100, 100, 200])
        grace = rng.choice([300, 1500])
        h = self

        class P(Pacer):
            async def _pause(self) -> int:
                me = id(asyncio.current_task())
                h.pause_state[me] = "running"
                n0 = h.sink.clears
                try:
                    r = await super()._pause()
                finally:
                    h.pause_state[me] = "done"
                if h.sink.clears > n0:
                    seg = h.segments[n0 + 1]
                    seg["base"], seg["kind"] = r, "pause"
                if self.echoed_ms > self.sent_ms:
                    h.flags["echoed_past_sent_after_pause"] += 1
                h.log(f"  pause done -> {r} (paused={self._paused}, sent={self.sent_ms})")
                return r

            async def _clear(self) -> int:
                n0 = h.sink.clears
                base = self.sent_ms
                for item in self._queue:
                    if isinstance(item, _Mark):
                        h.dropped_marks.add(item.name.split(".")[0])
                    else:
                        for uid, pos in unframe(item):
                            h.dropped_uids.add(uid)
                            if h.latest.get(pos) == uid:
                                del h.latest[pos]
                r = await super()._clear()
                if h.sink.clears > n0:
                    seg = h.segments[n0 + 1]
                    seg["base"], seg["kind"] = base, "clear"
                h.log(f"  clear done -> {r} (sent={self.sent_ms}, pushed={self.pushed_ms})")
                return r

            async def _run(self) -> None:
                try:
                    await super()._run()
                except asyncio.CancelledError:
                    raise
                except BaseException as exc:
                    h.fail("sender_raised", repr(exc))
                    raise

        self.pacer = P(self.sink, lead_ms=self.lead, clock=self.clock, play_grace_ms=grace, resume_overlap_ms=overlap)
        self.log(f"seed {self.seed}: lead {self.lead} overlap {overlap} grace {grace} mode {self.mode}")
        hold_p = rng.choice([0.0, 0.3, 0.6])
        weights = {
            "push": 20,
            "mark": 8,
            "advance": 25,
            "pause": 6,
            "clear": 3,
            "resume": 8,
            "wait_played": 4,
            "wait_sent": 2,
            "hold": 6 * (hold_p > 0),
            "release": 8,
            "settle": 3,
        }
        ops, w = list(weights), list(weights.values())
        for step in range(self.steps):
            self.step_no = step
            op = rng.choices(ops, w)[0]
            await self.do(op, rng)
            self.deliver_echoes()
            self.check_always()
            if self.quiescent():
                self.check_quiescent()
            if self.failures and not self.trace:
                break
        if not self.failures or self.trace:
            await self.finish(rng, grace)
        self.check_segments()

    def pause_in_flight(self) -> bool:
        return getattr(self.pacer, "_pauses_asked", False) or any(s == "running" for s in self.pause_state.values())

    async def do(self, op: str, rng: random.Random) -> None:
        p = self.pacer
        if op == "push":
            n = rng.choice([1, 1, 2, 3, 5, 8, 12, 25])
            start = p.pushed_ms
            data = []
            for i in range(n):
                self.uid += 1
                pos = start + i * FRAME_MS
                data.append(frame(self.uid, pos))
                self.latest[pos] = self.uid
            p.push(b"".join(data))
            self.log(f"push {n} frames at {start}")
        elif op == "mark":
            self.mark_no += 1
            name = f"m{self.mark_no}"
            self.mark_pos[name] = p.push_mark(name)
            self.log(f"push_mark {name} at {self.mark_pos[name]}")
        elif op == "advance":
            dt = rng.choice([0.001, 0.013, 0.02, 0.05, 0.1, 0.1, 0.3, 1.0])
            self.log(f"advance {dt}")
            if self.sink.gates:  # time passes while a send is held: a network stall the pacer cannot see
                self.sink.media_held_ever = True
            await self.clock.advance(dt)
        elif op == "pause":
            if self.mode == "serial" and self.pause_in_flight():
                return
            await self.start_control("pause", p.pause())
        elif op == "clear":
            await self.start_control("clear", p.clear())
        elif op == "resume":
            self.last_ctrl = "resume"
            queued = any(
                k == "pause" and not t.done() and self.pause_state.get(id(t)) is None for k, t in self.ctrl_tasks
            )
            if getattr(p, "_pauses_asked", False):
                self.flags["resume_while_pauses_asked"] += 1
            pausing = any(s == "running" for s in self.pause_state.values())
            self.lost_resume_kind = "pause queued on _control" if queued else "pause in flight" if pausing else "plain"
            self.log(f"resume() (paused={p.paused}, pausing={pausing}, queued pause={queued})")
            p.resume()
        elif op == "wait_played":
            self.waiters.append((p.pushed_ms, asyncio.ensure_future(p.wait_played())))
            self.log(f"wait_played() target {p.pushed_ms}")
        elif op == "wait_sent":
            if p.pushed_ms:
                self.sent_waiters.append(asyncio.ensure_future(p.wait_sent(rng.randrange(0, p.pushed_ms + 1))))
        elif op == "hold":
            kind = rng.choice(["media", "media", "clear", "clear", "mark"])
            self.sink.hold_next[kind] = True
            self.log(f"hold next {kind}")
        elif op == "release":
            if self.sink.gates:
                ev = self.sink.gates.pop(rng.randrange(len(self.sink.gates)))
                ev.set()
                self.log("release a held send")
                await settle()
        elif op == "settle":
            await settle()

    async def start_control(self, kind: str, call: Coroutine[Any, Any, int]) -> None:
        """A pause or a clear, started as its own task (as the session's handlers would) and left running."""
        self.log(f"{kind}()")
        self.last_ctrl = kind
        self.ctrl_tasks.append((kind, asyncio.ensure_future(call)))
        await settle()

    def deliver_echoes(self) -> None:
        self.sink.play()
        if self.mode == "serial" and self.pause_in_flight():
            return
        now = self.clock.now()
        while self.sink.echo_inflight and self.sink.echo_inflight[0][1] <= now + 1e-9:
            name, _ = self.sink.echo_inflight.pop(0)
            if self.pause_in_flight():
                self.flags["echo_while_pauses_asked"] += 1
            r = self.pacer.on_mark(name)
            self.log(f"on_mark {name} -> {r} (echoed_ms={self.pacer.echoed_ms}, sent={self.pacer.sent_ms})")

    async def release_all(self) -> None:
        for k in self.sink.hold_next:
            self.sink.hold_next[k] = False
        for _ in range(50):
            while self.sink.gates:
                self.sink.gates.pop(0).set()
            await settle(10)
            if not self.sink.gates:
                break

    async def finish(self, rng: random.Random, grace: int) -> None:
        p = self.pacer
        self.step_no = self.steps
        early_close = rng.random() < 0.25
        if self.sink.gates:
            self.sink.media_held_ever = True  # finish() advances the clock with these still held
        if early_close:
            self.log("close() with sends possibly held")
            await p.close()
        await self.release_all()
        for kind, t in self.ctrl_tasks:
            if not t.done():
                try:
                    await asyncio.wait_for(asyncio.shield(t), 0.5)
                except TimeoutError:
                    self.fail("control_hangs", f"{kind} never finished")
            if t.done() and not t.cancelled() and t.exception() is not None:
                self.fail("control_raised", f"{kind}: {t.exception()!r}")
        if not early_close:
            self.check_always()
            if self.last_ctrl in ("resume", "clear") and p.paused:
                self.fail("resume_lost", f"last call was {self.last_ctrl} but paused ({self.lost_resume_kind})")
            if not p.paused:
                for _ in range(200):
                    if p.sent_ms >= p.pushed_ms:
                        break
                    await self.clock.advance(0.1)
                    self.deliver_echoes()
                if p.sent_ms != p.pushed_ms:
                    self.fail("not_drained", f"sent {p.sent_ms} pushed {p.pushed_ms}")
                self.check_quiescent()
                # everything not dropped is in the last segment
                seg = self.segments[-1]
                got = {pos: uid for kind, uid, pos in seg["items"] if kind == "f"}
                for pos in range(seg["base"] or 0, p.pushed_ms, FRAME_MS):
                    if got.get(pos) != self.latest.get(pos):
                        expected = self.latest.get(pos)
                        self.fail("missing_audio", f"position {pos}: Twilio got {got.get(pos)}, pushed {expected}")
                        break
                names = {a.split(".")[0] for kind, a, _ in seg["items"] if kind == "m"}
                for name, pos in self.mark_pos.items():
                    if name not in self.dropped_marks and pos > (seg["base"] or 0) and name not in names:
                        self.fail("missing_mark", f"{name} at {pos} never sent after the last clear")
                        break
            self.log("close()")
            await p.close()
        await settle(10)
        for target, t in self.waiters:
            if not t.done() and p.sent_ms < target:
                self.fail("wait_played_pending_after_close", f"target {target} sent {p.sent_ms}")
        await self.clock.advance((grace + self.lead) / 1000 + 1.0)
        await settle(10)
        for target, t in self.waiters:
            if not t.done():
                self.fail("wait_played_pending_after_close_and_grace", f"target {target}")
            elif not t.cancelled() and t.exception() is not None:
                self.fail("wait_played_raised", repr(t.exception()))
        for t in self.sent_waiters:
            if not t.done():
                self.fail("wait_sent_pending_after_close", "")
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if others:
            self.fail("tasks_left", f"{len(others)}: {[t.get_coro().__qualname__ for t in others][:3]}")
            for t in others:
                t.cancel()
            await settle()


def run_one(seed: int, steps: int, mode: str, trace: bool = False) -> Harness:
    h = Harness(seed, steps, mode, trace)
    asyncio.run(h.run())
    return h
