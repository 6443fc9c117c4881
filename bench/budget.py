"""Issue 12's CPU budget, measured its way: the turn-taking stack (Silero gated by webrtcvad, the echo guard and
its canceller) may add at most +0.1 CPU-s per call-minute at 40 calls over webrtcvad alone with no guard.

Runs ``bench.load`` in pairs: once without the stack (``--vad webrtc --no-echo-guard``), once with it, the order
within each pair drawn at random (the machine's load drifts within minutes; a fixed order would favour one
side), and prints each pair, the median of what the stack added, the CPU of Silero's own runs (the
server's count) and the memory a call on each side. A pair is refused when a call failed, when the side with
the stack scored nothing with Silero (the model did not load: the server fell back to webrtcvad), or when the
side without it did. It exits 0 over the budget too: it measures, it does not judge a commit.

On a shared machine the same server's CPU for the same calls moves by up to a third from one run to the next
(the other tenants), so one pair's difference can read anything from -0.01 to +0.32. The load generator,
which runs alongside on the same two cores, does the same work on either side (the same calls, the same
frames), so its CPU per frame says how fast the machine ran during each run. The figure is also given **at
one machine speed**: each run's server CPU scaled by the load generator's CPU per frame in that run, against
the median of all the runs. Six pairs that read +0.070 to +0.191 as measured read +0.126 to +0.156 at one
machine speed (bench/README.md, sixteenth session). That speed is the median of the run's own pairs unless
``--reference-us`` names one: runs on different hours (or days) are comparable only at the same speed, and the
figures in bench/README.md are given at 59 µs a frame.

    .venv/bin/python -m bench.budget [--pairs 6] [--calls 40] [--duration 40] [--seed N] [--reference-us 59]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET = 0.1  # CPU-s per call-minute the stack may add at 40 calls
WITHOUT = ("--vad", "webrtc", "--no-echo-guard")


@dataclass(frozen=True)
class Run:
    cpu: float  # the server's CPU-s per call-minute
    silero: float  # of which Silero's runs
    silero_runs: int
    failed_calls: int
    client_us_per_frame: float  # the load generator's CPU per frame it sent or received: the machine's speed
    mb_per_call: float = 0.0  # the server's peak memory (RSS) over its idle start, per call


def at_one_speed(without: Run, with_: Run, reference_us: float) -> float:
    """What the stack added, both sides scaled to the machine speed at which the load generator takes
    ``reference_us`` of CPU a frame (its work is the same on both sides, so its CPU per frame is the speed)."""
    return (with_.cpu / with_.client_us_per_frame - without.cpu / without.client_us_per_frame) * reference_us


def load(calls: int, duration: float, extra: tuple[str, ...], out: Path) -> Run:
    """One ``bench.load`` run; raises ``RuntimeError`` with its output if it failed."""
    command = [sys.executable, "-m", "bench.load", "--calls", str(calls), "--duration", str(duration)]
    done = subprocess.run(
        [*command, *extra, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=duration * 3 + 600,  # set-up, ramp and the calls, with room for a slow machine
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.load {' '.join(extra)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    results = json.loads(out.read_text())
    server = results["server"]
    return Run(
        server["cpu_s_per_call_minute"],
        server["vad_cpu_s_per_call_minute"],
        server["vad_runs"],
        results["calls"]["failed"],
        results["client"]["cpu_s"] / max(1, results["client"]["frames"]) * 1e6,
        server["rss_per_call_mb"],
    )


def refusal(without: Run, with_: Run) -> str | None:
    """Why a pair would not measure the stack (None: it does)."""
    if not (without.client_us_per_frame > 0 and with_.client_us_per_frame > 0):
        return "the load generator's CPU was not measured"
    if without.failed_calls or with_.failed_calls:
        return f"calls failed ({without.failed_calls} without the stack, {with_.failed_calls} with it)"
    if without.silero_runs:
        return "the side without the stack scored windows with Silero"
    if not with_.silero_runs:
        return "the side with the stack scored nothing with Silero (did the model load?)"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.budget", description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--duration", type=float, default=40)
    parser.add_argument("--seed", type=int, default=None, help="the order within each pair (default: any)")
    parser.add_argument(
        "--reference-us",
        type=float,
        default=None,
        help="the machine speed to scale to: the load generator's CPU µs a frame (default: the runs' median)",
    )
    args = parser.parse_args(argv)
    if args.pairs < 1 or args.calls < 1 or args.duration < 5:
        parser.error("--pairs ≥ 1, --calls ≥ 1 and --duration ≥ 5")
    if args.reference_us is not None and not args.reference_us > 0:
        parser.error("--reference-us is a machine speed: the load generator's CPU µs a frame, more than 0")
    order = random.Random(args.seed)
    pairs: list[tuple[Run, Run]] = []
    print(f"{args.pairs} pairs of bench.load, {args.calls} calls x {args.duration:.0f} s: CPU-s per call-minute")
    print(
        f"{'pair':>4} │ {'first':<7} │ {'without':>7} │ {'with':>7} │ {'added':>7} │ {'Silero CPU':>10} │"
        f" {'load generator µs a frame':>25} │ {'MB a call':>13}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for pair in range(1, args.pairs + 1):
            sides = ["without", "with"]
            order.shuffle(sides)
            runs: dict[str, Run] = {}
            for side in sides:
                extra = WITHOUT if side == "without" else ()
                runs[side] = load(args.calls, args.duration, extra, Path(tmp) / f"{pair}-{side}.json")
            refused = refusal(runs["without"], runs["with"])
            if refused:
                raise RuntimeError(f"pair {pair}: {refused}")
            without, with_ = runs["without"], runs["with"]
            pairs.append((without, with_))
            speeds = f"{without.client_us_per_frame:.1f} / {with_.client_us_per_frame:.1f}"
            memory = f"{without.mb_per_call:.3f} / {with_.mb_per_call:.3f}"
            added = with_.cpu - without.cpu
            print(
                f"{pair:>4} │ {sides[0]:<7} │ {without.cpu:>7.3f} │ {with_.cpu:>7.3f} │ {added:>+7.3f} │"
                f" {with_.silero:>10.3f} │ {speeds:>25} │ {memory:>13}",
                flush=True,
            )
    median_speed = statistics.median(run.client_us_per_frame for pair in pairs for run in pair)
    reference = median_speed if args.reference_us is None else args.reference_us
    scaled = [at_one_speed(without, with_, reference) for without, with_ in pairs]
    source = (
        "the load generator's median"
        if args.reference_us is None
        else f"as given; this run's median {median_speed:.1f}"
    )
    print(f"at one machine speed ({source}, {reference:.1f} µs a frame), added per pair:")
    print("  " + ", ".join(f"{value:+.3f}" for value in scaled))
    for name, values in (("as measured", [w.cpu - o.cpu for o, w in pairs]), ("at one machine speed", scaled)):
        median = statistics.median(values)
        verdict = "within" if median <= BUDGET else "over"
        print(f"median added {median:+.3f} CPU-s per call-minute {name}: {verdict} the budget (+{BUDGET})")
    memory = statistics.median(w.mb_per_call - o.mb_per_call for o, w in pairs)
    print(f"median added memory {memory:+.3f} MB a call (the server's peak RSS over its idle start)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
