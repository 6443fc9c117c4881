"""The web server as production runs it: ``python -m agentlocator.serve``.

One listening socket, opened here, and ``WEB_CONCURRENCY`` daphne processes accepting on it (each started
with ``--fd``: the kernel hands every new connection, an HTTP webhook or a call's Media Stream, to one of
them). Daphne serves one process per event loop, so this is how one machine uses more than one core.

Several processes only work when what they share lives outside them: the channel layer (a call's live page
and its staff actions may be served by another process than the call) and the Celery broker. The embedded
defaults (in-memory channel layer, SQLite broker) cannot, so more than one process needs ``REDIS_URL`` and
the start-up refuses otherwise, saying why.

Metrics: a scrape of the shared port reaches whichever process accepts it, so with several processes they
write their figures to one directory (prometheus-client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``,
emptied at start) and any of them answers /metrics for all (voice.metrics_view).

A process that dies is started again (its calls are closed and recovered by voice.reconciler); SIGTERM or
SIGINT stops them all, each finishing what it can in daphne's own shutdown.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

from agentlocator import web

DEFAULT_PORT = 8000
# A burst of calls starting together (each an HTTP webhook and a WebSocket) must not find the queue full.
LISTEN_BACKLOG = 1024
# A process that keeps dying at start (bad settings, port trouble) is not restarted in a tight loop: after
# QUICK_DEATHS in a row, each within QUICK_DEATH_S of its start, the launcher gives up and says so.
RESTART_PAUSE_S = 1.0
QUICK_DEATH_S = 30.0  # loading Django and the app takes seconds, more on a busy machine
QUICK_DEATHS = 3
STOP_GRACE_S = 10.0


class ConfigurationError(ValueError):
    """The environment asks for something this launcher cannot do; the message says what to change."""


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    processes: int


def options_from(environ: dict[str, str] | os._Environ[str], *, redis_url: str) -> ServeOptions:
    """Where to listen and how many processes, from ``HOST``/``PORT`` (what platforms set; ``WEB_PORT`` as
    ``make run`` sets it) and ``WEB_CONCURRENCY``. Raises ConfigurationError with a message for people."""
    host = environ.get("HOST", "0.0.0.0") or "0.0.0.0"
    if ":" in host:  # daphne adopts the shared socket as IPv4 (twisted's fd endpoint)
        raise ConfigurationError(f"HOST={host}: an IPv4 address is needed (daphne serves the socket as IPv4).")
    port = _whole_number(environ, "PORT", environ.get("WEB_PORT") or str(DEFAULT_PORT))
    if not 1 <= port <= 65535:
        raise ConfigurationError(f"PORT={port} is not a TCP port (1-65535).")
    processes = _whole_number(environ, "WEB_CONCURRENCY", "1")
    if processes < 1:
        raise ConfigurationError(f"WEB_CONCURRENCY={processes}: at least one web process is needed.")
    if processes > 1 and not redis_url:
        raise ConfigurationError(
            f"WEB_CONCURRENCY={processes} needs REDIS_URL: without it the channel layer lives in each process's "
            "memory and the Celery broker in a local SQLite file, so a call's live page and its actions would "
            "not reach a call served by another process. Set REDIS_URL, or WEB_CONCURRENCY=1."
        )
    try:  # each process would refuse it as it starts: say so once, before any starts
        web.event_loop_from(environ)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    return ServeOptions(host=host, port=port, processes=processes)


def _whole_number(environ: dict[str, str] | os._Environ[str], name: str, default: str) -> int:
    raw = (environ.get(name) or default).strip()
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a whole number.") from None


def listening_socket(host: str, port: int) -> socket.socket:
    """Bound and listening, inheritable by the daphne processes."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


