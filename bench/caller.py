"""One benchmark call: Twilio's side of a media stream, lean enough to run 100 of them in one process.

The webhooks go through the simulator's ``TwilioLikeClient`` (one shared connection pool); the socket is the
simulator's Twilio emulator (``voice.simulator.twilio_side.TwilioSide``): it plays Twilio's outbound buffer,
echoes each ``mark`` when the audio before it has played and honours ``clear``. One sender task per call
sends a frame every 20 ms on an absolute schedule (media time = frames sent) and, on the same tick, echoes
the marks that have become due (no timer task per call). A small script drives the conversation: wait for
the greeting, then turns (speak, wait for the reply, let it play); in one turn the caller talks over the reply.

Nothing is analysed during the call: the trace keeps raw timestamps (frame send times, media arrival
times, clear arrival times) and ``bench.metrics`` turns them into figures afterwards.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import time
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed

from bench.audio import FRAME_S, CallerAudio
from voice.simulator.speakerphone import Speakerphone
from voice.simulator.twilio_side import TwilioSide, connect_media_socket
from voice.simulator.webhook_client import (
    DEFAULT_ACCOUNT_SID,
    TwilioLikeClient,
    call_fields,
    check_twiml_response,
    new_sid,
    parse_connect_stream,
)

AGENT_DONE_S = 0.3  # the caller answers this long after the agent's audio has finished playing
STALL_S = 0.020  # a sender tick this late means this process itself was not running on time
REPLY_TIMEOUT_S = 10.0
TO_NUMBER = "+97233763805"
MAX_PROTOCOL_ERRORS = 10  # of the emulator's, copied into the trace (any at all fails the call)


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
    # Send times of the caller's speech frames sent while the agent's audio played: talking over it, on purpose
    # (the barge-in) or because the agent went on after a gap that said it had finished.
    over_agent: array = field(default_factory=lambda: array("d"))
    turns_spoken: int = 0
    replies_heard: int = 0
    marks_received: int = 0
    marks_echoed: int = 0
    tick_lateness: array = field(default_factory=lambda: array("d"))  # sender wake-up lateness, seconds
    stalls: list[tuple[float, float]] = field(default_factory=list)  # (due, woke) of ticks late > STALL_S
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    stream_opened: float = 0.0  # the media socket's "connected" and "start" sent: the greeting is due
    ended: float = 0.0

    @property
    def greeting_ms(self) -> float | None:
        """From the stream's start to the first greeting frame, as the caller waits for it."""
        if not self.stream_opened or not self.media_arrivals:
            return None
        return (self.media_arrivals[0] - self.stream_opened) * 1000

    @property
    def media_s(self) -> float:
        return len(self.send_times) * FRAME_S

    # StreamObserver: the emulator reports each outbound message as it arrives
    def media(self, now: float, frames: int) -> None:
        self.media_arrivals.append(now)
        self.media_frames.append(frames)

    def clear(self, now: float) -> None:
        self.clear_times.append(now)
        self.boundaries.append(now)


