"""``python -m agentlocator.serve``: WEB_CONCURRENCY daphne processes on one listening socket.

The settings it refuses are refused before anything listens, with a message saying what to change; the real
launcher is started as production starts it, one of its processes is killed by PID while the other keeps
serving, and SIGTERM stops them all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from agentlocator.serve import DEFAULT_PORT, ConfigurationError, options_from
from tests.support.live import ROOT, server_environment, stop_process
from tests.support.services import free_port, start_redis

REDIS = "redis://127.0.0.1:6379/0"


# -- what it is asked to do ----------------------------------------------------------------------------------
def test_one_process_on_port_8000_by_default():
    options = options_from({}, redis_url="")
    assert (options.host, options.port, options.processes) == ("0.0.0.0", DEFAULT_PORT, 1)


def test_the_port_a_platform_sets_wins_over_make_runs():
    assert options_from({"PORT": "5000", "WEB_PORT": "8001"}, redis_url="").port == 5000
    assert options_from({"WEB_PORT": "8001"}, redis_url="").port == 8001


def test_several_processes_with_redis():
    assert options_from({"WEB_CONCURRENCY": "4"}, redis_url=REDIS).processes == 4


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"WEB_CONCURRENCY": "2"}, "WEB_CONCURRENCY=2 needs REDIS_URL"),
        ({"WEB_CONCURRENCY": "0"}, "at least one web process"),
        ({"WEB_CONCURRENCY": "two"}, "WEB_CONCURRENCY='two' is not a whole number"),
        ({"PORT": "http"}, "PORT='http' is not a whole number"),
        ({"PORT": "70000"}, "PORT=70000 is not a TCP port"),
        ({"HOST": "::"}, "HOST=::: an IPv4 address is needed"),
    ],
)
def test_what_cannot_work_is_refused_with_what_to_change(environ, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        options_from(environ, redis_url="")


def test_more_than_one_process_without_redis_does_not_start(tmp_path):
    port = free_port()
    env = launcher_environment(port, processes=2, redis_url="")
    done = subprocess.run(
        [sys.executable, "-m", "agentlocator.serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "WEB_CONCURRENCY=2 needs REDIS_URL" in done.stderr
    assert "web process" not in done.stderr  # nothing was started


# -- the real launcher -------------------------------------------------------------------------------------
METRICS_TOKEN = "scrape-token-for-tests"


def launcher_environment(port: int, *, processes: int, redis_url: str) -> dict[str, str]:
    env = server_environment(
        PORT=str(port),
        HOST="127.0.0.1",
        WEB_CONCURRENCY=str(processes),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        METRICS_TOKEN=METRICS_TOKEN,
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("WEB_PORT", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)
    return env


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def pids_in_metrics(port: int) -> set[int]:
    """The processes /metrics reports calls in progress for, whichever process answers the scrape."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    return {
        int(sample.labels["pid"])
        for family in text_string_to_metric_families(text)
        if family.name == "agentlocator_calls_in_progress"
        for sample in family.samples
    }


def started_pids(log: Path) -> list[int]:
    return [int(pid) for pid in re.findall(r"web process (\d+) started", log.read_text(errors="replace"))]


def wait_until(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:  # a process still starting, or one just killed: ask again
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what}:\n{log.read_text(errors='replace')}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_processes_share_the_socket_survive_a_kill_and_stop_together(tmp_path):
    redis_url = settings.REDIS_URL or start_redis(tempfile.mkdtemp(prefix="serve-redis-"))
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "agentlocator.serve"],
            cwd=ROOT,
            env=launcher_environment(port, processes=2, redis_url=redis_url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: len(started_pids(log)) == 2 and healthy(port), 60, "the web processes never served", log)
        first, second = started_pids(log)
        assert f"listening on 127.0.0.1:{port} with 2 web process(es)" in log.read_text()
        # One scrape, whichever process takes it, reports both (prometheus-client's multiprocess mode).
        wait_until(lambda: pids_in_metrics(port) == {first, second}, 30, "metrics do not cover both", log)

        os.kill(first, signal.SIGKILL)
        # At once, before a replacement exists: the other process answers on the same socket.
        assert all(healthy(port) for _ in range(5))
        wait_until(lambda: len(started_pids(log)) == 3, 30, "the killed process was not replaced", log)
        assert f"web process {first} ended (signal 9); starting another" in log.read_text()
        replacement = started_pids(log)[2]
        wait_until(lambda: healthy(port), 30, "no answer after the replacement", log)
        # The dead process's live figures are gone from the scrape; the replacement's are there.
        wait_until(lambda: pids_in_metrics(port) == {second, replacement}, 30, "metrics kept a dead process", log)

        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=30) == 0
        assert not alive(second) and not alive(replacement)
        assert not healthy(port)
    finally:
        stop_process(launcher)


@pytest.mark.slow
def test_processes_that_cannot_start_end_the_launcher_instead_of_restarting_forever(tmp_path):
    port = free_port()
    env = launcher_environment(port, processes=1, redis_url="")
    env.pop("PUBLIC_BASE_URL")  # production settings refuse to start without it
    done = subprocess.run(
        [sys.executable, "-m", "agentlocator.serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "PUBLIC_BASE_URL is required" in done.stderr  # the process's own reason, shown to the operator
    assert "web processes keep failing as they start" in done.stderr


# -- the container's probe ---------------------------------------------------------------------------------
def probe(port: int, path: str, host: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "PORT": str(port), "PUBLIC_BASE_URL": f"https://{host}"}
    return subprocess.run(
        [sys.executable, "-m", "agentlocator.probe", path], cwd=ROOT, env=env, capture_output=True, text=True
    )


@pytest.mark.slow
def test_the_probe_passes_on_a_ready_server_and_fails_on_a_closed_port(daphne_server):
    port = int(daphne_server.url.rsplit(":", 1)[1])
    assert probe(port, "/readyz", "voice.example.com").returncode == 0
    assert probe(port, "/no-such-page", "voice.example.com").returncode == 1
    closed = probe(free_port(), "/readyz", "voice.example.com")
    assert closed.returncode == 1 and "Connection refused" in closed.stderr
