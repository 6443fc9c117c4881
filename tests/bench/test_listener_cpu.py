"""The stack's CPU benchmark runs every configuration on the same calls and refuses a run that would
measure nothing."""

from __future__ import annotations

import pytest

from bench import listener_cpu
from tests.support.caller_audio import HAVE_ESPEAK

pytestmark = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed")


def test_it_prints_a_figure_for_every_configuration(capsys):
    assert listener_cpu.main(["--calls", "2", "--seconds", "5", "--reps", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "│" in line][1:]
    assert [row.split("│")[0].strip() for row in rows] == list(listener_cpu.CONFIGURATIONS)
    assert all(float(row.split("│")[2]) > 0 for row in rows)  # CPU was spent in each
    assert rows[0].split("│")[3].strip() == "+0.000"  # webrtcvad alone is the baseline
    onnx = {row.split("│")[0].strip(): float(row.split("│")[4]) for row in rows}
    assert onnx["webrtcvad"] == onnx["no Silero"] == 0  # no run without Silero
    assert 0 < onnx["stack"] < float(rows[1].split("│")[2])  # a share of the stack's CPU
    assert onnx["no guard"] > 0


@pytest.mark.parametrize("argv", [["--calls", "0"], ["--seconds", "2"], ["--reps", "0"]])
def test_a_run_that_would_measure_nothing_is_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        listener_cpu.main(argv)
    assert exit_.value.code == 2
    assert "--calls ≥ 1, --seconds ≥ 5 and --reps ≥ 1" in capsys.readouterr().err
