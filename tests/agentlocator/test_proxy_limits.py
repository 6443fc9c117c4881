"""The production proxy (deploy/Caddyfile, Debian's caddy) bounds what daphne cannot: a client that sends
its headers or body slowly is cut off, an oversized body still gets the application's 413, metrics and
readiness stay on daphne's own address, and an ordinary request goes through."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import NamedTuple

import httpx
import pytest

from tests.support.live import ROOT, run_daphne
from voice.simulator.server import free_port, stop_process

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed (apt-get install caddy)"),
]


METRICS_TOKEN = "proxy-test-metrics-token"


class Proxied(NamedTuple):
    url: str  # through the proxy
    direct: str  # daphne's own address


@pytest.fixture
def proxy(tmp_path) -> Iterator[Proxied]:
    with run_daphne(tmp_path, METRICS_TOKEN=METRICS_TOKEN) as live:
        direct = live.url
        port = free_port()
        upstream = live.url.removeprefix("http://")
        env = {
            **os.environ,
            "HOME": str(tmp_path),  # caddy keeps its state under $HOME/.local/share
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "PUBLIC_HOST": f"http://127.0.0.1:{port}",
            "UPSTREAM_1": upstream,
            "UPSTREAM_2": upstream,
        }
        log = (tmp_path / "caddy.log").open("wb")
        process = subprocess.Popen(
            ["caddy", "run", "--config", str(ROOT / "deploy" / "Caddyfile"), "--adapter", "caddyfile"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert process.poll() is None, (tmp_path / "caddy.log").read_text()
                assert time.monotonic() < deadline, "caddy did not come up"
                time.sleep(0.2)
            yield Proxied(url, direct)
        finally:
            stop_process(process)
            log.close()


def seconds_until_closed(url: str, first: bytes, drip: bytes, *, every_s: float, give_up_s: float) -> float:
    """Send ``first``, then one byte of ``drip`` every ``every_s``; how long until the proxy hangs up."""
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=give_up_s) as sock:
        sock.sendall(first)
        sock.settimeout(every_s)
        while time.monotonic() - started < give_up_s:
            try:
                if sock.recv(4096) == b"":
                    return time.monotonic() - started
                return time.monotonic() - started  # an answer (408/400) also ends the request
            except TimeoutError:
                pass
            try:
                sock.sendall(drip[:1])
                drip = drip[1:] or b"x"
            except OSError:
                return time.monotonic() - started
    return time.monotonic() - started


def test_an_ordinary_request_goes_through(proxy):
    assert httpx.get(proxy.url + "/healthz", timeout=5).status_code == 200


def test_metrics_and_readiness_are_answered_on_daphnes_own_address_and_not_through_the_proxy(proxy):
    token = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert httpx.get(proxy.direct + "/metrics", headers=token, timeout=10).status_code == 200
    assert httpx.get(proxy.direct + "/readyz", timeout=10).status_code in (200, 503)  # answered, either way
    assert httpx.get(proxy.url + "/metrics", headers=token, timeout=10).status_code == 404
    assert httpx.get(proxy.url + "/readyz", timeout=10).status_code == 404


def test_a_client_that_drips_its_headers_is_cut_off(proxy):
    elapsed = seconds_until_closed(
        proxy.url, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Slow: " + b"a" * 100, every_s=1, give_up_s=40
    )
    assert elapsed < 20  # read_header 10 s (daphne alone kept such clients for minutes)


def test_a_client_that_drips_its_body_is_cut_off(proxy):
    head = (
        b"POST /webhook/incoming_call HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000\r\n\r\n"
    )
    elapsed = seconds_until_closed(proxy.url, head, b"a" * 5000, every_s=1, give_up_s=60)
    assert elapsed < 45  # read_body 30 s


def test_an_oversized_body_is_refused_through_the_proxy_with_413(proxy):
    response = httpx.post(
        proxy.url + "/webhook/incoming_call",
        content=b"x" * (9 * 1024 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
        timeout=60,
    )
    assert response.status_code == 413


def test_a_body_declared_larger_than_8_mib_is_refused_by_the_proxy_itself(proxy):
    # Only the headers are sent: a proxy that passed the request on would wait for the body.
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /webhook/incoming_call HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 104857600\r\n\r\n"
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")
