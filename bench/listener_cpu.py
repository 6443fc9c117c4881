"""What the turn-taking stack adds to a call's CPU, measured in one process on a fixed workload.

Issue 12 allows the stack (Silero gated by webrtcvad, the echo guard and its canceller) +0.1 CPU-s per
call-minute at 40 calls over webrtcvad alone. ``bench.load`` measures it on the whole server, where the
same run's figure moves by ±0.07 from one run to the next on a shared machine, so a change of a few
hundredths only shows after many alternating pairs. This benchmark runs only the part that differs, the
calls' listeners, in one event loop, frame by frame as fast as they go, and reports process CPU per call-
minute of audio for four configurations, interleaved ``--reps`` times, and how much of it Silero's ONNX runs
took (the rest of what the stack adds is its Python):

- ``webrtcvad``: webrtcvad alone and no guard (the agent before issue 12);
- ``stack``: the whole stack, as a call runs it;
- ``no guard`` and ``no Silero``: the stack without one of its two parts (what each costs).

Each call is a call like ``bench.load``'s: the agent speaks a reply (its audio handed to the guard when
queued, played by a play-out clock), and the caller answers in its pauses (Hebrew sentences from espeak-ng
on faint line noise, through mu-law); the calls start at different points of their cycle. The figures
leave out what a server adds around them (sockets, JSON, daphne), and what the stack costs the rest of the
server by its memory (Silero's weights pass through the cache on every run), so ``bench.load``'s A/B is
larger; use this one to compare versions of the stack. It runs on asyncio's own loop with no pacer, so it
says nothing about timers or the sender (uvloop's millisecond clock, for one).

    .venv/bin/python -m bench.listener_cpu [--calls 40] [--seconds 20] [--reps 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from bench.audio import hebrew_speech
from bench.turn_taking import MemoryReporter
from voice.agent.config import AgentConfig
from voice.agent.echo_guard import EchoGuard
from voice.agent.listener import Listener
from voice.agent.silero_batch import SileroBatch
from voice.agent.voicing import SileroVoicing, Voicing
from voice.audio import mulaw
from voice.audio.clock import MediaClock
from voice.audio.frames import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
from voice.providers.fake import FakeASR

CALLER = ("שלום, אני רוצה לקבוע תור לשבוע הבא", "כמה זה עולה בערך?")
AGENT = "תודה על הפנייה, אשמח לספר לכם על השירות שלנו ועל המחירים."
CONFIGURATIONS = {  # name: (Silero, guard)
    "webrtcvad": (False, False),
    "stack": (True, True),
    "no guard": (True, False),
    "no Silero": (False, True),
}


@dataclass
class Script:
    """One call's audio: what the caller's line carries, and when and what the agent says."""

    line: bytes  # mu-law, the whole call
    replies: list[tuple[int, int]]  # (start, end) in ms of media time
    reply: bytes  # the agent's audio (mu-law, whole frames), the same every time


def script(seconds: int, rng: np.random.Generator, caller: list[np.ndarray], agent: np.ndarray) -> Script:
    line = rng.normal(0, 30, seconds * SAMPLE_RATE)  # a faint line noise
    replies: list[tuple[int, int]] = []
    at = float(rng.uniform(0, 3))  # calls start at different points of their cycle
    reply_s = len(agent) / SAMPLE_RATE
    while at < seconds:
        replies.append((int(at * 1000), int(min(seconds, at + reply_s) * 1000)))
        at += reply_s + 0.6  # the caller answers once the reply has played
        words = caller[int(rng.integers(len(caller)))]
        start = int(at * SAMPLE_RATE)
        part = words[: max(0, len(line) - start)]
        line[start : start + len(part)] += part
        at += len(words) / SAMPLE_RATE + 0.7  # and the agent answers
    reply = mulaw.encode(np.clip(agent, -32768, 32767).astype(np.int16))
    return Script(
        mulaw.encode(np.clip(line, -32768, 32767).astype(np.int16)),
        replies,
        reply[: len(reply) // FRAME_BYTES * FRAME_BYTES],
    )


@dataclass
class PlayOut:
    """The agent's side of one call: its replies queued to the guard as they start, and where play-out is
    (what the pacer's estimate would say)."""

    script: Script
    clock: MediaClock
    queued_ms: int = 0  # our audio queued so far (outbound position)
    started: dict[int, int] = field(default_factory=dict)  # reply start (ms) -> its outbound position

    def playing_ms(self) -> int | None:
        now = self.clock.ms
        for start, end in self.script.replies:
            if start <= now < end:
                return self.started[start] + now - start
        return None

    def queue(self, guard: EchoGuard) -> None:
        """Each reply is queued as it starts to play."""
        now = self.clock.ms
        for start, _ in self.script.replies:
            if start <= now and start not in self.started:
                self.started[start] = self.queued_ms
                guard.sent(self.script.reply, self.queued_ms)
                self.queued_ms += len(self.script.reply) // FRAME_BYTES * FRAME_MS


@dataclass
class Call:
    play_out: PlayOut
    listener: Listener
    guard: EchoGuard | None

    async def frame(self, index: int) -> None:
        payload = self.play_out.script.line[index * FRAME_BYTES : (index + 1) * FRAME_BYTES]
        self.play_out.clock.advance(payload)
        if self.guard is not None:
            self.play_out.queue(self.guard)
        await self.listener.hear(payload)


async def cpu_per_call_minute(
    scripts: list[Script], batch: SileroBatch, *, silero: bool, guard: bool
) -> tuple[float, float]:
    """Process CPU seconds per call-minute of the calls' listeners, each call hearing its script, and how much
    of it Silero's runs took."""
    config = AgentConfig()
    calls: list[Call] = []
    for s in scripts:
        play_out = PlayOut(s, MediaClock())
        echo = EchoGuard(play_out.playing_ms) if guard else None
        voicing: Voicing | None = SileroVoicing(batch) if silero else None  # None: webrtcvad alone
        transcriber = FakeASR().new_transcriber("he")
        listener = Listener(
            config, transcriber, play_out.clock, MemoryReporter(), asr_timeout_s=5, voicing=voicing, echo=echo
        )
        calls.append(Call(play_out, listener, echo))
    frames = min(len(s.line) for s in scripts) // FRAME_BYTES
    started, runs_cpu = time.process_time(), batch.cpu_s
    for index in range(frames):
        await asyncio.gather(*(call.frame(index) for call in calls))
    cpu, runs_cpu = time.process_time() - started, batch.cpu_s - runs_cpu
    for call in calls:
        await call.listener.close()
    call_minutes = len(calls) * frames * FRAME_MS / 60_000
    return cpu / call_minutes, runs_cpu / call_minutes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--reps", type=int, default=5, help="runs of each configuration, interleaved")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.seconds < 5 or args.reps < 1:
        parser.error("--calls ≥ 1, --seconds ≥ 5 and --reps ≥ 1")
    caller = [hebrew_speech(text).astype(np.float64) for text in CALLER]
    agent = hebrew_speech(AGENT).astype(np.float64)
    scripts = [script(args.seconds, np.random.default_rng(100 + i), caller, agent) for i in range(args.calls)]
    batch = SileroBatch()  # the process's model, loaded once (as in a server)
    figures: dict[str, list[float]] = {name: [] for name in CONFIGURATIONS}
    runs: dict[str, list[float]] = {name: [] for name in CONFIGURATIONS}  # Silero's runs' share of each
    for _ in range(args.reps):
        for name, (silero, guard) in CONFIGURATIONS.items():
            total, onnx = asyncio.run(cpu_per_call_minute(scripts, batch, silero=silero, guard=guard))
            figures[name].append(total)
            runs[name].append(onnx)
    base = statistics.median(figures["webrtcvad"])
    print(f"{args.calls} calls x {args.seconds} s, {args.reps} runs each: process CPU-s per call-minute")
    print(f"{'configuration':<12} │ {'min':>6} │ {'median':>6} │ {'added (median)':>14} │ {'Silero runs':>11}")
    for name, values in figures.items():
        added = statistics.median(values) - base
        print(
            f"{name:<12} │ {min(values):>6.3f} │ {statistics.median(values):>6.3f} │ {added:>+14.3f}"
            f" │ {statistics.median(runs[name]):>11.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
