"""A real Celery worker for tests: ``celery -A agentlocator worker`` as another process, on this session's
broker (the embedded SQLite file, or Redis under TEST_SERVICES=1) and test database, so a test can queue a task
the way the app does, watch the worker run it, and kill the worker by PID."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.live import ROOT, server_environment, stop_process

HOSTNAME = "test-worker@%h"


def worker_argv(*options: str, hostname: str = HOSTNAME) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "agentlocator",
        "worker",
        "--pool=solo",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--hostname={hostname}",
        *options,
    ]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, log: Path, proc: subprocess.Popen) -> float:
    """Poll until ``predicate()``; the seconds it took. Fails with the worker's log when it does not happen."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"{what} (worker exit code {proc.poll()}):\n{log.read_text(errors='replace')}")


@contextmanager
def celery_worker(
    log: Path, *options: str, hostname: str = HOSTNAME, ready_timeout: float = 60, **env: str
) -> Iterator[subprocess.Popen]:
    """Start a worker, wait until it is ready (consuming), stop it on exit (SIGTERM, then SIGKILL)."""
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            worker_argv(*options, hostname=hostname),
            cwd=ROOT,
            env=server_environment(**env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: b" ready." in log.read_bytes(), ready_timeout, "the worker never became ready", log, worker)
        yield worker
    finally:
        stop_process(worker)
