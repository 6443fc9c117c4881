"""CPU of the caller's VAD per call-second, at 1, 10, 40 and 100 calls in one process.

Each call hears the same 20 s of line audio (Hebrew sentences from espeak-ng with pauses, on faint line
noise, through mu-law) shifted by a random offset, so that the calls speak and pause at different
moments, as callers do. Every 20 ms tick each call gets one frame; the calls' Silero windows go through
the process's one ``SileroBatch``. Figures: process CPU seconds per call-second of audio, for webrtcvad
alone (before) and for Silero gated by webrtcvad (after), and the mean batch size.

    .venv/bin/python -m bench.vad_batch [--calls 1 10 40 100] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

import numpy as np

from bench.audio import hebrew_speech
from voice.agent.silero_batch import SileroBatch
from voice.agent.voicing import SileroVoicing, Voicing, WebrtcVoicing
from voice.audio import mulaw
from voice.audio.frames import FRAME_BYTES, SAMPLE_RATE

SENTENCES = (
    "שלום, אני רוצה לקבוע תור לשבוע הבא",
    "כמה זה עולה בערך?",
    "אפשר שתחזרו אליי מחר בבוקר?",
)


def line_audio(seconds: int) -> np.ndarray:
    """``seconds`` of a caller's side: sentences, pauses of 1-3 s, faint noise; int16 at 8 kHz."""
    rng = np.random.default_rng(1)
    out = np.zeros(seconds * SAMPLE_RATE)
    speech = [hebrew_speech(text).astype(np.float64) for text in SENTENCES]
    at = 0
    while at < len(out):
        clip = speech[rng.integers(len(speech))]
        end = min(len(out), at + len(clip))
        out[at:end] += clip[: end - at]
        at = end + int(rng.uniform(1.0, 3.0) * SAMPLE_RATE)
    out += rng.normal(0, 30, len(out))
    return np.clip(out, -32768, 32767).astype(np.int16)


async def run(calls: int, frames: list[np.ndarray], make: Callable[[], Voicing]) -> float:
    """Process CPU seconds per call-second of audio."""
    voicings: list[Voicing] = [make() for _ in range(calls)]
    offsets = np.random.default_rng(calls).integers(0, len(frames), calls)
    started = time.process_time()
    for tick in range(len(frames)):
        await asyncio.gather(
            *(v.voiced(frames[(tick + int(o)) % len(frames)]) for v, o in zip(voicings, offsets, strict=True))
        )
    cpu = time.process_time() - started
    for v in voicings:
        await v.close()
    return cpu / (calls * len(frames) * 0.02)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 10, 40, 100])
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args(argv)
    pcm = mulaw.decode(mulaw.encode(line_audio(args.seconds)))
    frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]
    batch = SileroBatch()
    header = ("calls", "webrtcvad ms/call-s", "Silero+gate ms/call-s", "windows/run", "scored")
    print(" │ ".join(header))
    for calls in args.calls:
        before = asyncio.run(run(calls, frames, lambda: WebrtcVoicing(2)))
        runs, windows = batch.runs, batch.windows
        made: list[SileroVoicing] = []

        def silero(made: list[SileroVoicing] = made) -> SileroVoicing:
            made.append(SileroVoicing(batch))
            return made[-1]

        after = asyncio.run(run(calls, frames, silero))
        per_run = (batch.windows - windows) / max(1, batch.runs - runs)
        total_windows = calls * len(frames) * FRAME_BYTES // 256
        scored = sum(v.scored for v in made) / total_windows
        print(f"{calls:>5} │ {before * 1000:>19.3f} │ {after * 1000:>21.3f} │ {per_run:>11.1f} │ {scored:>6.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
