"""Speex's echo canceller against our echo guard, on the turn-taking corpus's echo scenarios.

Issue 12 asked to pick the echo handling by measurement among WebRTC's audio processing module, speexdsp and
a simple double-talk detector. This plays the corpus's echo, room-echo, interruption, back-channel and cough
scenarios through the call's listener with, in turn:

- ``guard``: our echo guard and its canceller (what calls use);
- ``speex``: libspeexdsp's echo canceller (MDF, ``--taps`` long) with its residual echo suppressor, fed our
  audio at the harness's play-out estimate, and no masking;
- ``speex+guard``: Speex's output heard by our guard.

Needs Debian's ``libspeexdsp1`` (``apt-get install libspeexdsp1``; not a project dependency: the PyPI
``speexdsp`` package is a SWIG source build of the same library, loaded here with ctypes instead).

    .venv/bin/python -m bench.speex_compare [--taps 2048]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
from collections.abc import Callable

import numpy as np

from bench.turn_corpus import build_corpus
from bench.turn_taking import GuardFactory, barge_in_limit_ms, run_corpus
from voice.agent.config import AgentConfig
from voice.agent.echo_guard import EchoGuard
from voice.audio import mulaw
from voice.audio.frames import FRAME_BYTES, FRAME_MS, SAMPLE_RATE

GROUPS = [
    "echo -15 dB",
    "echo -25 dB",
    "echo -35 dB",
    "room echo -15 dB",
    "room echo -25 dB",
    *[f"{kind} echo {db} dB" for kind in ("interrupt", "short interrupt") for db in (-15, -25, -35)],
    "interrupt room echo -15 dB",
    "interrupt room echo -25 dB",
    "back-channel",
    "back-channel echo -15 dB",
    "back-channel echo -25 dB",
    "back-channel room echo -15 dB",
    "cough",
]
_ECHO_SAMPLING_RATE = 24  # SPEEX_ECHO_SET_SAMPLING_RATE
_PREPROCESS_DENOISE = 0  # SPEEX_PREPROCESS_SET_DENOISE
_PREPROCESS_ECHO_STATE = 24  # SPEEX_PREPROCESS_SET_ECHO_STATE


def _speexdsp() -> ctypes.CDLL:
    name = ctypes.util.find_library("speexdsp")
    if name is None:
        raise SystemExit("libspeexdsp is not installed (apt-get install libspeexdsp1)")
    lib = ctypes.CDLL(name)
    lib.speex_echo_state_init.restype = ctypes.c_void_p
    lib.speex_echo_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.speex_echo_cancellation.argtypes = [ctypes.c_void_p] * 4
    lib.speex_echo_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.speex_echo_state_destroy.argtypes = [ctypes.c_void_p]
    lib.speex_preprocess_state_init.restype = ctypes.c_void_p
    lib.speex_preprocess_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.speex_preprocess_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.speex_preprocess_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.speex_preprocess_state_destroy.argtypes = [ctypes.c_void_p]
    return lib


class SpeexCanceller:
    """Speex's canceller where the listener expects the guard: our audio as it is queued (``sent``), each
    inbound frame with our frame playing then as the far end (``hear``). It never masks a frame; with a
    ``guard`` behind it, the guard hears Speex's output and decides."""

    def __init__(
        self, lib: ctypes.CDLL, playing_ms: Callable[[], int | None], *, taps: int, guard: EchoGuard | None
    ) -> None:
        self._lib, self._playing_ms, self._guard = lib, playing_ms, guard
        self._echo = lib.speex_echo_state_init(FRAME_BYTES, taps)
        rate = ctypes.c_int(SAMPLE_RATE)
        lib.speex_echo_ctl(self._echo, _ECHO_SAMPLING_RATE, ctypes.byref(rate))
        self._residual = lib.speex_preprocess_state_init(FRAME_BYTES, SAMPLE_RATE)
        off = ctypes.c_int(0)
        lib.speex_preprocess_ctl(self._residual, _PREPROCESS_DENOISE, ctypes.byref(off))
        lib.speex_preprocess_ctl(self._residual, _PREPROCESS_ECHO_STATE, ctypes.c_void_p(self._echo))
        self._ours: dict[int, np.ndarray] = {}
        self.speaking = False

    def __del__(self) -> None:
        self._lib.speex_preprocess_state_destroy(self._residual)
        self._lib.speex_echo_state_destroy(self._echo)

    def sent(self, frames: bytes, position_ms: int) -> None:
        first = position_ms // FRAME_MS
        for i in range(len(frames) // FRAME_BYTES):
            self._ours[first + i] = mulaw.decode(frames[i * FRAME_BYTES : (i + 1) * FRAME_BYTES])
        if self._guard is not None:
            self._guard.sent(frames, position_ms)

    def hear(self, pcm: np.ndarray) -> tuple[np.ndarray, bool]:
        playing = self._playing_ms()
        far = self._ours.get(playing // FRAME_MS) if playing is not None else None
        far = np.zeros(FRAME_BYTES, np.int16) if far is None else far
        near = np.ascontiguousarray(pcm, dtype=np.int16)
        out = np.zeros(FRAME_BYTES, np.int16)
        self._lib.speex_echo_cancellation(self._echo, near.ctypes.data, far.ctypes.data, out.ctypes.data)
        self._lib.speex_preprocess_run(self._residual, out.ctypes.data)
        if self._guard is None:
            self.speaking = playing is not None
            return out, False
        heard, echo = self._guard.hear(out)
        self.speaking = self._guard.speaking
        return heard, echo


def factories(taps: int) -> dict[str, GuardFactory]:
    lib = _speexdsp()

    def speex(playing_ms: Callable[[], int | None]) -> EchoGuard:
        return SpeexCanceller(lib, playing_ms, taps=taps, guard=None)  # type: ignore[return-value]

    def speex_and_guard(playing_ms: Callable[[], int | None]) -> EchoGuard:
        return SpeexCanceller(lib, playing_ms, taps=taps, guard=EchoGuard(playing_ms))  # type: ignore[return-value]

    return {"guard": EchoGuard, "speex": speex, "speex+guard": speex_and_guard}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--taps", type=int, default=2048, help="Speex's filter length in samples (2048: 256 ms)")
    args = parser.parse_args()
    scenarios = build_corpus(groups=GROUPS)
    print(f"{len(scenarios)} scenarios; Speex filter {args.taps} samples ({args.taps * 1000 // SAMPLE_RATE} ms)")
    config = AgentConfig()
    limit = barge_in_limit_ms(config)
    print(
        f"who hears our echo | false barge-ins | missed | pauses on echo | spurious utt. | reaction p50 / max "
        f"| over {limit}"
    )
    for name, factory in factories(args.taps).items():
        run = run_corpus(scenarios, mode="after", config=config, guard_factory=factory)
        reactions = sorted(ms for r in run.results for ms in r.reactions_ms)
        print(
            f"{name:18s} | {sum(r.false_barge_in for r in run.results):15d} "
            f"| {sum(r.missed_barge_ins for r in run.results):6d} "
            f"| {sum(len(r.paused_ms) for r in run.results if r.group.startswith(('echo', 'room echo'))):14d} "
            f"| {sum(r.spurious for r in run.results):13d} "
            f"| {reactions[len(reactions) // 2]:5d} / {reactions[-1]:4d} ms "
            f"| {sum(1 for ms in reactions if ms > limit):8d}"
        )


if __name__ == "__main__":
    main()
