"""The web process listens on $PORT where a platform sets it: the Procfile's web line and the Dockerfile's
command, run as a platform runs them (a shell with PORT in its environment)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.live import ROOT, server_environment, stop_process
from voice.simulator.server import free_port

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def procfile_web_command() -> str:
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    return "exec " + line.removeprefix("web:").strip()  # as a platform runs it: the shell becomes daphne


def dockerfile_command() -> str:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", "")  # Docker joins continued lines first
    argv = json.loads(re.search(r"^CMD (\[.*\])$", text, re.MULTILINE).group(1))
    assert argv[:2] == ["sh", "-c"]  # a shell, so that ${PORT} is expanded
    return argv[2]


def answers_healthz(url: str, process: subprocess.Popen, log: Path) -> bool:
    for _ in range(300):  # until daphne has started, or has given up
        if process.poll() is not None:
            return False
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            time.sleep(0.1)
    return False


@pytest.mark.parametrize("command", [procfile_web_command, dockerfile_command], ids=["Procfile", "Dockerfile"])
def test_the_web_process_listens_on_the_port_the_platform_sets(command, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_environment(PORT=str(port), PUBLIC_BASE_URL=url)
    env.pop("WEB_PORT", None)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"  # daphne, as in the image
    log = tmp_path / "web.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(["sh", "-c", command()], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        assert answers_healthz(url, process, log), log.read_text(errors="replace")[-3000:]
    finally:
        stop_process(process)
