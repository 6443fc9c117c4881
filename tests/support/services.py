"""Throwaway PostgreSQL and Redis servers for the services configuration of the suite.

Started on free loopback ports in a temporary directory, stopped when the test process exits. Returns a
skip reason instead of raising when the binaries are not on the machine.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on port {port} after {timeout}s")


def _run_as_postgres_user() -> list[str]:
    """initdb and postgres refuse to run as root; use the 'postgres' (or 'nobody') account then."""
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        try:
            subprocess.run(["id", user], check=True, capture_output=True)
        except subprocess.CalledProcessError:
            continue
        return ["runuser", "-u", user, "--"]
    return []


_postgres: dict[str, subprocess.Popen] = {}  # by URL


def start_postgres(workdir: str) -> str:
    initdb, postgres = _pg_bin("initdb"), _pg_bin("postgres")
    if not (initdb and postgres):
        raise FileNotFoundError("PostgreSQL binaries (initdb, postgres) not found")
    prefix = _run_as_postgres_user()
    datadir = os.path.join(workdir, "pg")
    os.makedirs(datadir)
    if prefix:
        shutil.chown(workdir, user=prefix[2])
        shutil.chown(datadir, user=prefix[2])
    subprocess.run(
        [*prefix, initdb, "-D", datadir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
        check=True,
        capture_output=True,
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            *prefix,
            postgres,
            "-D",
            datadir,
            "-p",
            str(port),
            "-k",
            workdir,
            "-h",
            "127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(_stop, proc)
    _wait_for_port(port)
    url = f"postgres://postgres@127.0.0.1:{port}/postgres"
    _postgres[url] = proc
    return url


def stop_postgres(url: str) -> None:
    """Stop a cluster ``start_postgres`` started (before its directory is removed)."""
    _stop(_postgres.pop(url))


def start_redis(workdir: str) -> str:
    redis = shutil.which("redis-server")
    if not redis:
        raise FileNotFoundError("redis-server not found")
    port = free_port()
    proc = subprocess.Popen(
        [
            redis,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(_stop, proc)
    _wait_for_port(port)
    return f"redis://127.0.0.1:{port}/0"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def start_services() -> str:
    """Start both and export DATABASE_URL / REDIS_URL. Returns "" on success, else the skip reason."""
    workdir = tempfile.mkdtemp(prefix="agentlocator-services-")
    os.chmod(workdir, 0o777)
    try:
        os.environ["DATABASE_URL"] = start_postgres(workdir)
        os.environ["REDIS_URL"] = start_redis(workdir)
    except (FileNotFoundError, subprocess.CalledProcessError, RuntimeError) as exc:
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("REDIS_URL", None)
        detail = (getattr(exc, "stderr", b"") or b"").decode(errors="replace")[:300]
        return f"services configuration needs PostgreSQL and Redis: {exc} {detail}"
    return ""
