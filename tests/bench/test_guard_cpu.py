"""The guard's CPU benchmark measures the guard on clean lines, with our replies queued as the pacer queues
them, and refuses a run that would measure nothing."""

from __future__ import annotations

import numpy as np
import pytest

from bench import guard_cpu
from bench.audio import hebrew_speech
from tests.support.caller_audio import HAVE_ESPEAK
from voice.agent.echo_guard import EchoGuard
from voice.audio import mulaw
from voice.audio.frames import FRAME_BYTES, FRAME_MS

pytestmark = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed")


def test_it_prints_what_the_guard_adds(capsys):
    assert guard_cpu.main(["--calls", "2", "--seconds", "10", "--reps", "1"]) == 0
    out = capsys.readouterr().out
    without = float(out.split("without the guard: median ")[1].split()[0])
    with_guard = float(out.split("with the guard:    median ")[1].split()[0])
    added = float(out.split("the guard adds:    median ")[1].split()[0])
    assert without > 0 and with_guard > 0  # one short run each: which is larger is for longer runs to say
    assert added == pytest.approx(with_guard - without, abs=2e-4)  # one run: the difference, as printed


def test_each_reply_is_queued_in_pushes_ahead_of_where_it_plays_and_the_line_is_found_clean():
    caller = [hebrew_speech(text).astype(np.float64) for text in guard_cpu.CALLER]
    agent = hebrew_speech(guard_cpu.AGENT).astype(np.float64)
    call = guard_cpu.GuardedCall(guard_cpu.script(30, np.random.default_rng(1), caller, agent), push_frames=10)
    call.guard = guard = EchoGuard(call.playing_ms)
    reply_ms = len(call.script.reply) // FRAME_BYTES * FRAME_MS
    for index in range(len(call.script.line) // FRAME_BYTES):
        call.now_ms += FRAME_MS
        call.queue()
        playing = call.playing_ms()
        if playing is not None:  # what plays was queued before it played, and is ours
            assert playing < call.queued_ms
            assert guard.reference_energy() > 0
        guard.hear(mulaw.decode(call.script.line[index * FRAME_BYTES : (index + 1) * FRAME_BYTES]))
    started = sum(1 for start, _ in call.script.replies if start <= call.now_ms + guard_cpu.QUEUED_AHEAD_MS)
    assert call.queued_ms == started * reply_ms  # every reply begun was queued whole, once
    assert guard.line_echoes is False  # the budget's lines: no echo


@pytest.mark.parametrize("argv", [["--calls", "0"], ["--seconds", "5"], ["--reps", "0"], ["--push-frames", "0"]])
def test_a_run_that_would_measure_nothing_is_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        guard_cpu.main(argv)
    assert exit_.value.code == 2
    assert "--calls ≥ 1, --seconds ≥ 10, --reps ≥ 1 and --push-frames ≥ 1" in capsys.readouterr().err
