"""Twilio's side of the socket (``TwilioSide``, driven by the simulator's caller) plays Twilio's outbound buffer:
marks echo when their audio has played, clear flushes.

The server side here is a scripted WebSocket server speaking the Media Streams protocol.
"""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from websockets.asyncio.server import serve

from voice.simulator.client import CallOptions, CallSummary, run_stream
from voice.simulator.twilio_side import TwilioSide, connect_media_socket
from voice.simulator.webhook_client import StreamTwiml, new_sid
from voice.twilio import messages

SPEED = 2.0


async def scripted_server(script):
    """Run ``script(ws, stream_sid, inbound_marks)`` once the simulator has sent ``start``."""
    seen: list[tuple[float, str]] = []

    async def handler(ws):
        stream_sid = None
        marks: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
        task = None
        async for raw in ws:
            message = messages.parse(raw)
            if isinstance(message, messages.Start):
                stream_sid = message.stream_sid
                task = asyncio.create_task(script(ws, stream_sid, marks))
            elif isinstance(message, messages.Mark):
                item = (asyncio.get_running_loop().time(), message.name)
                seen.append(item)
                await marks.put(item)
        if task:
            task.cancel()

    return await serve(handler, "127.0.0.1", 0), seen


async def call_against(
    script, *, silence_s: float = 1.5, playout_delay_ms: int = 0
) -> tuple[CallSummary, list[tuple[float, str]]]:
    server, seen = await scripted_server(script)
    port = server.sockets[0].getsockname()[1]
    options = CallOptions(
        base_url=f"http://127.0.0.1:{port}",
        auth_token="t",
        speed=SPEED,
        silence_s=silence_s,
        playout_delay_ms=playout_delay_ms,
    )
    summary = CallSummary(call_sid=options.call_sid, stream_sid=options.stream_sid)
    stream = StreamTwiml(url=f"wss://127.0.0.1:{port}/ws", action="", status_callback="", parameters={})
    try:
        await run_stream(options, summary, stream)
    finally:
        server.close()
        await server.wait_closed()
    return summary, seen


def half_a_second_then_a_mark(sent_at: dict[str, float]):
    """A script: 500 ms of audio, then a mark; ``sent_at["mark"]`` is when the mark went out."""

    async def script(ws, sid, marks):
        await ws.send(messages.build_media(sid, b"\x10" * 160 * 25))
        await ws.send(messages.build_mark(sid, "after-500ms"))
        sent_at["mark"] = asyncio.get_running_loop().time()

    return script


async def test_a_mark_is_echoed_only_after_the_audio_before_it_has_played():
    sent_at: dict[str, float] = {}
    summary, seen = await call_against(half_a_second_then_a_mark(sent_at))
    [(echoed_at, name)] = seen
    assert name == "after-500ms"
    assert echoed_at - sent_at["mark"] >= 0.5 / SPEED - 0.02
    assert (summary.marks_received, summary.marks_echoed, summary.frames_received) == (1, 1, 25)


async def test_with_a_play_out_delay_our_audio_plays_and_its_mark_echoes_that_much_later():
    sent_at: dict[str, float] = {}
    summary, seen = await call_against(half_a_second_then_a_mark(sent_at), playout_delay_ms=300)
    [(echoed_at, _)] = seen
    assert echoed_at - sent_at["mark"] >= (0.5 + 0.3) / SPEED - 0.02
    heard = summary.agent_audio
    first = next(i for i, byte in enumerate(heard) if byte == 0x10)
    assert first >= 300 * 8  # the caller heard silence for the delay first


def test_a_play_out_delay_out_of_range_is_refused():
    with pytest.raises(ValueError, match="0 to 2000 ms"):
        TwilioSide(None, stream_sid="MZ1", call_sid="CA1", playout_delay_ms=-1)  # type: ignore[arg-type]


async def test_clear_drops_queued_audio_and_echoes_pending_marks_at_once():
    times: dict[str, float] = {}

    async def script(ws, sid, marks):
        loop = asyncio.get_running_loop()
        await ws.send(messages.build_media(sid, b"\x20" * 160 * 100))  # 2 s of audio
        await ws.send(messages.build_mark(sid, "end-of-reply"))
        await asyncio.sleep(0.2 / SPEED)
        times["clear"] = loop.time()
        await ws.send(json.dumps({"event": "clear", "streamSid": sid}))

    summary, seen = await call_against(script)
    [(echoed_at, name)] = seen
    assert name == "end-of-reply"
    assert echoed_at - times["clear"] < 0.1  # at once, not after the 2 s of audio
    assert summary.clears == 1
    heard = summary.agent_audio.count(b"\x20")
    assert 0 < heard < 160 * 100 / 2  # only what played before the clear was heard


async def test_what_twilio_would_reject_is_reported():
    async def script(ws, sid, marks):
        await ws.send(b"\x00binary")
        await ws.send(json.dumps({"event": "media", "streamSid": "MZ-wrong", "media": {"payload": ""}}))
        await ws.send(json.dumps({"event": "stop", "streamSid": sid}))

    summary, _ = await call_against(script, silence_s=0.3)
    assert summary.protocol_errors == ["31951: binary frame", "31951: wrong streamSid", "31951: unknown_event"]


async def test_a_driver_that_ticks_every_frame_echoes_marks_on_its_ticks():
    """The benchmark's way: no echo task, the sender checks for due marks on each 20 ms tick."""
    sent_at: dict[str, float] = {}

    async def script(ws, sid, marks):
        await ws.send(messages.build_media(sid, b"\x10" * 160 * 10))  # 200 ms of audio
        await ws.send(messages.build_mark(sid, "after-200ms"))
        sent_at["mark"] = asyncio.get_running_loop().time()

    server, seen = await scripted_server(script)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    try:
        async with connect_media_socket(f"wss://127.0.0.1:{port}/ws", f"http://127.0.0.1:{port}", "t") as ws:
            side = TwilioSide(ws, stream_sid=new_sid("MZ"), call_sid=new_sid("CA"))
            await side.open({})
            receiver = asyncio.create_task(side.receive())
            silence = base64.b64encode(b"\xff" * 160).decode()
            for i in range(25):  # 500 ms
                await asyncio.sleep(max(0.0, side.t0 + i * 0.02 - loop.time()))
                await side.send_media_b64(silence)
                if side.marks_due(loop.time()):
                    await side.echo_due(loop.time())
            await side.hang_up()
            await receiver
    finally:
        server.close()
        await server.wait_closed()
    [(echoed_at, name)] = seen
    assert name == "after-200ms"
    assert 0.2 - 0.02 <= echoed_at - sent_at["mark"] < 0.2 + 0.1  # on the first tick after it played
    assert (side.chunk, side.marks_received, side.marks_echoed, side.frames_received) == (25, 1, 1, 10)
    assert side.hung_up_by == "caller" and side.protocol_errors == []
