"""Timing methods inside the server under test: wrapped as their modules load, totals written as JSON."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bench import method_timing

ROOT = Path(__file__).resolve().parents[2]


def test_a_method_is_named_module_class_method():
    assert method_timing.parse("voice.agent.echo_guard:EchoGuard.hear") == (
        "voice.agent.echo_guard",
        "EchoGuard",
        "hear",
    )


@pytest.mark.parametrize("spec", ["EchoGuard.hear", "voice.agent.echo_guard:hear", "a:B.c.d", "a:B.c d", ""])
def test_anything_else_is_refused_with_the_form_to_use(spec):
    with pytest.raises(ValueError, match=r"module:Class\.method"):
        method_timing.parse(spec)


def test_the_calls_are_counted_and_timed_and_the_results_unchanged(tmp_path):
    class Line:
        def hear(self, frame: int, *, louder: int = 0) -> int:
            return frame + louder

    totals = method_timing.Totals(tmp_path / "timing.json")
    totals.wrap("here:Line.hear", Line)
    assert [Line().hear(i, louder=1) for i in range(5)] == [1, 2, 3, 4, 5]
    totals.write()
    (entry,) = method_timing.read(tmp_path / "timing.json").values()
    assert entry["calls"] + entry["long"] == 5
    assert entry["seconds"] > 0 and entry["us_per_call"] == pytest.approx(entry["seconds"] / entry["calls"] * 1e6)


def test_calls_over_200_us_are_added_up_apart(tmp_path):
    """Such a call lost its CPU meanwhile (wall time), or the method is that long."""

    class Line:
        def hear(self) -> None:
            time.sleep(0.002)

    totals = method_timing.Totals(tmp_path / "timing.json")
    totals.wrap("here:Line.hear", Line)
    Line().hear()
    totals.write()
    (entry,) = method_timing.read(tmp_path / "timing.json").values()
    assert (entry["calls"], entry["seconds"], entry["long"]) == (0, 0.0, 1)
    assert entry["us_per_long_call"] >= 2000


def test_a_method_that_is_not_there_is_reported_not_timed(tmp_path):
    class Line:
        pass

    totals = method_timing.Totals(tmp_path / "timing.json")
    totals.wrap("here:Line.hear", Line)
    assert method_timing.read(tmp_path / "timing.json") == {"here:Line.hear": {"error": "Line has no method hear"}}


def test_an_async_method_is_refused_its_time_would_be_its_waits(tmp_path):
    class Line:
        async def hear(self) -> None:
            return None

    totals = method_timing.Totals(tmp_path / "timing.json")
    totals.wrap("here:Line.hear", Line)
    (entry,) = method_timing.read(tmp_path / "timing.json").values()
    assert entry == {"error": "Line.hear is async: time the plain methods it calls"}


def test_nothing_written_reads_as_nothing(tmp_path):
    assert method_timing.read(tmp_path / "never.json") == {}


def test_in_a_process_the_methods_named_are_wrapped_as_their_modules_load(tmp_path):
    """What the server under test does: the site directory's ``sitecustomize`` wraps them on import."""
    (tmp_path / "calls_here.py").write_text(
        textwrap.dedent(
            """
            class Line:
                def hear(self, frame):
                    return frame * 2
            """
        )
    )
    out = tmp_path / "timing.json"
    script = "import time, calls_here; line = calls_here.Line(); print(sum(line.hear(i) for i in range(10)))"
    script += "; time.sleep(0.6); line.hear(0)"  # a call after half a second writes all the totals
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(method_timing.SITE), str(ROOT), str(tmp_path)]),
        method_timing.ENV_METHODS: "calls_here:Line.hear calls_here:Nobody.hear",
        method_timing.ENV_OUT: str(out),
    }
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "90"  # the wrapped method still answers
    timing = method_timing.read(out)
    assert timing["calls_here:Line.hear"]["calls"] + timing["calls_here:Line.hear"]["long"] == 11
    assert timing["calls_here:Nobody.hear"] == {"error": "calls_here has no class Nobody"}


def test_without_methods_named_nothing_is_wrapped(monkeypatch):
    monkeypatch.delenv(method_timing.ENV_METHODS, raising=False)
    assert method_timing.install_from_environment() is None
