"""The budget tool runs each side of a pair as configured, in the order drawn, and refuses a run that would
measure nothing. A smoke test of the tool: its figures are not compared with the budget here."""

from __future__ import annotations

import pytest

from bench import budget


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_pair_prints_both_sides_and_what_the_stack_added(capsys):
    assert budget.main(["--pairs", "1", "--calls", "2", "--duration", "8", "--seed", "1", "--reference-us", "59"]) == 0
    out = capsys.readouterr().out
    [row] = [line for line in out.splitlines() if line.strip().startswith("1 │")]
    _pair, first, without, with_, added, silero, speeds, memory = (cell.strip() for cell in row.split("│"))
    assert first in ("without", "with")
    assert float(without) > 0 and float(with_) > 0
    assert float(added) == pytest.approx(float(with_) - float(without), abs=0.002)
    assert float(silero) > 0  # the side with the stack scored the callers' windows (the other side none: refused)
    assert all(float(speed) > 0 for speed in speeds.split(" / "))  # the load generator's CPU a frame, each side
    assert all(float(mb) > 0 for mb in memory.split(" / "))  # the server's memory a call, each side
    assert "median added memory " in out
    assert "median added" in out and "at one machine speed" in out
    assert "(as given; this run's median " in out and ", 59.0 µs a frame)" in out  # scaled to the speed named


def run(*, silero_runs: int, failed_calls: int = 0, cpu: float = 0.6, client: float = 50.0) -> budget.Run:
    return budget.Run(
        cpu=cpu,
        silero=0.03 if silero_runs else 0.0,
        silero_runs=silero_runs,
        failed_calls=failed_calls,
        client_us_per_frame=client,
    )


@pytest.mark.parametrize(
    ("without", "with_", "why"),
    [
        (run(silero_runs=0, failed_calls=1), run(silero_runs=900), "calls failed (1 without the stack, 0 with it)"),
        (run(silero_runs=12), run(silero_runs=900), "the side without the stack scored windows with Silero"),
        (run(silero_runs=0), run(silero_runs=0), "the side with the stack scored nothing with Silero"),
        (run(silero_runs=0, client=0.0), run(silero_runs=900), "the load generator's CPU was not measured"),
    ],
)
def test_a_pair_that_would_not_measure_the_stack_is_refused(without, with_, why):
    assert why in (budget.refusal(without, with_) or "")


def test_a_pair_that_measures_the_stack_is_taken():
    assert budget.refusal(run(silero_runs=0), run(silero_runs=900)) is None


@pytest.mark.parametrize("argv", [["--pairs", "0"], ["--calls", "0"], ["--duration", "2"]])
def test_a_run_that_would_measure_nothing_is_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        budget.main(argv)
    assert exit_.value.code == 2
    assert "--pairs ≥ 1, --calls ≥ 1 and --duration ≥ 5" in capsys.readouterr().err


def test_at_one_speed_both_sides_are_scaled_to_the_reference_machine_speed():
    # The machine ran the same load-generator work 30 % slower while the side with the stack ran.
    without = run(silero_runs=0, cpu=0.60, client=50.0)
    with_ = run(silero_runs=900, cpu=0.91, client=65.0)
    assert budget.at_one_speed(without, with_, 50.0) == pytest.approx(0.91 / 1.3 - 0.60)
    # Both sides on a machine twice as slow as the reference: the stack's share is halved with them.
    slow = run(silero_runs=0, cpu=1.20, client=100.0), run(silero_runs=900, cpu=1.40, client=100.0)
    assert budget.at_one_speed(*slow, 50.0) == pytest.approx(0.10)


@pytest.mark.parametrize("speed", ["0", "-59"])
def test_a_reference_speed_that_is_not_a_speed_is_refused(speed, capsys):
    with pytest.raises(SystemExit) as exit_:
        budget.main(["--reference-us", speed])
    assert exit_.value.code == 2
    assert "--reference-us is a machine speed" in capsys.readouterr().err
