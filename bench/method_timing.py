"""Time named methods inside the server under test (``bench.load --time-methods``).

In a busy server a method costs several times what it costs in a tight loop (the echo guard's question
of where our audio played: 1.8 µs in a loop, ~11.5 µs in the server at 40 calls on this machine), so where
a call's CPU goes is measured there. Each method named ``module:Class.method`` is wrapped, in the daphne
process, to add up the time its calls take. The clock is ``time.perf_counter`` (~0.1 µs a reading), not
``time.thread_time``: that one is a system call here (~1.2 µs), and half of each reading lands inside
what it times. Wall time counts the moments the process lost its CPU: calls longer than ``LONG_S`` are
added up apart (such a call lost its CPU, or the method is that long: an ONNX run). A method that calls
another named one counts the other's time and wrapper too (~2 µs a wrapper in a busy server). Async
methods are refused: a call returns at its first wait.

The server loads this through ``bench/method_timing_site/sitecustomize.py``: the methods are wrapped as
their modules are imported, and each process writes its totals as JSON next to ``BENCH_TIME_OUT`` (a
file a process) at most every half second while calls come and once more as it exits; ``bench.load``
reads them, added up, once the server has stopped.
"""

from __future__ import annotations

import atexit
import functools
import importlib.abc
import inspect
import json
import os
import re
import sys
import time
from collections.abc import Callable
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any

ENV_METHODS = "BENCH_TIME_METHODS"  # the methods, separated by spaces
ENV_OUT = "BENCH_TIME_OUT"  # the JSON file the totals go to
SITE = Path(__file__).resolve().parent / "method_timing_site"  # put on the server's PYTHONPATH
LONG_S = 200e-6  # a call this long lost its CPU meanwhile (the methods timed take ~1-50 µs)
_WRITE_EVERY_S = 0.5
_SPEC = re.compile(r"^([A-Za-z_][\w.]*):([A-Za-z_]\w*)\.([A-Za-z_]\w*)$")


def parse(spec: str) -> tuple[str, str, str]:
    """``module:Class.method`` as its three names; ValueError for anything else."""
    match = _SPEC.match(spec)
    if match is None:
        raise ValueError(f"{spec!r}: name a method as module:Class.method (voice.agent.echo_guard:EchoGuard.hear)")
    return match.group(1), match.group(2), match.group(3)


class Totals:
    """The time each wrapped method took in this process, written as JSON next to ``out`` (one file a
    process: ``bench.load --processes`` runs several, and ``read`` adds them up)."""

    def __init__(self, out: Path) -> None:
        self._out = out.with_name(f"{out.stem}.{os.getpid()}{out.suffix}")
        self._last_write = 0.0
        self.methods: dict[str, dict[str, Any]] = {}

    def wrap(self, spec: str, cls: type) -> None:
        """Wrap ``cls``'s method named in ``spec`` (``module:Class.method``) so that its calls are timed."""
        _, _, name = parse(spec)
        found = inspect.getattr_static(cls, name, None)  # as defined: a static or class method stays one
        kind = type(found) if isinstance(found, staticmethod | classmethod) else None
        function = found.__func__ if kind is not None else found
        if isinstance(found, property):
            self.refuse(spec, f"{cls.__name__}.{name} is a property")
            return
        if not inspect.isfunction(function):
            self.refuse(spec, f"{cls.__name__} has no method {name}")
            return
        if inspect.iscoroutinefunction(function):  # its calls return at its first wait, and its waits are not CPU
            self.refuse(spec, f"{cls.__name__}.{name} is async: time the plain methods it calls")
            return
        entry = self.methods[spec] = {"calls": 0, "seconds": 0.0, "long": 0, "long_seconds": 0.0}
        clock = time.perf_counter

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            result = function(*args, **kwargs)
            ended = clock()
            if ended - started < LONG_S:
                entry["calls"] += 1
                entry["seconds"] += ended - started
            else:
                entry["long"] += 1
                entry["long_seconds"] += ended - started
            if ended - self._last_write >= _WRITE_EVERY_S:
                self._last_write = ended
                self.write()
            return result

        setattr(cls, name, timed if kind is None else kind(timed))

    def refuse(self, spec: str, why: str) -> None:
        """``spec`` is not timed, and the results say why."""
        self.methods[spec] = {"error": why}
        self.write()

    def write(self) -> None:
        """Never raises into the method it is called from: a file that cannot be written loses a reading."""
        temporary = self._out.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps(self.methods))
            temporary.replace(self._out)  # a reader never sees half a file
        except OSError:
            pass


