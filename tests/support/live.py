"""Real servers for tests: daphne serving the project on a loopback port, as another process.

The child process runs the real ``agentlocator.settings`` with an explicit environment pointing at the
test database, so what a test commits (``transactional_db``) the server sees, and vice versa.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection

from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]


def database_url_for_tests() -> str:
    """The URL of the database the test session is using right now (the test DB, not the real one)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@functools.cache
def collected_static_root() -> str:
    """Servers run the production settings (DEBUG off: whitenoise serves hashed names from the manifest), so
    static files are collected once per test session, into a folder of its own."""
    root = tempfile.mkdtemp(prefix="agentlocator-static-")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agentlocator.settings", "READ_DOT_ENV": "0", "STATIC_ROOT": root}
    env.setdefault("SECRET_KEY", settings.SECRET_KEY)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    return root


def simulate_call_argv(server_url: str, wav: str, *options: str) -> list[str]:
    """``manage.py simulate_call`` against a test server, as a person checking a deployment runs it (run it with
    ``cwd=ROOT`` and ``server_environment()``)."""
    return [sys.executable, "manage.py", "simulate_call", "--url", server_url, "--wav", str(wav), *options]


def server_environment(**overrides: str) -> dict[str, str]:
    """Environment for a child process (daphne, celery, simulate_call) sharing this test session's state."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "VOICE_", "PUBLIC_BASE"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "agentlocator.settings",
            "READ_DOT_ENV": "0",
            "SECRET_KEY": settings.SECRET_KEY,
            "DEBUG": "false",
            "DATABASE_URL": database_url_for_tests(),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "STATIC_ROOT": collected_static_root(),
            "TWILIO_ACCOUNT_SID": settings.TWILIO_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": settings.TWILIO_AUTH_TOKEN,
            "ALLOWED_HOSTS": "*",
            "PYTHONUNBUFFERED": "1",
            "VOICE_ASR": "fake",
            "VOICE_LLM": "fake",
            "VOICE_TTS": "fake",
        }
    )
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    else:
        env.pop("REDIS_URL", None)
        env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env.update(overrides)
    return env


@dataclass
class LiveServer:
    url: str  # http://127.0.0.1:PORT
    process: subprocess.Popen
    log_path: Path

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http") :]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def run_daphne(tmp_dir: Path, **env_overrides: str) -> Iterator[LiveServer]:
    """Start daphne on a free port; stop it (SIGTERM, then SIGKILL) on exit."""
    port = free_port()
    log_path = tmp_dir / f"daphne-{port}.log"
    env = server_environment(**env_overrides)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "agentlocator.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(url=f"http://127.0.0.1:{port}", process=proc, log_path=log_path)
    try:
        _wait_healthy(server)
        yield server
    finally:
        stop_process(proc)


def _wait_healthy(server: LiveServer, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"daphne exited early:\n{server.log()}")
        try:
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"daphne did not become healthy:\n{server.log()}")


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
