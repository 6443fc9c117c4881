"""The server under test: a throwaway SQLite database, the environment of one daphne process with
zero-latency fake providers (started with ``voice.simulator.server.DaphneServer``), and what /proc says about
that process (CPU seconds, resident memory)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from voice.simulator.server import ROOT
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
