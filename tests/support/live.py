"""Real servers for tests: daphne serving the project on a loopback port, as another process
(``voice.simulator.server``, the helper the benchmarks use too).

The child process runs the real ``agentlocator.settings`` with an explicit environment pointing at the
test database, so what a test commits (``transactional_db``) the server sees, and vice versa.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from voice.simulator.server import ROOT, DaphneServer, free_port, stop_process

__all__ = [
    "ROOT",
    "LiveServer",
    "collected_static_root",
    "database_url_for_tests",
    "run_daphne",
    "server_environment",
    "simulate_call_argv",
    "simulated_call",
    "stop_process",
]


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


class SimulatedCall:
    """A running ``simulate_call``; what it printed goes to a file, never a pipe (a pipe nobody reads fills
    at 64 KiB and the simulator would block in the middle of the call)."""

    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process = process
        self._log = log
        self._printed: str | None = None  # kept when the call ends (its file goes with it)

    def output(self) -> str:
        return self._printed if self._printed is not None else self._log.read_text(errors="replace")

    def ended(self) -> None:
        self._printed = self._log.read_text(errors="replace") if self._log.exists() else ""


@contextmanager
def simulated_call(server_url: str, wav: str | Path, *options: str) -> Iterator[SimulatedCall]:
    """``manage.py simulate_call`` against a test server, in the background while the block runs (a browser
    test watches the call meanwhile); stopped at the end of the block, which ends the call."""
    with tempfile.TemporaryDirectory(prefix="simulated-call-") as folder:
        log = Path(folder) / "simulator.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                simulate_call_argv(server_url, str(wav), *options),
                cwd=ROOT,
                env=server_environment(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        call = SimulatedCall(process, log)
        try:
            yield call
        finally:
            try:
                stop_process(process)
            finally:
                call.ended()


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
            # Stored greetings are made by Celery jobs; a later test's worker would otherwise store fake-voice
            # clips in the shared media folder. The speech-cache tests turn it on with their own folder.
            "VOICE_SPEECH_CACHE": "false",
            "WEBHOOK_ALLOW_PRIVATE": "true",
        }
    )
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    else:
        env.pop("REDIS_URL", None)
        env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env.update(overrides)
    return env


# The server a test talks to; the name the tests know it by.
LiveServer = DaphneServer


@contextmanager
def run_daphne(tmp_dir: Path, **env_overrides: str) -> Iterator[LiveServer]:
    """Start daphne on a free port with this session's environment; stop it (SIGTERM, then SIGKILL) on exit."""
    env = server_environment(**env_overrides)  # first: it may collect static files, which takes a while
    port = free_port()
    with DaphneServer(env, tmp_dir / f"daphne-{port}.log", port=port, health_timeout=30) as server:
        yield server
