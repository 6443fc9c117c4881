"""The daphne floor benchmark as a tool: a two-socket run starts its own daphne and reports daphne's cost.
A smoke test of the tool, not of performance: no figure is compared with a target here."""

from __future__ import annotations

import asyncio

import pytest

from bench import floor
from bench.floor_app import application as floor_app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_two_sockets_carry_twilios_frame_rate_and_daphnes_cpu_is_measured():
    result = floor.measure(calls=2, duration_s=3)

    assert result["calls"] == 2
    # Each socket sends a frame every 20 ms for ramp + duration (~3.2 s): about 160 frames apiece.
    assert 2 * 120 <= result["frames_sent"] <= 2 * 200
    assert result["event_loop_percent"] > 0
    assert result["process_percent"] >= result["event_loop_percent"] * 0.99
    assert result["cpu_s_per_call_minute"] > 0


def test_the_floor_app_answers_http_so_the_health_check_passes():
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request"}

    asyncio.run(floor_app({"type": "http", "path": "/healthz"}, receive, send))
    assert sent[0]["status"] == 200
