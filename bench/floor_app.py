"""The cheapest ASGI app that carries a call's traffic: what daphne itself costs, with no voice agent.

Accepts every WebSocket, discards what it receives and sends one 40 ms media message every 40 ms (what
the agent's pacer sends while it speaks); answers every HTTP request with 200 so that the benchmark's
health check passes. ``bench.floor`` runs it under the same load as ``bench.load``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from typing import Any

from voice.twilio.messages import build_media

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

OUTBOUND_MS = 40
OUTBOUND = build_media("MZ" + "0" * 32, os.urandom(8 * OUTBOUND_MS))  # 8 mu-law bytes per ms


async def application(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})
    elif scope["type"] == "websocket":
        await _socket(receive, send)


async def _socket(receive: Receive, send: Send) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    sender = asyncio.get_running_loop().create_task(_speak(send))
    try:
        while (await receive())["type"] == "websocket.receive":
            pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


async def _speak(send: Send) -> None:
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        await send({"type": "websocket.send", "text": OUTBOUND})
        due += OUTBOUND_MS / 1000
        await asyncio.sleep(max(0.0, due - loop.time()))
