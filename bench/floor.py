"""Daphne's own cost at a call load: the floor under ``bench.load``'s figures.

    python -m bench.floor --calls 100 [--duration 30] [--server daphne|uvicorn|granian]

Runs ``bench.floor_app`` (receives and discards, sends 40 ms of audio every 40 ms) in one daphne process
(``agentlocator.web``: on uvloop, as production runs it; ``WEB_EVENT_LOOP=asyncio`` for asyncio's loop)
and opens N WebSockets that each send a Twilio media message (one 20 ms frame) every 20 ms, as Twilio does.
Prints the event-loop thread's share of a core with all sockets up: what daphne, autobahn and twisted spend
on the messages before any voice-agent code runs. ``bench.load`` at the same N, minus this, is what the
agent itself costs.

``--server`` runs the same app under uvicorn (uvloop, httptools, websockets) or granian (one worker, uvloop)
instead, for the record: daphne stays the project's server. Neither is a project dependency
(``pip install "uvicorn[standard]" granian`` to run them). Granian serves from a worker process, so CPU is
summed over the server's processes; its "event-loop thread" figure is the main threads' only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import websockets

from bench.server import children_of, sample_all
from voice.simulator.server import DaphneServer
from voice.twilio.messages import build_inbound_media

FRAME_S = 0.02
SERVERS = ("daphne", "uvicorn", "granian")


class UvicornServer(DaphneServer):
    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(self.port),
            "--loop", "uvloop", "--http", "httptools", "--ws", "websockets", "--no-access-log", self.app,
        ]  # fmt: skip


class GranianServer(DaphneServer):
    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", "1", "--loop", "uvloop", "--ws", "--no-access-log", self.app,
        ]  # fmt: skip


SERVER_CLASSES: dict[str, type[DaphneServer]] = {
    "daphne": DaphneServer, "uvicorn": UvicornServer, "granian": GranianServer,
}  # fmt: skip


async def _caller(url: str, until: float) -> int:
    stream_sid, payload, sent = "MZ" + "0" * 32, os.urandom(160), 0
    async with websockets.connect(url, compression=None, max_size=None) as ws:
        drain = asyncio.get_running_loop().create_task(_drain(ws))
        due = time.monotonic()
        while due < until:
            sent += 1
            await ws.send(build_inbound_media(stream_sid, payload, chunk=sent, sequence_number=sent))
            due += FRAME_S
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        drain.cancel()
    return sent


async def _drain(ws: websockets.ClientConnection) -> None:
    async for _ in ws:
        pass


async def _run(url: str, calls: int, ramp_s: float, duration_s: float) -> int:
    until = time.monotonic() + ramp_s + duration_s

    async def start(i: int) -> int:
        await asyncio.sleep(ramp_s * i / calls)
        return await _caller(url, until)

    return sum(await asyncio.gather(*(start(i) for i in range(calls))))


def measure(calls: int, duration_s: float, server: str = "daphne") -> dict[str, float]:
    """Event-loop thread CPU over the window in which every socket is up, as a share of one core."""
    ramp_s = min(10.0, calls * 0.1)
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        server_class = SERVER_CLASSES[server]
        with server_class(env, Path(tmp) / f"{server}.log", app="bench.floor_app:application") as daphne:
            loop = asyncio.new_event_loop()
            task = loop.create_task(_run(daphne.url.replace("http", "ws", 1) + "/", calls, ramp_s, duration_s))
            loop.run_until_complete(asyncio.sleep(ramp_s + 1))
            pids = [daphne.pid, *children_of(daphne.pid)]
            before, t0 = sample_all(pids), time.monotonic()
            loop.run_until_complete(asyncio.sleep(max(1.0, duration_s - 2)))
            after, t1 = sample_all(pids), time.monotonic()
            frames = loop.run_until_complete(task)
            loop.close()
    window = t1 - t0
    return {
        "calls": calls,
        "frames_sent": frames,
        "event_loop_percent": 100 * (after.main_thread_cpu_s - before.main_thread_cpu_s) / window,
        "process_percent": 100 * (after.cpu_s - before.cpu_s) / window,
        "cpu_s_per_call_minute": (after.cpu_s - before.cpu_s) / (calls * window / 60),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=100)
    p.add_argument("--duration", type=float, default=30.0, help="seconds with every socket up")
    p.add_argument("--server", choices=SERVERS, default="daphne", help="the ASGI server to measure")
    args = p.parse_args(argv)
    r = measure(args.calls, args.duration, args.server)
    print(
        f"bench.floor: {r['calls']} sockets on one {args.server}, Twilio's inbound rate (50 messages/s each) and "
        "40 ms outbound messages, no voice agent\n"
        f"  event-loop thread {r['event_loop_percent']:.0f}% of one core; process "
        f"{r['process_percent']:.0f}% = {r['cpu_s_per_call_minute']:.2f} CPU-s per call-minute"
    )


if __name__ == "__main__":
    main()
