"""The load benchmark as a tool: a two-call run starts its own daphne, completes, and reports every figure.
A smoke test of the tool, not of performance: no figure is compared with a target here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import load

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.load", "--calls", "2", "--duration", "8", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "server CPU" in run.stdout  # the table was printed
    return json.loads(out.read_text())


def test_every_call_completes_with_its_turns_stored(results):
    calls = results["calls"]
    assert (calls["started"], calls["completed"], calls["failed"]) == (2, 2, 0)
    assert calls["turns"] >= 4  # per call: the turn talked over, and the answer to what was said over it
    assert calls["replies_stored"] >= calls["turns"]
    assert calls["call_minutes"] > 0


def test_turn_latency_is_reported_from_the_server_and_from_the_client(results):
    latency = results["latency_ms"]
    for source in ("server_first_frame", "client_first_frame"):
        stats = latency[source]
        assert stats["n"] >= 4
        assert stats["p50"] is not None and stats["p50"] <= stats["p95"] <= stats["p99"] <= stats["max"]


def test_outbound_timing_is_reported(results):
    outbound = results["outbound"]
    assert outbound["frames"] > 100
    assert outbound["gap_excess_ms"]["n"] > 50  # one per media message: 200 ms of audio each, past the lead
    assert outbound["gap_excess_ms"]["max"] >= 0


def test_each_call_barges_in_once_and_the_server_clears(results):
    barge = results["barge_in"]
    assert (barge["attempted"], barge["cleared"], barge["server_events"]) == (2, 2, 2)
    # Media time can never be shorter than the speech the server waits for before it interrupts itself.
    assert barge["reaction_media_ms"]["p50"] >= results["run"]["business"]["barge_in_min_ms"]


def test_cpu_and_memory_of_server_and_client_are_reported(results):
    server, client = results["server"], results["client"]
    assert server["cpu_s"] > 0 and server["cpu_s_per_call_minute"] > 0
    assert server["rss_peak_mb"] >= server["rss_baseline_mb"] > 0
    assert client["cpu_s"] > 0 and client["tick_lateness_ms"]["n"] > 0
    assert set(results["targets"]) == {
        "server_first_frame_p95_ms",
        "outbound_gap_excess_max_ms",
        "server_cpu_s_per_call_minute",
    }


def test_silero_s_own_share_is_read_from_the_server_s_metrics(results):
    server = results["server"]
    # The callers spoke: Silero scored their windows, by the server's own count.
    assert server["vad_runs"] >= 1 and server["vad_windows_per_run"] >= 1
    assert 0 < server["vad_cpu_s"] < server["cpu_s"]
    assert 0 < server["vad_cpu_s_per_call_minute"] < server["cpu_s_per_call_minute"]


@pytest.fixture(scope="module")
def on_speakerphones(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "speakerphones.json"
    # The recorded voice: espeak-ng's Hebrew, made once by the load generator and said by the server's fake voice.
    argv = ["--calls", "2", "--duration", "8", "--tts", "recorded", "--echo-db", "-20", "--out", str(out)]
    argv += ["--time-methods", "voice.agent.echo_guard:EchoGuard.hear", "voice.agent.echo_guard:EchoGuard.nothing"]
    run = subprocess.run(
        [sys.executable, "-m", "bench.load", *argv], cwd=ROOT, capture_output=True, text=True, timeout=200
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "callers on speakerphones (-20 dB, 120 ms)" in run.stdout and "TTS recorded" in run.stdout
    assert "voice.agent.echo_guard:EchoGuard.hear: " in run.stdout  # the methods' table was printed
    return json.loads(out.read_text())


def test_callers_on_speakerphones_are_found_to_echo_and_the_agent_stops_only_for_them(on_speakerphones):
    barge = on_speakerphones["barge_in"]
    assert barge["lines_echoing"] == 2  # by the server's own count (/metrics)
    assert (barge["attempted"], barge["cleared"], barge["unexpected_clears"]) == (2, 2, 0)
    assert (barge["unexpected_on_their_own"], barge["unexpected_after_the_caller_talked_over_us"]) == (0, 0)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("EchoGuard.hear", "name a method as module:Class.method"),
        ("voice.agent.no_such_module:Guard.hear", "no module voice.agent.no_such_module"),
        ("no_such_package.guard:Guard.hear", "no_such_package.guard:Guard.hear: No module named 'no_such_package'"),
    ],
)
def test_a_method_the_benchmark_cannot_time_is_refused_before_anything_starts(spec, says, capsys):
    with pytest.raises(SystemExit) as refused:
        load.parse_args(["--time-methods", spec])
    assert refused.value.code == 2 and says in capsys.readouterr().err


def test_methods_named_are_timed_inside_the_server(on_speakerphones):
    timing = on_speakerphones["method_timing"]
    hear = timing["voice.agent.echo_guard:EchoGuard.hear"]
    assert hear["calls"] > 100  # a frame each, from both calls (the last half second's may be missing)
    assert 0 < hear["us_per_call"] < 200  # longer calls lost the CPU meanwhile: counted apart
    assert timing["voice.agent.echo_guard:EchoGuard.nothing"] == {"error": "EchoGuard has no method nothing"}


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--echo-db", "-20"], "needs --tts espeak"),
        (["--tts", "espeak", "--echo-db", "3"], "quieter than the agent's voice"),
        (["--tts", "espeak", "--echo-db", "-20", "--echo-delay-ms", "-5"], "0 to 1000 ms"),
        (["--tts", "espeak", "--echo-db", "-20", "--line-noise-dbfs", "3"], "below full scale"),
        (["--line-noise-dbfs", "-55"], "give --echo-db too"),
        (["--playout-delay-ms", "2500"], "0 to 2000 ms"),
    ],
)
def test_a_speakerphone_the_benchmark_cannot_run_is_refused_before_anything_starts(flags, says, capsys):
    with pytest.raises(SystemExit) as refused:
        load.parse_args(flags)
    assert refused.value.code == 2 and says in capsys.readouterr().err
