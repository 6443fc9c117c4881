"""One benchmark call: Twilio's side of a media stream, lean enough to run 100 of them in one process.

The webhooks go through the simulator's ``TwilioLikeClient`` (one shared connection pool). On the socket,
one sender task per call sends a frame every 20 ms on an absolute schedule (media time = frames sent) and
plays Twilio's outbound buffer: each ``mark`` is echoed when the audio before it has played, ``clear``
flushes the buffer and echoes pending marks at once. A small script drives the conversation: wait for the
greeting, then turns (speak, wait for the reply, let it play); in one turn the caller talks over the reply.

Nothing is analysed during the call: the trace keeps raw timestamps (frame send times, media arrival
times, clear arrival times) and ``bench.metrics`` turns them into figures afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.audio import FRAME_S, CallerAudio
from voice.simulator.client import (
    SUBPROTOCOL,
    TwilioLikeClient,
    check_twiml_response,
    new_sid,
    parse_connect_stream,
    socket_url,
)
from voice.twilio import messages
from voice.twilio.security import sign

AGENT_DONE_S = 0.3  # the caller answers this long after the agent's audio has finished playing
STALL_S = 0.020  # a sender tick this late means this process itself was not running on time
REPLY_TIMEOUT_S = 10.0


@dataclass
class Script:
    duration_s: float  # no new turn starts after this much media time
    turns: int  # at most this many turns
    barge_turn: int = 0  # the turn (0-based) whose reply the caller talks over
    barge_after_s: float = 1.0  # of reply audio received before talking over it


@dataclass
class CallTrace:
    """Raw timings of one call (loop-clock seconds)."""

    call_sid: str
    send_times: array = field(default_factory=lambda: array("d"))  # index = media frame number
    media_arrivals: array = field(default_factory=lambda: array("d"))  # every outbound media message
    media_frames: array = field(default_factory=lambda: array("H"))  # 20 ms frames in each of those messages
    boundaries: list[float] = field(default_factory=list)  # the caller starts a new turn / a clear arrived
    clear_times: list[float] = field(default_factory=list)
    barge_starts: list[int] = field(default_factory=list)  # frame index where talking over the agent began
    turns_spoken: int = 0
    replies_heard: int = 0
    marks_received: int = 0
    marks_echoed: int = 0
    tick_lateness: array = field(default_factory=lambda: array("d"))  # sender wake-up lateness, seconds
    stalls: list[tuple[float, float]] = field(default_factory=list)  # (due, woke) of ticks late > STALL_S
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    @property
    def media_s(self) -> float:
        return len(self.send_times) * FRAME_S


class BenchCall:
    def __init__(self, client: TwilioLikeClient, audio: CallerAudio, script: Script, from_number: str) -> None:
        self.client = client
        self.audio = audio
        self.script = script
        self.from_number = from_number
        self.call_sid = new_sid("CA")
        self.stream_sid = new_sid("MZ")
        self.trace = CallTrace(self.call_sid)
        self.loop = asyncio.get_running_loop()
        self.ws: ClientConnection | None = None
        self.t0 = 0.0
        self.out: deque[str] = deque()  # base64 frames queued to say; silence when empty
        self.play_end = 0.0  # loop time when Twilio's buffer will have played everything received
        self.frames_received = 0  # 20 ms frames of agent audio received (a media message may carry several)
        self.pending_marks: deque[tuple[float, str]] = deque()
        self.seq = 0
        self.said: asyncio.Future[None] | None = None  # resolves when ``out`` has been sent
        # (predicate, future): checked by the sender every tick
        self.wait_for: tuple[Callable[[], object], asyncio.Future[None]] | None = None
        self.hung_up = False
        # The constant parts of an inbound media message, built once.
        self._sid_json = json.dumps(self.stream_sid)

    # -- the whole call -------------------------------------------------------------------------------
    async def run(self) -> CallTrace:
        self.trace.started = self.loop.time()
        common = {
            "AccountSid": "AC" + "0" * 32,
            "ApiVersion": "2010-04-01",
            "CallSid": self.call_sid,
            "Called": "+97233763805",
            "Caller": self.from_number,
            "Direction": "inbound",
            "From": self.from_number,
            "To": "+97233763805",
        }
        started = time.monotonic()
        try:
            response = await self.client.post(
                self.client.url("/webhook/incoming_call"), {**common, "CallStatus": "ringing"}
            )
            stream = parse_connect_stream(check_twiml_response(response))
            if stream is None:
                raise RuntimeError("the TwiML has no <Connect><Stream> (is the business in AI mode?)")
            headers = {"x-twilio-signature": sign(self.client.auth_token, stream.url, {})}
            async with connect(
                socket_url(stream.url, self.client.base_url),
                subprotocols=[SUBPROTOCOL],
                additional_headers=headers,
                compression=None,
                proxy=None,
                open_timeout=30,
                ping_interval=None,
            ) as ws:
                self.ws = ws
                await self._stream(stream.parameters)
            if stream.action:
                await self.client.post(stream.action, {**common, "CallStatus": "completed"})
            await self.client.post(
                self.client.url("/webhook/call_status"),
                {**common, "CallStatus": "completed", "CallDuration": str(round(time.monotonic() - started))},
            )
        except Exception as exc:  # reported with the results; one broken call does not stop the run
            self.trace.errors.append(f"{type(exc).__name__}: {exc}"[:200])
        self.trace.ended = self.loop.time()
        return self.trace

    async def _stream(self, parameters: dict[str, str]) -> None:
        ws = self.ws
        assert ws is not None
        await ws.send(messages.build_connected())
        self.seq = 1
        await ws.send(
            messages.build_start(
                stream_sid=self.stream_sid,
                call_sid=self.call_sid,
                account_sid="AC" + "0" * 32,
                custom_parameters=parameters,
                sequence_number=self.seq,
            )
        )
        self.t0 = self.loop.time()
        receiver = asyncio.create_task(self._receive())
        sender = asyncio.create_task(self._send())
        try:
            await self._conversation()
        except (TimeoutError, ConnectionClosed) as exc:
            self.trace.errors.append(f"{type(exc).__name__} {exc}"[:200])
        finally:
            self.hung_up = True
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender
            with contextlib.suppress(ConnectionClosed):
                self.seq += 1
                await ws.send(
                    messages.build_stop(
                        self.stream_sid, call_sid=self.call_sid, account_sid="AC" + "0" * 32, sequence_number=self.seq
                    )
                )
            with contextlib.suppress(ConnectionClosed):
                await ws.close()
            with contextlib.suppress(TimeoutError, ConnectionClosed):
                await asyncio.wait_for(receiver, 5)
            receiver.cancel()

    # -- the caller's script ---------------------------------------------------------------------------
    async def _conversation(self) -> None:
        script = self.script
        await self._until(lambda: self.trace.media_arrivals, REPLY_TIMEOUT_S, "no greeting")
        await self._agent_done()
        for turn in range(script.turns):
            if self._media_time() >= script.duration_s:
                break
            self.trace.boundaries.append(self.loop.time())
            await self._say(self.audio.speech)
            self.trace.turns_spoken += 1
            heard = len(self.trace.media_arrivals)
            await self._until(lambda h=heard: len(self.trace.media_arrivals) > h, REPLY_TIMEOUT_S, "no reply")
            self.trace.replies_heard += 1
            if turn == script.barge_turn:
                first = self.frames_received
                # Talk over the reply once some of it has arrived; the server must send `clear`.
                enough = first + round(script.barge_after_s / FRAME_S)
                await self._until(lambda n=enough: self.frames_received >= n, REPLY_TIMEOUT_S, "reply too short")
                clears = len(self.trace.clear_times)
                self.trace.barge_starts.append(len(self.trace.send_times) + len(self.out))
                await self._say(self.audio.barge)
                await self._until(lambda c=clears: len(self.trace.clear_times) > c, REPLY_TIMEOUT_S, "no clear")
                # What the caller said over the agent is a turn too: the agent answers it.
                heard = len(self.trace.media_arrivals)
                await self._until(lambda h=heard: len(self.trace.media_arrivals) > h, REPLY_TIMEOUT_S, "no reply")
                self.trace.turns_spoken += 1
                self.trace.replies_heard += 1
            await self._agent_done()

    def _media_time(self) -> float:
        return len(self.trace.send_times) * FRAME_S

    async def _say(self, frames: list[str]) -> None:
        self.out.extend(frames)
        self.said = self.loop.create_future()
        await self.said

    async def _agent_done(self) -> None:
        """Twilio's buffer has been empty for a moment: the agent has finished speaking."""
        await self._until(lambda: self.loop.time() >= self.play_end + AGENT_DONE_S, 30, "agent never stopped")

    async def _until(self, predicate: Callable[[], object], limit_s: float, what: str) -> None:
        if predicate():
            return
        future = self.loop.create_future()
        self.wait_for = (predicate, future)
        try:
            await asyncio.wait_for(future, limit_s)
        except TimeoutError:
            raise TimeoutError(f"{what} after {self._media_time():.1f} s") from None
        finally:
            self.wait_for = None

    # -- 50 frames a second ----------------------------------------------------------------------------
    async def _send(self) -> None:
        ws, trace, loop = self.ws, self.trace, self.loop
        assert ws is not None
        sid, silence = self._sid_json, self.audio.silence
        i = 0
        while True:
            due = self.t0 + i * FRAME_S
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
                now = loop.time()
            trace.tick_lateness.append(now - due)
            if now - due > STALL_S:
                trace.stalls.append((due, now))
            if self.out:
                payload = self.out.popleft()
                if not self.out and self.said is not None and not self.said.done():
                    self.said.set_result(None)
            else:
                payload = silence
            self.seq += 1
            i += 1
            trace.send_times.append(now)
            await ws.send(
                f'{{"event":"media","sequenceNumber":"{self.seq}","media":{{"track":"inbound","chunk":"{i}",'
                f'"timestamp":"{(i - 1) * 20}","payload":"{payload}"}},"streamSid":{sid}}}'
            )
            # Twilio echoes a mark once the audio queued before it has played.
            while self.pending_marks and self.pending_marks[0][0] <= now:
                await self._echo(self.pending_marks.popleft()[1])
            if self.wait_for is not None:
                predicate, future = self.wait_for
                if not future.done() and predicate():
                    future.set_result(None)

    async def _echo(self, name: str) -> None:
        self.seq += 1
        await self.ws.send(messages.build_inbound_mark(self.stream_sid, name, sequence_number=self.seq))
        self.trace.marks_echoed += 1

    async def _receive(self) -> None:
        ws, trace, loop = self.ws, self.trace, self.loop
        assert ws is not None
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                now = loop.time()
                try:
                    data = json.loads(raw)
                    event = data["event"]
                    if data["streamSid"] != self.stream_sid:
                        raise ValueError("wrong streamSid")
                except (ValueError, KeyError, TypeError) as exc:
                    if len(trace.errors) < 10:
                        trace.errors.append(f"protocol: {exc}"[:200])
                    continue
                if self.hung_up:
                    continue
                if event == "media":
                    trace.media_arrivals.append(now)
                    frames = len(data["media"]["payload"]) * 3 // 4 // messages.FRAME_BYTES
                    trace.media_frames.append(frames)
                    self.frames_received += frames
                    self.play_end = max(self.play_end, now) + frames * FRAME_S
                elif event == "mark":
                    trace.marks_received += 1
                    self.pending_marks.append((max(self.play_end, now), data["mark"]["name"]))
                elif event == "clear":
                    trace.clear_times.append(now)
                    trace.boundaries.append(now)
                    self.play_end = now
                    flushed, self.pending_marks = self.pending_marks, deque()
                    for _, name in flushed:
                        await self._echo(name)
