"""Twilio's side of one bidirectional Media Stream over a real WebSocket: the one emulator of Twilio that
``manage.py simulate_call``, the socket tests and the load benchmark use.

Twilio's part and nothing else: open the stream (``connected``, ``start``), send the caller's frames and
DTMF as Twilio frames them, play what the server sends through the shared ``PlayoutBuffer`` (audio plays in
order, each ``mark`` is echoed once the audio before it has played, ``clear`` drops what is queued and
echoes every pending mark at once), note what Twilio would reject (warning 31951) and hang up with ``stop``.
What the caller says, and when, is the driver's business: the simulator plays a recording, the benchmark
runs scripted turns.

Marks are echoed on time in one of two ways, under the same rule: ``echo_marks`` is a task that wakes when
the next mark is due (precise; the simulator), or a driver that already wakes every 20 ms to send a frame
checks ``marks_due`` and calls ``echo_due`` (no extra task or timer per call: the benchmark drives 100
calls from one process). The frame path (``send_media_b64``, ``marks_due``, the media branch of
``receive``) allocates nothing beyond the message itself.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import json
from collections.abc import Awaitable
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from voice.simulator.playout import SAMPLE_RATE, PlayoutBuffer
from voice.simulator.webhook_client import DEFAULT_ACCOUNT_SID
from voice.twilio import messages
from voice.twilio.security import sign

SUBPROTOCOL = "audio.twilio.com"
FRAME_BYTES = messages.FRAME_BYTES
MAX_PROTOCOL_ERRORS = 20  # enough to see what is wrong; a broken server cannot grow the list without bound


def socket_url(stream_url: str, base_url: str) -> str:
    """Where to connect. A plain-http server (local daphne) is reached with ws:// on the base URL's host;
    the signature still covers the wss:// URL from the TwiML, as Twilio signs it."""
    base = urlsplit(base_url)
    if base.scheme == "https":
        return stream_url
    stream = urlsplit(stream_url)
    return urlunsplit(("ws", base.netloc, stream.path, stream.query, ""))


def connect_media_socket(
    stream_url: str,
    base_url: str,
    auth_token: str,
    *,
    subprotocol: bool = True,
    open_timeout: float = 10,
    ping_interval: float | None = 20,
) -> connect:
    """The socket upgrade as Twilio makes it: signed (``x-twilio-signature`` over the wss:// URL with empty
    params), offering ``audio.twilio.com`` unless told not to. Use as ``async with``."""
    return connect(
        socket_url(stream_url, base_url),
        subprotocols=[Subprotocol(SUBPROTOCOL)] if subprotocol else None,
        additional_headers={"x-twilio-signature": sign(auth_token, stream_url, {})},
        compression=None,
        proxy=None,
        open_timeout=open_timeout,
        ping_interval=ping_interval,
    )


class StreamObserver(Protocol):
    """Sees each accepted outbound message at its arrival (loop time), e.g. to time it. Must not block."""

    def media(self, now: float, frames: int) -> None: ...

    def clear(self, now: float) -> None: ...


