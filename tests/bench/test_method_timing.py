"""Timing methods inside the server under test: wrapped as their modules load, totals written as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bench import method_timing

ROOT = Path(__file__).resolve().parents[2]
SPEC = "here:Line.hear"


def test_a_method_is_named_module_class_method():
    names = ("voice.agent.echo_guard", "EchoGuard", "hear")
    assert method_timing.parse("voice.agent.echo_guard:EchoGuard.hear") == names


@pytest.mark.parametrize("spec", ["EchoGuard.hear", "voice.agent.echo_guard:hear", "a:B.c.d", "a:B.c d", ""])
def test_anything_else_is_refused_with_the_form_to_use(spec):
    with pytest.raises(ValueError, match=r"module:Class\.method"):
        method_timing.parse(spec)


def timed(tmp_path: Path, cls: type) -> method_timing.Totals:
    """``cls``'s ``hear``, wrapped to be timed."""
    totals = method_timing.Totals(tmp_path / "timing.json")
    totals.wrap(SPEC, cls)
    return totals


def results(tmp_path: Path) -> dict:
    return method_timing.read(tmp_path / "timing.json", [SPEC])[SPEC]


def test_the_calls_are_counted_and_timed_and_the_results_unchanged(tmp_path):
    class Line:
        def hear(self, frame: int, *, louder: int = 0) -> int:
            return frame + louder

    totals = timed(tmp_path, Line)
    assert [Line().hear(i, louder=1) for i in range(5)] == [1, 2, 3, 4, 5]
    totals.write()
    entry = results(tmp_path)
    assert entry["calls"] + entry["long"] == 5
    assert entry["seconds"] > 0 and entry["us_per_call"] == pytest.approx(entry["seconds"] / entry["calls"] * 1e6)


def test_static_and_class_methods_stay_what_they_were(tmp_path):
    class Line:
        @staticmethod
        def level(db: float) -> float:
            return db * 2

        @classmethod
        def named(cls) -> str:
            return cls.__name__

    class Speakerphone(Line):
        pass

    totals = method_timing.Totals(tmp_path / "timing.json")
    totals.wrap("here:Line.level", Line)
    totals.wrap("here:Line.named", Line)
    assert (Line().level(3), Line.level(3)) == (6, 6)
    assert (Line().named(), Speakerphone.named()) == ("Line", "Speakerphone")
    assert totals.methods["here:Line.level"]["calls"] + totals.methods["here:Line.level"]["long"] == 2


def test_calls_over_200_us_are_added_up_apart(tmp_path):
    """Such a call lost its CPU meanwhile (wall time), or the method is that long."""

    class Line:
        def hear(self) -> None:
            time.sleep(0.002)

    totals = timed(tmp_path, Line)
    Line().hear()
    totals.write()
    entry = results(tmp_path)
    assert (entry["calls"], entry["seconds"], entry["long"]) == (0, 0.0, 1)
    assert entry["us_per_long_call"] >= 2000


class Missing:
    pass


class Async:
    async def hear(self) -> None:
        return None


class Property:
    @property
    def hear(self) -> int:
        return 1


@pytest.mark.parametrize(
    ("cls", "why"),
    [
        (Missing, "Missing has no method hear"),
        (Async, "Async.hear is async: time the plain methods it calls"),  # its time would be its waits
        (Property, "Property.hear is a property"),
    ],
)
def test_what_cannot_be_timed_is_reported_not_timed(tmp_path, cls, why):
    timed(tmp_path, cls)
    assert results(tmp_path) == {"error": why}


def test_the_server_processes_files_are_added_up(tmp_path):
    """``bench.load --processes``: each process writes its own."""
    for pid, calls in ((101, 3), (102, 4)):
        entry = {"calls": calls, "seconds": calls * 1e-5, "long": 1, "long_seconds": 1e-3}
        (tmp_path / f"timing.{pid}.json").write_text(json.dumps({SPEC: entry}))
    entry = results(tmp_path)
    assert (entry["calls"], entry["long"]) == (7, 2)
    assert entry["us_per_call"] == pytest.approx(10) and entry["us_per_long_call"] == pytest.approx(1000)


def test_a_method_no_process_wrote_says_its_module_was_never_imported(tmp_path):
    assert results(tmp_path) == {"error": "its module was never imported"}


def test_in_a_process_the_methods_named_are_wrapped_as_their_modules_load(tmp_path):
    """What the server under test does: the site directory's ``sitecustomize`` wraps them on import, and
    the totals are written once more as the process exits."""
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
    script = "import calls_here; line = calls_here.Line(); print(sum(line.hear(i) for i in range(10)))"
    specs = ["calls_here:Line.hear", "calls_here:Nobody.hear"]
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(method_timing.SITE), str(ROOT), str(tmp_path)]),
        method_timing.ENV_METHODS: " ".join(specs),
        method_timing.ENV_OUT: str(out),
    }
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "90"  # the wrapped method still answers
    timing = method_timing.read(out, specs)
    assert timing["calls_here:Line.hear"]["calls"] + timing["calls_here:Line.hear"]["long"] == 10
    assert timing["calls_here:Nobody.hear"] == {"error": "calls_here has no class Nobody"}


def test_without_methods_named_nothing_is_wrapped(monkeypatch):
    monkeypatch.delenv(method_timing.ENV_METHODS, raising=False)
    finders = list(sys.meta_path)
    assert method_timing.install_from_environment() is None
    assert sys.meta_path == finders
