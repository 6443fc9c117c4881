"""A client that behaves like Twilio towards this server, for tests, benchmarks and deployment checks.

One call: sign and POST ``incoming_call``; check and parse the TwiML; open the media socket it names
(subprotocol ``audio.twilio.com``, signed upgrade); send ``connected``, ``start`` with the TwiML's
``<Parameter>``s, the caller's audio paced in (media) real time, silence, ``stop``; meanwhile play Twilio's
outbound buffer: audio plays in order, each ``mark`` is echoed when the audio queued before it has played,
``clear`` drops what is queued and echoes pending marks at once. Then POST the ``<Connect action>`` and the
final call status, like Twilio does when a stream ends. No Django: usable from any asyncio program.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from voice.audio import wav
from voice.twilio import messages
from voice.twilio.security import SIGNATURE_HEADER, sign

FRAME_BYTES = messages.FRAME_BYTES
FRAME_S = 0.020
SILENCE = b"\xff" * FRAME_BYTES
SUBPROTOCOL = "audio.twilio.com"


class SimulationError(Exception):
    """The server answered something Twilio would reject (the message names Twilio's error where known)."""


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def load_caller_audio(path: str) -> bytes:
    """Any WAV (rate, channels, encoding) -> 8 kHz mono mu-law, whole 160-byte frames."""
    with open(path, "rb") as f:
        audio = wav.wav_to_mulaw(f.read())
    return pad_to_frames(audio)


def pad_to_frames(audio: bytes) -> bytes:
    remainder = len(audio) % FRAME_BYTES
    return audio + b"\xff" * (FRAME_BYTES - remainder) if remainder else audio


@dataclass
class CallOptions:
    base_url: str  # e.g. http://127.0.0.1:8000 or https://crm.example.com
    auth_token: str
    caller_audio: bytes = b""  # 8 kHz mu-law; see load_caller_audio
    from_number: str = "+972501234567"
    to_number: str = "+97233763805"
    account_sid: str = "AC" + "0" * 32
    speed: float = 1.0  # > 1 runs media time faster than the wall clock
    silence_s: float = 2.0  # after the caller's audio, before hanging up
    subprotocol: bool = True  # offer audio.twilio.com
    dtmf: str = ""  # digits pressed after the caller's audio
    call_sid: str = field(default_factory=lambda: new_sid("CA"))
    stream_sid: str = field(default_factory=lambda: new_sid("MZ"))
    wait_for_server_close: bool = False  # after the silence, keep listening until the server ends the call
    max_call_s: float = 120.0  # wall-clock cap on the socket part


@dataclass
class CallSummary:
    call_sid: str
    stream_sid: str
    twiml: str = ""
    stream_url: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    action_url: str = ""
    subprotocol: str | None = None  # what the server answered
    frames_sent: int = 0  # caller -> server (speech and silence)
    frames_received: int = 0  # server -> caller
    marks_received: int = 0
    marks_echoed: int = 0
    clears: int = 0
    dtmf_sent: int = 0
    first_agent_audio_ms: float | None = None  # from the start of the stream
    reply_latency_ms: float | None = None  # end of caller speech -> first agent audio after it (wall ms)
    close_code: int | None = None
    hung_up_by: str = ""  # "caller" (we sent stop) or "server" (it closed the socket)
    protocol_errors: list[str] = field(default_factory=list)  # what Twilio would log as 31951 / 31924
    stream_ended_twiml: str = ""
    agent_audio: bytes = b""  # mu-law as the caller heard it, aligned to the stream's start

    @property
    def connected(self) -> bool:
        return bool(self.stream_url)

    def agent_wav(self) -> bytes:
        return wav.mulaw_to_wav(self.agent_audio)

    def lines(self) -> list[str]:
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.0f} ms"

        return [
            f"CallSid            {self.call_sid}",
            f"stream             {self.stream_url or '(no <Connect><Stream> in the TwiML)'}",
            f"subprotocol        {self.subprotocol or '-'}",
            f"frames sent        {self.frames_sent}",
            f"frames received    {self.frames_received} ({self.frames_received / 50:.1f} s of agent audio)",
            f"marks              {self.marks_received} received, {self.marks_echoed} echoed",
            f"clears             {self.clears}",
            f"first agent audio  {ms(self.first_agent_audio_ms)} after start",
            f"reply latency      {ms(self.reply_latency_ms)} (end of caller speech -> agent audio)",
            f"hung up by         {self.hung_up_by or '-'} (close code {self.close_code})",
            f"protocol errors    {', '.join(self.protocol_errors) or 'none'}",
        ]


