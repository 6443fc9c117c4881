"""A client that behaves like Twilio towards this server, for tests, benchmarks and deployment checks.

One call: sign and POST ``incoming_call``; check and parse the TwiML; open the media socket it names
(subprotocol ``audio.twilio.com``, signed upgrade); send ``connected``, ``start`` with the TwiML's
``<Parameter>``s, the caller's audio paced in (media) real time, silence, ``stop``; meanwhile play Twilio's
outbound buffer (``twilio_side``: marks echoed when their audio has played, ``clear`` flushes), on a
speakerphone if asked (``speakerphone``: what the caller hears comes back on their line). Then POST
the ``<Connect action>`` and the final call status, like Twilio does when a stream ends. No Django: usable
from any asyncio program.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed, InvalidStatus

from voice.audio import wav
from voice.simulator.speakerphone import Speakerphone
from voice.simulator.twilio_side import SUBPROTOCOL, TwilioSide, connect_media_socket, socket_url
from voice.simulator.webhook_client import (
    DEFAULT_ACCOUNT_SID,
    SimulationError,
    StreamTwiml,
    TwilioLikeClient,
    call_fields,
    check_twiml_response,
    new_sid,
    parse_connect_stream,
)
from voice.twilio import messages

__all__ = [
    "FRAME_BYTES",
    "FRAME_S",
    "SILENCE",
    "SUBPROTOCOL",
    "CallOptions",
    "CallSummary",
    "SimulationError",
    "Speakerphone",
    "StreamTwiml",
    "TwilioLikeClient",
    "check_twiml_response",
    "load_caller_audio",
    "new_sid",
    "pad_to_frames",
    "parse_connect_stream",
    "run_stream",
    "simulate_call",
    "socket_url",
    "summary_json",
]

FRAME_BYTES = messages.FRAME_BYTES
FRAME_S = 0.020
SILENCE = b"\xff" * FRAME_BYTES


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
    account_sid: str = DEFAULT_ACCOUNT_SID
    speed: float = 1.0  # > 1 runs media time faster than the wall clock
    silence_s: float = 2.0  # after the caller's audio, before hanging up
    subprotocol: bool = True  # offer audio.twilio.com
    dtmf: str = ""  # digits pressed after the caller's audio
    call_sid: str = field(default_factory=lambda: new_sid("CA"))
    stream_sid: str = field(default_factory=lambda: new_sid("MZ"))
    wait_for_server_close: bool = False  # after the silence, keep listening until the server ends the call
    max_call_s: float = 120.0  # wall-clock cap on the socket part
    speakerphone: Speakerphone | None = None  # the agent's voice comes back on the caller's line
    playout_delay_ms: int = 0  # Twilio starts playing our audio this much after it arrives to an empty buffer


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


class _Caller:
    """The person on the line: their recording paced in media real time, then silence and DTMF, then the
    hang-up. Twilio's side of the socket (``TwilioSide``) carries it and plays what the server answers."""

    def __init__(self, side: TwilioSide, options: CallOptions, summary: CallSummary) -> None:
        self.side = side
        self.opt = options
        self.summary = summary
        self.loop = asyncio.get_running_loop()
        self.speech_end: float | None = None
        side.observer = self

    # StreamObserver: when the agent's audio arrives
    def media(self, now: float, frames: int) -> None:
        if self.summary.first_agent_audio_ms is None:
            self.summary.first_agent_audio_ms = (now - self.side.t0) * 1000
        if self.speech_end is not None and self.summary.reply_latency_ms is None:
            self.summary.reply_latency_ms = (now - self.speech_end) * 1000

    def clear(self, now: float) -> None:
        pass

    async def run(self) -> None:
        side = self.side
        await side.open(self.summary.parameters)
        receiver = asyncio.create_task(side.receive())
        echoer = asyncio.create_task(side.echo_marks())
        try:
            await asyncio.wait_for(self._speak(receiver), self.opt.max_call_s)
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
        self._report()

    async def _speak(self, receiver: asyncio.Task[None]) -> None:
        side, opt = self.side, self.opt
        audio = pad_to_frames(opt.caller_audio)
        n_speech = len(audio) // FRAME_BYTES
        n_total = n_speech + round(opt.silence_s / FRAME_S)
        for i in range(n_total):
            if receiver.done():  # the server closed the socket
                return
            delay = side.time_at(i * FRAME_BYTES) - self.loop.time()  # frame i is due at media time i x 20 ms
            if delay > 0:
                await asyncio.sleep(delay)
            if i == n_speech:
                await self._speech_ended()
            frame = audio[i * FRAME_BYTES : (i + 1) * FRAME_BYTES] if i < n_speech else SILENCE
            if opt.speakerphone is not None and side.heard is not None:
                frame = opt.speakerphone.mix(frame, side.heard, i * FRAME_BYTES)
            await side.send_media(frame)
            self.summary.frames_sent += 1
        if self.speech_end is None:
            await self._speech_ended()
        if opt.wait_for_server_close:
            await receiver  # the server ends the call (max_call_s caps the wait)
            return
        await side.hang_up()

    async def _speech_ended(self) -> None:
        self.speech_end = self.loop.time()
        for digit in self.opt.dtmf:
            await self.side.send_dtmf(digit)

    def _report(self) -> None:
        side, summary = self.side, self.summary
        summary.close_code = side.ws.close_code
        summary.agent_audio = side.heard_audio(until=self.loop.time())
        summary.frames_received = side.frames_received
        summary.marks_received = side.marks_received
        summary.marks_echoed = side.marks_echoed
        summary.clears = side.clears
        summary.dtmf_sent = side.dtmf_sent
        summary.hung_up_by = side.hung_up_by
        summary.protocol_errors = list(side.protocol_errors)


async def simulate_call(options: CallOptions, *, client: TwilioLikeClient | None = None) -> CallSummary:
    """Run one call end to end and say what happened. Raises SimulationError where Twilio would fail."""
    own_client = client is None
    client = client or TwilioLikeClient(options.base_url, options.auth_token)
    summary = CallSummary(call_sid=options.call_sid, stream_sid=options.stream_sid)
    started = time.monotonic()
    common = call_fields(
        options.call_sid,
        from_number=options.from_number,
        to_number=options.to_number,
        account_sid=options.account_sid,
    )
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
    try:
        async with connect_media_socket(
            stream.url, options.base_url, options.auth_token, subprotocol=options.subprotocol
        ) as ws:
            summary.subprotocol = ws.subprotocol
            side = TwilioSide(
                ws,
                stream_sid=options.stream_sid,
                call_sid=options.call_sid,
                account_sid=options.account_sid,
                speed=options.speed,
                keep_audio=True,
                playout_delay_ms=options.playout_delay_ms,
            )
            await _Caller(side, options, summary).run()
    except InvalidStatus as exc:
        raise SimulationError(f"31920: handshake answered HTTP {exc.response.status_code}") from None


def summary_json(summary: CallSummary) -> str:
    data = {k: v for k, v in summary.__dict__.items() if k != "agent_audio"}
    data["agent_audio_ms"] = len(summary.agent_audio) // 8
    return json.dumps(data, ensure_ascii=False, indent=2)
