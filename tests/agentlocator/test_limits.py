"""Abuse is bounded, against a real daphne: oversized bodies get 413 without growing the process, sockets
that never authenticate are closed, and the Procfile runs daphne with its timeouts."""

from __future__ import annotations

import asyncio
import os
import re
import time

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.support.live import ROOT, run_daphne

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def rss_mb_and_fds(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/status") as f:
        status = f.read()
    rss_kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    return rss_kb // 1024, len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture
def server(tmp_path):
    # 3 s, not 1: the 300 sockets are opened one after another, and on a slow day (PostgreSQL behind daphne)
    # that took over a second, so the first were closed before the last opened (186 of 300 held at once).
    with run_daphne(tmp_path, MEDIA_START_TIMEOUT_SECONDS="3") as live:
        yield live


def test_unsigned_100_mib_posts_are_refused_with_413_and_memory_is_back_when_the_answer_comes(server):
    rss_before, _ = rss_mb_and_fds(server.pid)
    body = b"x" * (100 * 1024 * 1024)
    grown_after_each = []
    for _ in range(3):
        response = httpx.post(
            server.url + "/webhook/incoming_call",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
            timeout=120,
        )
        assert response.status_code == 413
        assert "גדולה מדי" in response.text
        # daphne (Twisted) queues the whole body before the app runs; the refusal drops it and hands the pages
        # back before it answers (before: ~+100 MB kept until a garbage collection happened to free it).
        grown_after_each.append(rss_mb_and_fds(server.pid)[0] - rss_before)
    assert max(grown_after_each) < 30, (rss_before, grown_after_each)
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_a_chunked_body_without_content_length_is_cut_at_the_limit(server):
    def chunks():
        for _ in range(64):
            yield b"x" * 8192  # 512 KiB in all, no Content-Length

    response = httpx.post(server.url + "/webhook/incoming_call", content=chunks(), timeout=30)
    assert response.status_code == 413


def test_a_small_webhook_body_is_not_affected(server):
    response = httpx.post(server.url + "/webhook/incoming_call", data={"CallSid": "CA1"}, timeout=10)
    assert response.status_code == 403  # unsigned: refused by the signature check, not by size


def test_300_sockets_that_never_send_start_are_closed(server):
    async def attack() -> tuple[int, int, int]:
        sockets = [await connect(server.ws_url + "/ws/twilio-media", proxy=None) for _ in range(300)]
        _, fds_open = rss_mb_and_fds(server.pid)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(s.state.name == "OPEN" for s in sockets):  # noqa: ASYNC110
            await asyncio.sleep(0.5)  # polling the peers' state: nothing to wait on
        still_open = sum(1 for s in sockets if s.state.name == "OPEN")
        for s in sockets:
            await s.close()
        await asyncio.sleep(0.5)
        return fds_open, still_open, rss_mb_and_fds(server.pid)[1]

    fds_open, still_open, fds_after = asyncio.run(attack())
    assert fds_open >= 300
    assert still_open == 0
    assert fds_after < 50


def test_every_web_process_runs_daphne_with_its_timeouts():
    """The Procfile, the Docker image (and so docker-compose's web containers) start agentlocator.serve, the one
    place that says how daphne runs: with an HTTP timeout and a WebSocket handshake timeout."""
    from agentlocator.serve import daphne_argv

    web_line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    assert "agentlocator.serve" in web_line
    assert re.search(r"^CMD .*agentlocator\.serve", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert not re.search(r"command:.*daphne", (ROOT / "docker-compose.yml").read_text())  # the image's command
    argv = " ".join(daphne_argv(3))
    assert re.search(r"--http-timeout \d+", argv) and re.search(r"--websocket_connect_timeout \d+", argv)