# -- HTTP: webhooks as Twilio sends them ---------------------------------------------------------------
def check_twiml_response(response: httpx.Response) -> str:
    """What Twilio checks before it executes TwiML (else error 11200 / 12100)."""
    if response.status_code != 200:
        raise SimulationError(f"11200: HTTP {response.status_code} from {response.request.url}")
    content_type = response.headers.get("content-type", "").lower().replace(" ", "")
    if not content_type.startswith(("text/xml", "application/xml")) or "charset=utf-8" not in content_type:
        raise SimulationError(f"12100: content type {content_type!r} is not XML with charset=utf-8")
    body = response.content.decode("utf-8")
    if not body.startswith("<?xml"):
        raise SimulationError("12100: the document does not start with <?xml")
    return body


@dataclass
class StreamTwiml:
    url: str
    action: str
    status_callback: str
    parameters: dict[str, str]


def parse_connect_stream(body: str) -> StreamTwiml | None:
    """``<Response><Connect action><Stream url>`` with its ``<Parameter>``s; None when there is none."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise SimulationError(f"12100: TwiML does not parse: {exc}") from None
    if root.tag != "Response":
        raise SimulationError(f"12100: root element is <{root.tag}>, not <Response>")
    connect_el = root.find("Connect")
    stream_el = connect_el.find("Stream") if connect_el is not None else None
    if connect_el is None or stream_el is None:
        return None
    url = stream_el.get("url", "")
    if not url.startswith("wss://"):
        raise SimulationError(f"31920: stream URL {url!r} is not wss://")
    for attr in (url, connect_el.get("action", ""), stream_el.get("statusCallback", "")):
        if attr and "//" in urlsplit(attr).path:
            raise SimulationError(f"12100: '//' in the path of {attr}")
    params = {p.get("name", ""): p.get("value", "") for p in stream_el.findall("Parameter")}
    return StreamTwiml(
        url=url,
        action=connect_el.get("action", ""),
        status_callback=stream_el.get("statusCallback", ""),
        parameters=params,
    )


class TwilioLikeClient:
    """Signed POSTs to the server's webhooks. Share one instance (one connection pool) across calls."""

    def __init__(self, base_url: str, auth_token: str, *, http: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth_token = auth_token
        self._http = http or httpx.AsyncClient(timeout=15)
        self._own_http = http is None

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    async def post(self, url: str, params: dict[str, str]) -> httpx.Response:
        headers = {SIGNATURE_HEADER: sign(self.auth_token, url, params)}
        return await self._http.post(url, data=params, headers=headers)


# -- the socket: Twilio's side of a bidirectional stream ----------------------------------------------------
class _TwilioStream:
    """Plays Twilio on one media socket: sends the caller, plays and echoes what the server sends."""

    def __init__(self, ws: ClientConnection, options: CallOptions, summary: CallSummary) -> None:
        self.ws = ws
        self.opt = options
        self.summary = summary
        self.loop = asyncio.get_running_loop()
        self.t0 = 0.0
        self.speech_end: float | None = None
        self.queued_to = 0  # media offset (bytes of 8 kHz audio since t0) where queued audio ends
        self.pending_marks: deque[tuple[float, str]] = deque()  # (due time, name), due times ascending
        self.marks_changed = asyncio.Event()
        self.agent = bytearray()  # agent audio placed at its play time (media time since t0)
        self.sequence = 0
        self.stopped = False  # we sent stop: Twilio sends nothing more

    def _seq(self) -> int:
        self.sequence += 1
        return self.sequence

    def media_offset(self, at: float) -> int:
        """Byte offset in 8 kHz audio of loop time ``at``."""
        return max(0, int((at - self.t0) * self.opt.speed * 8000))

    async def run(self) -> None:
        await self.ws.send(messages.build_connected())
        await self.ws.send(
            messages.build_start(
                stream_sid=self.opt.stream_sid,
                call_sid=self.opt.call_sid,
                account_sid=self.opt.account_sid,
                custom_parameters=self.summary.parameters,
                sequence_number=self._seq(),
            )
        )
        self.t0 = self.loop.time()
        receiver = asyncio.create_task(self._receive())
        echoer = asyncio.create_task(self._echo_marks())
        try:
            await asyncio.wait_for(self._send_caller(receiver), self.opt.max_call_s)
        except (ConnectionClosed, TimeoutError):
            pass
        finally:
            echoer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await echoer
            if not receiver.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(receiver, 5)
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await receiver
        self.summary.close_code = self.ws.close_code
        end = self.media_offset(self.loop.time())
        del self.agent[end:]  # audio still queued when the call ended was never heard
        self.summary.agent_audio = bytes(self.agent)

    async def _send_caller(self, receiver: asyncio.Task[None]) -> None:
        frame_s = FRAME_S / self.opt.speed
        audio = pad_to_frames(self.opt.caller_audio)
        n_speech = len(audio) // FRAME_BYTES
        n_total = n_speech + round(self.opt.silence_s / FRAME_S)
        for i in range(n_total):
            if receiver.done():  # the server closed the socket
                return
            due = self.t0 + i * frame_s
            delay = due - self.loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if i == n_speech:
                self.speech_end = self.loop.time()
                await self._send_dtmf()
            frame = audio[i * FRAME_BYTES : (i + 1) * FRAME_BYTES] if i < n_speech else SILENCE
            await self.ws.send(
                messages.build_inbound_media(self.opt.stream_sid, frame, chunk=i + 1, sequence_number=self._seq())
            )
            self.summary.frames_sent += 1
        if self.speech_end is None:
            self.speech_end = self.loop.time()
            await self._send_dtmf()
        if self.opt.wait_for_server_close:
            await receiver  # the server ends the call (max_call_s caps the wait)
            return
        self.stopped = True
        await self.ws.send(
            messages.build_stop(
                self.opt.stream_sid,
                call_sid=self.opt.call_sid,
                account_sid=self.opt.account_sid,
                sequence_number=self._seq(),
            )
        )
        self.summary.hung_up_by = "caller"
        await self.ws.close()

    async def _send_dtmf(self) -> None:
        for digit in self.opt.dtmf:
            await self.ws.send(messages.build_dtmf(self.opt.stream_sid, digit, sequence_number=self._seq()))
            self.summary.dtmf_sent += 1

    def _error(self, what: str) -> None:
        if len(self.summary.protocol_errors) < 20:
            self.summary.protocol_errors.append(what)

    async def _receive(self) -> None:
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    self._error("31951: binary frame")
                    continue
                try:
                    message = messages.parse_outbound(raw)
                except messages.MessageError as exc:
                    self._error(f"31951: {exc.reason}")
                    continue
                if message.stream_sid != self.opt.stream_sid:
                    self._error("31951: wrong streamSid")
                    continue
                if self.stopped:
                    continue
                if message.event == "media":
                    self._play(message.payload)
                elif message.event == "mark":
                    self.summary.marks_received += 1
                    self.pending_marks.append((max(self.loop.time(), self._play_end()), message.name))
                    self.marks_changed.set()
                elif message.event == "clear":
                    await self._clear()
        except ConnectionClosed:
            pass
        if not self.summary.hung_up_by:
            self.summary.hung_up_by = "server"

    def _play_end(self) -> float:
        """Loop time at which everything queued so far will have played."""
        return self.t0 + self.queued_to / 8000 / self.opt.speed

    def _play(self, payload: bytes) -> None:
        now = self.loop.time()
        if self.summary.frames_received == 0:
            self.summary.first_agent_audio_ms = (now - self.t0) * 1000
        if self.speech_end is not None and self.summary.reply_latency_ms is None:
            self.summary.reply_latency_ms = (now - self.speech_end) * 1000
        self.summary.frames_received += len(payload) // FRAME_BYTES
        # Queued audio plays back to back; when the buffer ran dry the caller heard silence meanwhile.
        start = max(self.media_offset(now), self.queued_to)
        if len(self.agent) < start:
            self.agent.extend(b"\xff" * (start - len(self.agent)))
        self.agent.extend(payload)
        self.queued_to = start + len(payload)

    async def _clear(self) -> None:
        self.summary.clears += 1
        now_offset = self.media_offset(self.loop.time())
        if self.queued_to > now_offset:
            del self.agent[now_offset:]  # queued audio is dropped unheard
            self.queued_to = now_offset
        flushed = list(self.pending_marks)
        self.pending_marks.clear()
        self.marks_changed.set()
        for _, name in flushed:
            await self._echo(name)

    async def _echo(self, name: str) -> None:
        if self.stopped:
            return
        await self.ws.send(messages.build_inbound_mark(self.opt.stream_sid, name, sequence_number=self._seq()))
        self.summary.marks_echoed += 1

    async def _echo_marks(self) -> None:
        while True:
            if not self.pending_marks:
                self.marks_changed.clear()
                await self.marks_changed.wait()
                continue
            due, name = self.pending_marks[0]
            delay = due - self.loop.time()
            if delay > 0:
                self.marks_changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.marks_changed.wait(), delay)
                continue  # re-read: a clear may have flushed it meanwhile
            self.pending_marks.popleft()
            await self._echo(name)