class TwilioSide:
    """Twilio's end of one stream. ``open`` first; run ``receive`` (and, unless the driver echoes marks on
    its own ticks, ``echo_marks``) as tasks for the whole stream; ``hang_up`` to end it as the caller."""

    def __init__(
        self,
        ws: ClientConnection,
        *,
        stream_sid: str,
        call_sid: str,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        speed: float = 1.0,
        keep_audio: bool = False,
        observer: StreamObserver | None = None,
        playout_delay_ms: int = 0,  # audio arriving to an empty buffer starts playing this much later
    ) -> None:
        if not 0 <= playout_delay_ms <= 2000:
            raise ValueError(f"a play-out delay of {playout_delay_ms} ms: give 0 to 2000 ms")
        self.ws = ws
        self.stream_sid = stream_sid
        self.call_sid = call_sid
        self.account_sid = account_sid
        self.observer = observer
        self.buffer = PlayoutBuffer()
        # What the caller heard, placed at its play position (only when asked: 8 kB per second of call).
        self.heard: bytearray | None = bytearray() if keep_audio else None
        self.t0 = 0.0  # loop time of media position 0: when ``start`` was sent
        self._rate = SAMPLE_RATE * speed  # media samples per loop second (speed > 1: faster than real time)
        # Twilio plays what it is sent after its own jitter buffer and the network's delay: a server that
        # estimates play-out from when it sends is that much early.
        self._playout_delay = playout_delay_ms * SAMPLE_RATE // 1000
        self._loop = asyncio.get_running_loop()
        self._sid_json = json.dumps(stream_sid)  # the constant part of every inbound media message
        self._marks_changed = asyncio.Event()
        self.sequence = 0  # sequenceNumber of the last message sent
        self.chunk = 0  # media messages handed to the socket
        self.dtmf_sent = 0
        self.frames_received = 0  # 20 ms frames of server audio (a media message may carry several)
        self.marks_received = 0
        self.marks_echoed = 0
        self.clears = 0
        self.protocol_errors: list[str] = []  # what Twilio would log as 31951
        self.hung_up = False  # we sent (or are sending) stop: Twilio sends and plays nothing more
        self.hung_up_by = ""  # "caller" (we sent stop) or "server" (it closed the socket)

    # -- media time --------------------------------------------------------------------------------------
    def position(self, at: float) -> int:
        """Media position (samples since the stream started) at loop time ``at``."""
        return max(0, int((at - self.t0) * self._rate))

    def time_at(self, position: int) -> float:
        """Loop time of media position ``position``."""
        return self.t0 + position / self._rate

    def play_end(self) -> float:
        """Loop time at which everything received so far will have played."""
        return self.t0 + self.buffer.queued_to / self._rate

    # -- Twilio -> server --------------------------------------------------------------------------------
    def _next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence

    async def open(self, parameters: dict[str, str]) -> None:
        """``connected`` and ``start`` (with the TwiML's ``<Parameter>``s); media time starts now."""
        await self.ws.send(messages.build_connected())
        await self.ws.send(
            messages.build_start(
                stream_sid=self.stream_sid,
                call_sid=self.call_sid,
                account_sid=self.account_sid,
                custom_parameters=parameters,
                sequence_number=self._next_sequence(),
            )
        )
        self.t0 = self._loop.time()

    def send_media_b64(self, payload_b64: str) -> Awaitable[None]:
        """One inbound ``media`` message (base64 mu-law, one 20 ms frame) exactly as Twilio words it. Not
        a coroutine: the caller awaits the socket's own send, no wrapper per frame."""
        self.sequence += 1
        self.chunk += 1
        chunk = self.chunk
        return self.ws.send(
            f'{{"event":"media","sequenceNumber":"{self.sequence}","media":{{"track":"inbound","chunk":"{chunk}",'
            f'"timestamp":"{(chunk - 1) * 20}","payload":"{payload_b64}"}},"streamSid":{self._sid_json}}}'
        )

    def send_media(self, frame: bytes) -> Awaitable[None]:
        """``send_media_b64`` for raw mu-law."""
        return self.send_media_b64(binascii.b2a_base64(frame, newline=False).decode("ascii"))

    async def send_dtmf(self, digit: str) -> None:
        await self.ws.send(messages.build_dtmf(self.stream_sid, digit, sequence_number=self._next_sequence()))
        self.dtmf_sent += 1

    async def hang_up(self) -> None:
        """``stop`` and close, as Twilio does when the caller hangs up."""
        self.hung_up = True
        await self.ws.send(
            messages.build_stop(
                self.stream_sid,
                call_sid=self.call_sid,
                account_sid=self.account_sid,
                sequence_number=self._next_sequence(),
            )
        )
        self.hung_up_by = "caller"
        await self.ws.close()

    # -- server -> Twilio --------------------------------------------------------------------------------
    async def receive(self) -> None:
        """Play what the server sends until the socket closes (run as a task for the whole stream)."""
        loop = self._loop
        try:
            async for raw in self.ws:
                now = loop.time()
                if isinstance(raw, bytes):
                    self._error("31951: binary frame")
                    continue
                try:
                    message = messages.parse_outbound(raw)
                except messages.MessageError as exc:
                    self._error(f"31951: {exc.reason}")
                    continue
                if message.stream_sid != self.stream_sid:
                    self._error("31951: wrong streamSid")
                    continue
                if self.hung_up:
                    continue
                if message.event == "media":
                    self._play(now, message.payload)
                elif message.event == "mark":
                    self.marks_received += 1
                    self.buffer.mark(message.name, self.position(now))
                    self._marks_changed.set()
                else:  # parse_outbound knows only media, mark and clear
                    await self._clear(now)
        except ConnectionClosed:
            pass
        if not self.hung_up_by:
            self.hung_up_by = "server"

    def _error(self, what: str) -> None:
        if len(self.protocol_errors) < MAX_PROTOCOL_ERRORS:
            self.protocol_errors.append(what)

    def _play(self, now: float, payload: bytes) -> None:
        frames = len(payload) // FRAME_BYTES
        if self.observer is not None:
            self.observer.media(now, frames)
        self.frames_received += frames
        start = self.buffer.queue(len(payload), self.position(now) + self._playout_delay)
        heard = self.heard
        if heard is not None:
            if len(heard) < start:  # the buffer had run dry: the caller heard silence meanwhile
                heard.extend(b"\xff" * (start - len(heard)))
            heard.extend(payload)

    async def _clear(self, now: float) -> None:
        self.clears += 1
        if self.observer is not None:
            self.observer.clear(now)
        flushed = self.buffer.clear(self.position(now))
        if self.heard is not None:
            del self.heard[self.buffer.queued_to :]  # what was still queued is dropped unheard
        self._marks_changed.set()
        for name in flushed:
            await self._echo(name)

    def heard_audio(self, until: float) -> bytes:
        """What the caller heard by loop time ``until`` (``keep_audio``): mu-law aligned to the start of the
        stream, silence where the buffer ran dry; audio still queued by then was never heard."""
        if self.heard is None:
            return b""
        return bytes(self.heard[: self.position(until)])

    # -- mark echoes ---------------------------------------------------------------------------------------
    async def _echo(self, name: str) -> None:
        if self.hung_up:
            return
        await self.ws.send(messages.build_inbound_mark(self.stream_sid, name, sequence_number=self._next_sequence()))
        self.marks_echoed += 1

    async def _echo_played(self, position: int) -> None:
        while (name := self.buffer.pop_due(position)) is not None:
            await self._echo(name)

    def marks_due(self, now: float) -> bool:
        """Whether some mark's audio has played by loop time ``now`` (cheap: checked on every frame)."""
        marks = self.buffer.marks
        return bool(marks) and marks[0][0] <= self.position(now)

    async def echo_due(self, now: float) -> None:
        """Echo every mark whose audio has played by loop time ``now``."""
        await self._echo_played(self.position(now))

    async def echo_marks(self) -> None:
        """Echo each mark as soon as its audio has played (run as a task for the whole stream)."""
        changed = self._marks_changed
        while True:
            due = self.buffer.next_due()
            if due is None:
                changed.clear()
                await changed.wait()
                continue
            delay = self.time_at(due) - self._loop.time()
            if delay > 0:
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), delay)
                continue  # look again: a clear may have flushed it, or an earlier one may have come in
            await self._echo_played(due)