def install_from_environment() -> Totals | None:
    """In the server: wrap each method named in ``BENCH_TIME_METHODS`` once its module is imported (at once,
    for a module already imported), and write the totals once more as the process exits."""
    specs, out = os.environ.get(ENV_METHODS, "").split(), os.environ.get(ENV_OUT)
    if not specs or not out:
        return None
    totals = Totals(Path(out))
    waiting: dict[str, list[tuple[str, str]]] = {}  # module -> (spec, class name)
    for spec in specs:
        module, cls, _ = parse(spec)
        waiting.setdefault(module, []).append((spec, cls))

    def wrap_module(module: ModuleType) -> None:
        for spec, cls_name in waiting.pop(module.__name__, []):
            cls = getattr(module, cls_name, None)
            if isinstance(cls, type):
                totals.wrap(spec, cls)
            else:
                totals.refuse(spec, f"{module.__name__} has no class {cls_name}")

    for name in [name for name in waiting if name in sys.modules]:
        wrap_module(sys.modules[name])
    sys.meta_path.insert(0, _AfterImport(set(waiting), wrap_module))
    atexit.register(totals.write)
    return totals


class _AfterImport(importlib.abc.MetaPathFinder):
    """Lets the finders after it find the modules named, and hands each to ``then`` once it has run."""

    def __init__(self, names: set[str], then: Callable[[ModuleType], None]) -> None:
        self._names = names
        self._then = then

    def find_spec(self, name: str, path: Any, target: ModuleType | None = None) -> ModuleSpec | None:
        if name not in self._names:
            return None
        later = sys.meta_path[sys.meta_path.index(self) + 1 :]
        for finder in later:
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None and isinstance(spec.loader, importlib.abc.Loader):
                spec.loader = _ThenLoader(spec.loader, self._then)
                return spec
        return None  # not found: the import fails as it would have


class _ThenLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, then: Callable[[ModuleType], None]) -> None:
        self._loader = loader
        self._then = then

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._then(module)

    def __getattr__(self, name: str) -> Any:  # get_code, get_data, ...: the real loader's
        return getattr(self._loader, name)


def read(out: Path, specs: list[str]) -> dict[str, dict[str, Any]]:
    """The totals the server's processes wrote next to ``out``, added up, with µs a call (``us_per_call``,
    and ``us_per_long_call`` for the calls over ``LONG_S``); a method of ``specs`` none of them wrote
    says so."""
    methods: dict[str, dict[str, Any]] = {}
    for path in sorted(out.parent.glob(f"{out.stem}.*{out.suffix}")):
        for spec, entry in json.loads(path.read_text()).items():
            if "error" in entry:
                methods.setdefault(spec, entry)
                continue
            total = methods.get(spec)
            if total is None or "error" in total:
                methods[spec] = dict(entry)
            else:
                for key in ("calls", "seconds", "long", "long_seconds"):
                    total[key] += entry[key]
    for spec in specs:
        methods.setdefault(spec, {"error": "its module was never imported"})
    for entry in methods.values():
        if entry.get("calls"):
            entry["us_per_call"] = entry["seconds"] / entry["calls"] * 1e6
        if entry.get("long"):
            entry["us_per_long_call"] = entry["long_seconds"] / entry["long"] * 1e6
    return {spec: methods[spec] for spec in [*specs, *sorted(set(methods) - set(specs))]}