def socket_url(stream_url: str, base_url: str) -> str:
    """Where to connect. A plain-http server (local daphne) is reached with ws:// on the base URL's host;
    the signature still covers the wss:// URL from the TwiML, as Twilio signs it."""
    base = urlsplit(base_url)
    if base.scheme == "https":
        return stream_url
    stream = urlsplit(stream_url)
    return urlunsplit(("ws", base.netloc, stream.path, stream.query, ""))


async def simulate_call(options: CallOptions, *, client: TwilioLikeClient | None = None) -> CallSummary:
    """Run one call end to end and say what happened. Raises SimulationError where Twilio would fail."""
    own_client = client is None
    client = client or TwilioLikeClient(options.base_url, options.auth_token)
    summary = CallSummary(call_sid=options.call_sid, stream_sid=options.stream_sid)
    started = time.monotonic()
    common = {
        "AccountSid": options.account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": options.call_sid,
        "Called": options.to_number,
        "Caller": options.from_number,
        "Direction": "inbound",
        "From": options.from_number,
        "To": options.to_number,
    }
    try:
        response = await client.post(client.url("/webhook/incoming_call"), {**common, "CallStatus": "ringing"})
        summary.twiml = check_twiml_response(response)
        stream = parse_connect_stream(summary.twiml)
        if stream is not None:
            summary.stream_url, summary.action_url = stream.url, stream.action
            summary.parameters = stream.parameters
            await run_stream(options, summary, stream)
            if stream.action:
                status = "completed" if summary.hung_up_by == "caller" else "in-progress"
                response = await client.post(stream.action, {**common, "CallStatus": status})
                summary.stream_ended_twiml = check_twiml_response(response)
        duration = str(round((time.monotonic() - started) * options.speed))
        response = await client.post(
            client.url("/webhook/call_status"),
            {**common, "CallStatus": "completed", "CallDuration": duration},
        )
        if response.status_code >= 400:
            raise SimulationError(f"15003: call status callback answered HTTP {response.status_code}")
    finally:
        if own_client:
            await client.aclose()
    return summary


async def run_stream(options: CallOptions, summary: CallSummary, stream: StreamTwiml) -> None:
    """The socket part of a call, for a stream URL and parameters already known (tests, benchmarks)."""
    headers = {"x-twilio-signature": sign(options.auth_token, stream.url, {})}
    try:
        async with connect(
            socket_url(stream.url, options.base_url),
            subprotocols=[SUBPROTOCOL] if options.subprotocol else None,
            additional_headers=headers,
            compression=None,
            proxy=None,
            open_timeout=10,
        ) as ws:
            summary.subprotocol = ws.subprotocol
            await _TwilioStream(ws, options, summary).run()
    except InvalidStatus as exc:
        raise SimulationError(f"31920: handshake answered HTTP {exc.response.status_code}") from None


def summary_json(summary: CallSummary) -> str:
    data = {k: v for k, v in summary.__dict__.items() if k != "agent_audio"}
    data["agent_audio_ms"] = len(summary.agent_audio) // 8
    return json.dumps(data, ensure_ascii=False, indent=2)