class BenchCall:
    def __init__(
        self,
        client: TwilioLikeClient,
        audio: CallerAudio,
        script: Script,
        from_number: str,
        speakerphone: Speakerphone | None = None,  # the agent's voice comes back on this caller's line
        *,
        playout_delay_ms: int = 0,  # Twilio plays the agent's audio this much late (``TwilioSide``)
    ) -> None:
        self.client = client
        self.speakerphone = speakerphone
        self.playout_delay_ms = playout_delay_ms
        self.audio = audio
        self.script = script
        self.from_number = from_number
        self.call_sid = new_sid("CA")
        self.stream_sid = new_sid("MZ")
        self.trace = CallTrace(self.call_sid)
        self.loop = asyncio.get_running_loop()
        self.side: TwilioSide | None = None
        self.out: deque[str] = deque()  # base64 frames queued to say; silence when empty
        self.said: asyncio.Future[None] | None = None  # resolves when ``out`` has been sent
        # (predicate, future): checked by the sender every tick
        self.wait_for: tuple[Callable[[], object], asyncio.Future[None]] | None = None

    # -- the whole call -------------------------------------------------------------------------------
    async def run(self) -> CallTrace:
        self.trace.started = self.loop.time()
        common = call_fields(
            self.call_sid, from_number=self.from_number, to_number=TO_NUMBER, account_sid=DEFAULT_ACCOUNT_SID
        )
        started = time.monotonic()
        try:
            response = await self.client.post(
                self.client.url("/webhook/incoming_call"), {**common, "CallStatus": "ringing"}
            )
            stream = parse_connect_stream(check_twiml_response(response))
            if stream is None:
                raise RuntimeError("the TwiML has no <Connect><Stream> (is the business in AI mode?)")
            async with connect_media_socket(
                stream.url, self.client.base_url, self.client.auth_token, open_timeout=30, ping_interval=None
            ) as ws:
                self.side = TwilioSide(
                    ws,
                    stream_sid=self.stream_sid,
                    call_sid=self.call_sid,
                    observer=self.trace,
                    keep_audio=self.speakerphone is not None,  # what the caller heard is what comes back
                    playout_delay_ms=self.playout_delay_ms,
                )
                await self._stream(self.side, stream.parameters)
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

    async def _stream(self, side: TwilioSide, parameters: dict[str, str]) -> None:
        await side.open(parameters)
        self.trace.stream_opened = self.loop.time()
        receiver = asyncio.create_task(side.receive())
        sender = asyncio.create_task(self._send(side))
        try:
            await self._conversation()
        except (TimeoutError, ConnectionClosed) as exc:
            self.trace.errors.append(f"{type(exc).__name__} {exc}"[:200])
        finally:
            side.hung_up = True  # from here on Twilio plays nothing: what still arrives is not traced
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender
            with contextlib.suppress(ConnectionClosed):
                await side.hang_up()
            with contextlib.suppress(TimeoutError, ConnectionClosed):
                await asyncio.wait_for(receiver, 5)
            receiver.cancel()
            self.trace.marks_received, self.trace.marks_echoed = side.marks_received, side.marks_echoed
            self.trace.errors += [f"protocol: {e}" for e in side.protocol_errors[:MAX_PROTOCOL_ERRORS]]

    # -- the caller's script ---------------------------------------------------------------------------
    async def _conversation(self) -> None:
        script, side = self.script, self.side
        assert side is not None
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
                first = side.frames_received
                # Talk over the reply once some of it has arrived; the server must send `clear`.
                enough = first + round(script.barge_after_s / FRAME_S)
                await self._until(lambda n=enough: side.frames_received >= n, REPLY_TIMEOUT_S, "reply too short")
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
        side = self.side
        assert side is not None
        await self._until(lambda: self.loop.time() >= side.play_end() + AGENT_DONE_S, 30, "agent never stopped")

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
    async def _send(self, side: TwilioSide) -> None:
        trace, loop, out = self.trace, self.loop, self.out
        t0, silence = side.t0, self.audio.silence
        i = 0
        while True:
            due = t0 + i * FRAME_S
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
                now = loop.time()
            trace.tick_lateness.append(now - due)
            if now - due > STALL_S:
                trace.stalls.append((due, now))
            if out:
                payload = out.popleft()
                if not out and self.said is not None and not self.said.done():
                    self.said.set_result(None)
                if now < side.play_end():
                    trace.over_agent.append(now)
            else:
                payload = silence
            trace.send_times.append(now)
            if self.speakerphone is not None and side.heard is not None:
                frame = binascii.a2b_base64(payload)
                await side.send_media(self.speakerphone.mix(frame, side.heard, i * len(frame)))
            else:
                await side.send_media_b64(payload)
            i += 1
            # Twilio echoes a mark once the audio queued before it has played: checked on this tick.
            if side.marks_due(now):
                await side.echo_due(now)
            if self.wait_for is not None:
                predicate, future = self.wait_for
                if not future.done() and predicate():
                    future.set_result(None)
