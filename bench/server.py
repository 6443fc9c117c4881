"""The server under test: a throwaway SQLite database, the environment of one daphne process with
zero-latency fake providers (started with ``voice.simulator.server.DaphneServer``), and what /proc says about
that process (CPU seconds, resident memory).

The production topology (``--redis``, ``--processes N``): a private ``redis-server`` for the channel layer and
the Celery broker, and the server started as production starts it, ``python -m agentlocator.serve`` with
``WEB_CONCURRENCY`` daphne processes on one port (``ServeServer``); its figures are the sum over them."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from voice.simulator.server import ROOT, DaphneServer, free_port, stop_process
from voice.simulator.webhook_client import DEFAULT_ACCOUNT_SID

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def server_env(tmp: Path, *, fake_reply: str, auth_token: str) -> dict[str, str]:
    """Everything from here, nothing from .env: a private database, media root and Celery broker (no
    worker consumes it; after-call tasks just queue, as they would for a busy worker)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "VOICE_", "PUBLIC_BASE", "REDIS"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "agentlocator.settings",
            "READ_DOT_ENV": "0",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "DEBUG": "false",
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
            "MEDIA_ROOT": str(tmp / "media"),
            "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp / 'broker.sqlite3'}",
            "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,  # the account the bench caller signs as
            "TWILIO_AUTH_TOKEN": auth_token,
            "ALLOWED_HOSTS": "*",
            "PYTHONUNBUFFERED": "1",
            "VOICE_ASR": "fake",
            "VOICE_LLM": "fake",
            "VOICE_TTS": "fake",
            "FAKE_REPLY_TEXT": fake_reply,
            "FAKE_TTS_WAV": "",  # the tone, unless a run asks for a voice (bench.load --tts recorded)
        }
    )
    return env


def prepare_database(env: dict[str, str], business: dict[str, object]) -> None:
    """``manage.py migrate`` into the throwaway file, then the business this run talks to."""
    for args in (["manage.py", "migrate", "--noinput"], ["-m", "bench.prepare", json.dumps(business)]):
        result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        if result.returncode:
            raise RuntimeError(f"{' '.join(args[:2])} failed:\n{result.stdout}\n{result.stderr}")


@dataclass
class ProcSample:
    cpu_s: float  # user + system, all threads
    rss_mb: float
    main_thread_cpu_s: float  # the event loop (daphne's main thread); the rest is worker threads (ORM)
    main_thread_wait_s: float  # runnable but waiting for a CPU (other processes on the machine): noise


def _cpu_s(stat_path: str) -> float:
    with open(stat_path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15)


def proc_sample(pid: int) -> ProcSample:
    cpu = _cpu_s(f"/proc/{pid}/stat")
    main = _cpu_s(f"/proc/{pid}/task/{pid}/stat")
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            wait = int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):  # kernels without schedstats
        wait = float("nan")
    rss_kb = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
                break
    return ProcSample(cpu, rss_kb / 1024, main, wait)


def sample_all(pids: list[int]) -> ProcSample:
    """The sum over several processes (the launcher's daphne processes); a process gone meanwhile counts 0."""
    total = ProcSample(0.0, 0.0, 0.0, 0.0)
    for pid in pids:
        try:
            s = proc_sample(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
        total = ProcSample(
            total.cpu_s + s.cpu_s,
            total.rss_mb + s.rss_mb,
            total.main_thread_cpu_s + s.main_thread_cpu_s,
            total.main_thread_wait_s + s.main_thread_wait_s,
        )
    return total


def children_of(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            children.append(int(entry))
    return sorted(children)


class ServeServer(DaphneServer):
    """``python -m agentlocator.serve`` with ``processes`` daphne processes (production's web command)."""

    def __init__(self, env: dict[str, str], log_path: Path, *, processes: int) -> None:
        super().__init__(env, log_path)
        self.processes = processes
        self.env |= {"PORT": str(self.port), "HOST": "127.0.0.1", "WEB_CONCURRENCY": str(processes)}

    def start(self) -> None:
        command = [sys.executable, "-m", "agentlocator.serve"]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_healthy()
            deadline = time.monotonic() + 30
            while len(self.pids()) < self.processes and time.monotonic() < deadline:
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    def pids(self) -> list[int]:
        return children_of(self.pid)


@contextmanager
def private_postgres(tmp: Path) -> Iterator[str]:
    """A PostgreSQL cluster of this run's own (the test suite's throwaway one: fsync off), its URL."""
    from tests.support.services import start_postgres, stop_postgres

    url = start_postgres(str(tmp))
    try:
        yield url
    finally:
        stop_postgres(url)


@contextmanager
def private_redis(tmp: Path) -> Iterator[str]:
    """A redis-server of this run's own (no persistence), its URL; stopped on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is needed for --redis/--processes (apt-get install redis-server)")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(proc)