def daphne_argv(fd: int) -> list[str]:
    """One daphne on the shared socket (on the event loop agentlocator.web picks), with the same options as
    every web process (the Procfile's)."""
    return [
        sys.executable,
        "-m",
        "agentlocator.web",
        "--fd",
        str(fd),
        "--proxy-headers",
        "--http-timeout",
        "30",
        "--websocket_connect_timeout",
        "5",
        "agentlocator.asgi:application",
    ]


class Supervisor:
    """Keeps ``processes`` daphne children running on one socket until told to stop."""

    def __init__(self, sock: socket.socket, processes: int, metrics_dir: str = "") -> None:
        self.sock = sock
        self.processes = processes
        self.metrics_dir = metrics_dir
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.started_at: dict[int, float] = {}
        self.quick_deaths = 0
        self.stopping = False

    def start_one(self) -> None:
        fd = self.sock.fileno()
        child = subprocess.Popen(daphne_argv(fd), pass_fds=(fd,))
        self.children[child.pid] = child
        self.started_at[child.pid] = time.monotonic()
        print(f"web process {child.pid} started", file=sys.stderr, flush=True)
        if self.stopping:  # told to stop while it was being started: it stops with the others
            child.send_signal(signal.SIGTERM)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for _ in range(self.processes):
            if self.stopping:
                break
            self.start_one()
        while not self.stopping:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            child = self.children.pop(pid, None)
            lived_s = time.monotonic() - self.started_at.pop(pid, 0.0)
            if self.metrics_dir:
                from prometheus_client import multiprocess

                multiprocess.mark_process_dead(pid, self.metrics_dir)  # its live gauges no longer count
            if child is None or self.stopping:
                continue
            self.quick_deaths = self.quick_deaths + 1 if lived_s < QUICK_DEATH_S else 0
            if self.quick_deaths >= QUICK_DEATHS:
                print(
                    f"web process {pid} ended ({_how(status)}); web processes keep failing as they start, "
                    "giving up (the reason is above)",
                    file=sys.stderr,
                    flush=True,
                )
                self._stop(signal.SIGTERM, None)
                self._stop_all()
                return 1
            print(f"web process {pid} ended ({_how(status)}); starting another", file=sys.stderr, flush=True)
            time.sleep(RESTART_PAUSE_S)
            if not self.stopping:
                self.start_one()
        return self._stop_all()

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True
        for child in list(self.children.values()):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    def _stop_all(self) -> int:
        deadline = time.monotonic() + STOP_GRACE_S
        for child in list(self.children.values()):
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.children.clear()
        return 0


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentlocator.settings")
    from django.conf import settings  # reads .env the way every other entry point does

    try:
        options = options_from(os.environ, redis_url=settings.REDIS_URL)
    except ConfigurationError as exc:
        print(f"agentlocator.serve: {exc}", file=sys.stderr)
        return 2
    try:
        sock = listening_socket(options.host, options.port)
    except OSError as exc:
        print(f"agentlocator.serve: cannot listen on {options.host}:{options.port}: {exc}", file=sys.stderr)
        return 2
    print(
        f"listening on {options.host}:{options.port} with {options.processes} web process(es)"
        + ("" if settings.REDIS_URL else " (embedded channel layer and broker: one process only)"),
        file=sys.stderr,
        flush=True,
    )
    metrics_dir, made_here = metrics_directory(options.processes)
    try:
        return Supervisor(sock, options.processes, metrics_dir).run()
    finally:
        if made_here:
            shutil.rmtree(metrics_dir, ignore_errors=True)  # never the operator's own directory


def metrics_directory(processes: int) -> tuple[str, bool]:
    """Where several processes write their metrics (exported to them as PROMETHEUS_MULTIPROC_DIR), emptied:
    figures left by an earlier run would be added to this one's; and whether this run made it. "" with one
    process (its plain registry)."""
    if processes < 2:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        return "", False
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    path = given or tempfile.mkdtemp(prefix="agentlocator-metrics-")
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):  # only prometheus-client's own files: the directory may be the operator's
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path, not given


if __name__ == "__main__":
    sys.exit(main())
