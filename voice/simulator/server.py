"""A local server to call: daphne serving the project (or another ASGI app) as a child process, on a free
loopback port, stopped on exit. The one way the tests and the benchmarks start a server.

The caller chooses the environment (settings, database, fake providers): this module only starts the
process, waits until ``GET /healthz`` answers 200 and stops it (SIGTERM, then SIGKILL). No Django here:
the project runs in the child.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]  # the project: daphne runs from here
PROJECT_APP = "agentlocator.asgi:application"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    """SIGTERM, and SIGKILL if it is still there after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class DaphneServer:
    """``python -m agentlocator.web`` (daphne, on the event loop production runs) serving ``app`` on 127.0.0.1.
    Use as a context manager: entering starts it and returns once it is healthy (or raises with the end of its
    log), leaving stops it."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        app: str = PROJECT_APP,
        port: int | None = None,
        health_timeout: float = 60,
    ) -> None:
        self.log_path = log_path  # daphne's stdout and stderr
        self.app = app
        self.port = port or free_port()
        self.health_timeout = health_timeout
        self.url = f"http://127.0.0.1:{self.port}"
        # The project refuses to start without DEBUG and without a public address; a local server's public
        # address is its own (callbacks handed to the simulator come back here).
        self.env = {"PUBLIC_BASE_URL": self.url, **env}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http") :]

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not started"
        return self.process.pid

    def __enter__(self) -> DaphneServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def command(self) -> list[str]:
        """The server's command line (the benchmark's other servers change only this)."""
        return [sys.executable, "-m", "agentlocator.web", "-b", "127.0.0.1", "-p", str(self.port), self.app]

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.health_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited early:\n{self.log_tail(60)}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"daphne did not become healthy:\n{self.log_tail(60)}")
