"""What the echo guard alone costs a call on a clean line, in one process: its share of issue 12's budget.

``bench.listener_cpu`` measures the whole stack, where the guard's few µs a frame drown in Silero's and the
listener's noise, and it hands each reply to the guard in one piece. Here only the guard runs: each call's
line (``bench.listener_cpu``'s scripts: the agent's replies, the caller answering in their pauses on faint
line noise) is heard frame by frame, and our replies are queued as the pacer queues them, in pushes of
``--push-frames`` a little ahead of where they play. Runs with the guard and without it (the same loop,
decoding the same frames) are interleaved ``--reps`` times; the figure is the median of the runs' differences,
process CPU-s per call-minute. Run it in two checkouts, alternately, to compare versions of the guard.

    .venv/bin/python -m bench.guard_cpu [--calls 40] [--seconds 60] [--reps 5] [--push-frames 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import numpy as np

from bench.audio import hebrew_speech
from bench.listener_cpu import AGENT, CALLER, Script, script
from voice.agent.echo_guard import EchoGuard
from voice.audio import mulaw
from voice.audio.frames import FRAME_BYTES, FRAME_MS, SAMPLE_RATE

QUEUED_AHEAD_MS = 400  # the reply's audio is queued this far before it plays (a voice streams ahead of play-out)


@dataclass
class GuardedCall:
    """One call's script, our replies queued in pushes as play-out nears them, and its guard."""

    script: Script
    push_frames: int
    guard: EchoGuard | None = None
    now_ms: int = 0
    queued_ms: int = 0  # our audio queued so far (outbound position)
    next_push: int = 0  # the reply's next byte to queue
    reply_at: int = -1  # the reply being queued: its index in ``script.replies``
    reply_position: int = 0  # the outbound position its first frame was queued at

    def playing_ms(self) -> int | None:
        """Where play-out is (what the pacer's estimate would say): in the reply queued last, or nowhere."""
        if self.reply_at < 0:
            return None
        start, end = self.script.replies[self.reply_at]
        played = self.now_ms - start
        # The script's reply ends with its last sample; what is queued, with its last whole frame.
        whole = len(self.script.reply) // FRAME_BYTES * FRAME_MS
        return self.reply_position + played if start <= self.now_ms < end and played < whole else None

    def queue(self) -> None:
        """Push the reply's next frames while they play within ``QUEUED_AHEAD_MS`` from now."""
        replies, reply = self.script.replies, self.script.reply
        ahead = self.now_ms + QUEUED_AHEAD_MS
        following = self.reply_at + 1
        if following < len(replies) and replies[following][0] <= ahead:
            self.reply_at, self.next_push, self.reply_position = following, 0, self.queued_ms
        if self.reply_at < 0:
            return
        start = replies[self.reply_at][0]
        push_bytes = self.push_frames * FRAME_BYTES
        while self.next_push < len(reply) and start + self.next_push * 1000 // SAMPLE_RATE <= ahead:
            frames = reply[self.next_push : self.next_push + push_bytes]
            if self.guard is not None:
                self.guard.sent(frames, self.queued_ms)
            self.queued_ms += len(frames) // FRAME_BYTES * FRAME_MS
            self.next_push += len(frames)


def cpu_per_call_minute(scripts: list[Script], push_frames: int, *, guard: bool) -> float:
    """Process CPU-s per call-minute of hearing every call's line, with the guard or without it."""
    calls = [GuardedCall(s, push_frames) for s in scripts]
    for call in calls:
        call.guard = EchoGuard(call.playing_ms) if guard else None
    frames = min(len(s.line) for s in scripts) // FRAME_BYTES
    started = time.process_time()
    for index in range(frames):
        for call in calls:
            pcm = mulaw.decode(call.script.line[index * FRAME_BYTES : (index + 1) * FRAME_BYTES])
            call.now_ms += FRAME_MS
            call.queue()
            if call.guard is not None:
                call.guard.hear(pcm)
                _ = call.guard.speaking  # the listener reads it on every frame
    cpu = time.process_time() - started
    return cpu / (len(calls) * frames * FRAME_MS / 60_000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--reps", type=int, default=5, help="runs with the guard and without it, interleaved")
    parser.add_argument("--push-frames", type=int, default=10, help="frames of our audio in each push")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.seconds < 10 or args.reps < 1 or args.push_frames < 1:
        parser.error("--calls ≥ 1, --seconds ≥ 10, --reps ≥ 1 and --push-frames ≥ 1")
    caller = [hebrew_speech(text).astype(np.float64) for text in CALLER]
    agent = hebrew_speech(AGENT).astype(np.float64)
    scripts = [script(args.seconds, np.random.default_rng(100 + i), caller, agent) for i in range(args.calls)]
    with_guard: list[float] = []
    without: list[float] = []
    for _ in range(args.reps):
        without.append(cpu_per_call_minute(scripts, args.push_frames, guard=False))
        with_guard.append(cpu_per_call_minute(scripts, args.push_frames, guard=True))
    added = [w - wo for w, wo in zip(with_guard, without, strict=True)]
    print(f"{args.calls} calls x {args.seconds} s, pushes of {args.push_frames} frames, {args.reps} runs each")
    print(f"without the guard: median {statistics.median(without):.4f} CPU-s per call-minute")
    print(f"with the guard:    median {statistics.median(with_guard):.4f}")
    print(
        f"the guard adds:    median {statistics.median(added):+.4f} (runs {min(added):+.4f} to {max(added):+.4f})"
        " CPU-s per call-minute"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
