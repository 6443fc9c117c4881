"""The Twilio Media Streams socket: a thin adapter between Twilio's wire protocol and a StreamHandler.

It authenticates the stream (upgrade signature when present; the per-call token in ``start`` always),
parses each frame (``voice.twilio.messages``), feeds the handler chosen by the call's agent mode, sends what
the handler produces (``MediaSink``: only media/mark/clear, only between start and stop, only text frames)
and stores what it reports (``voice.store.CallStore``). Bad input is logged once per kind and ignored:
it never ends another call or the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from crm.models import CallEvent
from voice import calls, metrics, tasks
from voice.agent.ports import StreamHandler
from voice.audio.clock import MediaClock
from voice.audio.tape import CallTape
from voice.handlers import build_handler
from voice.log_context import call_sid_var
from voice.public_url import STREAM_PATH, public_base_url, socket_hosts
from voice.store import CallStore, load_call_info
from voice.stream_liveness import StreamHeartbeat
from voice.tape_spool import TapeSpool
from voice.twilio import messages
from voice.twilio.security import call_token_problem, is_valid_signature

log = logging.getLogger(__name__)

SUBPROTOCOL = "audio.twilio.com"
CLOSE_NORMAL = 1000
CLOSE_AUTH_FAILED = 4403  # application range (autobahn sends only 1000 or 3000-4999): "forbidden"


class TwilioMediaConsumer(AsyncWebsocketConsumer):
    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        # Channels' own loop also listens on a channel-layer queue and pays a task plus asyncio.wait for
        # every message. This socket never joins a group (crm.live_updates publishes through the layer itself),
        # so a plain receive loop does the same work for 50 messages a second per call.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            while True:
                await self.dispatch(await receive())

    async def dispatch(self, message: dict) -> None:
        # Channels runs close_old_connections() in the shared sync thread before every message: a thread
        # hop per 20 ms frame per call, queued behind every call's database writes (bench/: the top cost
        # under load). This consumer touches the database only through database_sync_to_async, which
        # closes old connections itself, so frames skip it.
        if message.get("type") == "websocket.receive":
            await self.receive(message.get("text"), message.get("bytes"))
        else:
            await super().dispatch(message)

    # -- handshake ------------------------------------------------------------------------------------
    async def connect(self) -> None:
        self.stream_sid: str | None = None
        self.handler: StreamHandler | None = None
        self.store: CallStore | None = None
        self.tape: CallTape | None = None  # both sides of the audio, for the call recording
        self.spool: TapeSpool | None = None  # writes the tape to storage every few seconds of media time
        self.heartbeat: StreamHeartbeat | None = None  # stamps the call as live (voice.reconciler)
        self.closing = False  # no frame goes out once set (stop received, or we are closing)
        self.stop_received = False
        self.finished = False
        self.frames_in = 0
        self.media_clock = MediaClock()  # the call's one media time: ms of inbound audio, advanced here
        self.frames_out = 0
        self.marks_in = 0
        self.marks_out = 0
        self.clears = 0
        self.dtmf_digits = 0
        self.ignored: Counter[str] = Counter()

        headers = self.scope.get("headers", [])
        signature = next((v.decode("latin1") for k, v in headers if k == b"x-twilio-signature"), None)
        if signature is not None and settings.TWILIO_VALIDATE_SIGNATURES and not self._signature_ok(signature):
            log.warning("rejected media socket upgrade: wrong Twilio signature for %r", socket_hosts(headers))
            await self.close()  # before accept: daphne answers the upgrade with 403
            return
        # Echo the subprotocol only when offered: answering one that was not offered breaks RFC 6455.
        offered = self.scope.get("subprotocols") or []
        await self.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        # An upgraded socket that never authenticates would hold a file descriptor and memory for as long as
        # the peer likes: without a valid `start` in time, it is closed.
        self.start_timer: asyncio.Task[None] | None = asyncio.create_task(self._close_unless_started())

    async def _close_unless_started(self) -> None:
        await asyncio.sleep(settings.MEDIA_START_TIMEOUT_SECONDS)
        if self.stream_sid is None and not self.closing:
            log.warning("closing media socket: no valid start within %ss", settings.MEDIA_START_TIMEOUT_SECONDS)
            await self._refuse()

    def _signature_ok(self, signature: str) -> bool:
        hosts = socket_hosts(self.scope.get("headers", []))
        paths = {STREAM_PATH, self.scope.get("path", STREAM_PATH)}
        return any(
            is_valid_signature(settings.TWILIO_AUTH_TOKEN, f"wss://{host}{path}", {}, signature)
            for host in hosts
            for path in paths
        )

    # -- inbound ----------------------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        if text_data is None:
            self._ignore("binary_frame", f"{len(bytes_data or b'')} bytes")
            return
        try:
            message = messages.parse(text_data)
        except messages.MessageError as exc:
            self._ignore(exc.reason, exc.detail)
            return
        if type(message) is messages.Media:  # the hot path: 50 per second
            if message.stream_sid != self.stream_sid or self.handler is None:
                self._ignore("media_before_start" if self.stream_sid is None else "wrong_stream_sid")
                return
            self.frames_in += len(message.payload) // messages.FRAME_BYTES
            self.media_clock.advance(message.payload)
            if self.tape is not None:
                self.tape.inbound(message.payload)
                if self.spool is not None:
                    self.spool.tick()
            if self.heartbeat is not None:
                self.heartbeat.tick()
            await self.handler.media(message.payload)
        elif isinstance(message, messages.Start):
            await self._start(message)
        elif isinstance(message, messages.Connected):
            pass
        elif self.handler is None or message.stream_sid != self.stream_sid:
            self._ignore(
                f"{type(message).__name__.lower()}_before_start" if self.handler is None else "wrong_stream_sid"
            )
        elif isinstance(message, messages.Mark):
            self.marks_in += 1
            await self.handler.mark(message.name)
        elif isinstance(message, messages.Dtmf):
            self.dtmf_digits += 1
            await self.handler.dtmf(message.digit)
        elif isinstance(message, messages.Stop):
            self.stop_received = True
            await self._stop_sending()
            await self.close(code=CLOSE_NORMAL)  # Twilio is done with the stream; nothing more is owed

    async def _start(self, start: messages.Start) -> None:
        if self.stream_sid is not None:
            self._ignore("duplicate_start")
            return
        call_sid_var.set(start.call_sid)  # this consumer's task: every later log line carries the CallSid
        problem = call_token_problem(
            settings.SECRET_KEY,
            start.call_sid,
            start.custom_parameters,
            max_age_s=settings.CALL_TOKEN_MAX_AGE_SECONDS,
        )
        if not problem and settings.TWILIO_ACCOUNT_SID and start.account_sid != settings.TWILIO_ACCOUNT_SID:
            problem = "another account's"
        if problem:
            log.warning("closing media socket: %s call token", problem)
            await self._refuse()
            return
        # One stream per call, once: the first socket claims the call (atomically); a replayed token, a
        # second socket with the same token, or a call that is over is refused before anything is written.
        refused = await database_sync_to_async(calls.claim_stream)(start.call_sid, start.stream_sid)
        if refused:
            log.warning("closing media socket: %s", refused)
            await self._refuse()
            return
        info = await database_sync_to_async(load_call_info)(start.call_sid)
        if info is None:
            log.warning("closing media socket: no such call")
            await self._refuse()
            return
        self.stream_sid = start.stream_sid
        if self.start_timer is not None:
            self.start_timer.cancel()
        self.tape = CallTape() if info.record else None
        if self.tape is not None:
            self.spool = TapeSpool(info.call_id, self.tape, round(settings.CALL_TAPE_CHUNK_SECONDS * 1000))
        self.heartbeat = StreamHeartbeat(info.call_id, settings.STREAM_HEARTBEAT_SECONDS)
        self.store = CallStore(info, media_ms=self.media_ms, on_end=self._end_requested)
        metrics.call_started(info.mode)  # with the store: disconnect() ends what has a store
        await self.store.stream_started(
            start.stream_sid,
            {
                "stream_sid": start.stream_sid,
                "mode": info.mode,
                "tracks": start.tracks,
                "encoding": start.media_format.encoding,
                "sample_rate": start.media_format.sample_rate,
            },
        )
        log.info("media stream started in %s mode", info.mode)
        self.handler = build_handler(info, self, self.store, self.media_clock)
        await self.handler.start()

    async def _refuse(self) -> None:
        self.closing = True
        await self.close(code=CLOSE_AUTH_FAILED)

    def _ignore(self, kind: str, detail: str = "") -> None:
        """Bad input: counted always, logged the first time per kind (a broken peer may send thousands)."""
        self.ignored[kind] += 1
        if self.ignored[kind] == 1:
            log.warning("ignored bad input on media socket: %s %s", kind, detail)

    def media_ms(self) -> int:
        return self.media_clock.ms

    # -- MediaSink ----------------------------------------------------------------------------------------
    async def send_media(self, payload: bytes) -> None:
        if await self._send_text(messages.build_media, payload):
            self.frames_out += len(payload) // messages.FRAME_BYTES
            if self.tape is not None:
                self.tape.outbound(payload)

    async def send_mark(self, name: str) -> None:
        if await self._send_text(messages.build_mark, name):
            self.marks_out += 1

    async def send_clear(self) -> None:
        if await self._send_text(messages.build_clear):
            self.clears += 1
            if self.tape is not None:
                self.tape.clear()

    async def _send_text(self, build: Callable[..., str], *args: object) -> bool:
        """Send one message with the stream's streamSid: only between start and stop, never on a socket the
        peer already closed (the frame is dropped; the disconnect that follows ends the stream)."""
        if self.closing or self.stream_sid is None:
            return False
        try:
            await self.send(text_data=build(self.stream_sid, *args))
        except Exception as exc:  # daphne/autobahn: "Attempt to send on a closed protocol"
            self.closing = True
            log.info("peer closed the media socket while sending: %s", type(exc).__name__)
            return False
        return True

    # -- the end ------------------------------------------------------------------------------------------
    async def _end_requested(self) -> None:
        """The core ended the call (its goodbye has played): close; Twilio then asks <Connect action>."""
        if not self.closing:
            self.closing = True
            await self.close(code=CLOSE_NORMAL)

    async def _stop_sending(self) -> None:
        self.closing = True
        if self.handler is not None:
            try:
                await self.handler.stop()
            except Exception:
                log.exception("stream handler failed to stop")

    async def disconnect(self, code: int) -> None:
        if self.finished:
            return
        self.finished = True
        timer = getattr(self, "start_timer", None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        await self._stop_sending()
        if self.store is None:
            return  # never authenticated: nothing is stored
        ended = self.store.ended
        ended_by = "agent" if ended else ("twilio" if self.stop_received else "disconnect")
        # Counted before any await: a shutdown that cancels the rest must not leave the call "in progress".
        metrics.call_ended(ended_by)
        if self.spool is not None:
            await self.spool.close()  # the rest of the tape, and every chunk in flight, stored before the build
        payload: dict[str, Any] = {
            "frames_received": self.frames_in,
            "frames_sent": self.frames_out,
            "marks_sent": self.marks_out,
            "marks_received": self.marks_in,
            "clears": self.clears,
            "dtmf_digits": self.dtmf_digits,
            "close_code": code,
            "stop_received": self.stop_received,
            "ended_by": ended_by,
        }
        if self.handler is not None:
            try:
                payload = {**self.handler.stream_facts(), **payload}  # the socket's own counts stand
            except Exception:
                log.exception("stream handler could not say what it measured")
        if self.ignored:
            payload["ignored"] = dict(self.ignored)
        if self.spool is not None:
            payload["tape_chunks"] = self.spool.chunks_written
            if self.spool.write_errors:
                payload["tape_write_errors"] = self.spool.write_errors
        try:
            # The store writes in the background: every row the call reported is stored before the
            # stream's last event and before Celery's recording and after-call tasks read them.
            await self.store.close()
            await self.store.event(CallEvent.Kind.STREAM_STOPPED, self.media_ms(), payload)
            dropped = not (ended or self.stop_received)
            await database_sync_to_async(self._after_stream)(self.store.info.call_id, dropped=dropped)
        except Exception:
            log.exception("could not store the end of the stream")
        log.info("media stream stopped: %s", payload)

    def _after_stream(self, call_id: int, *, dropped: bool) -> None:
        """Hand the rest to Celery: the two-channel recording (its tape already spooled: what is passed here is
        empty unless the spool was bypassed), the after-call summary and, when the socket died
        mid-conversation, a check that the caller reached voicemail."""
        if self.tape is not None and self.frames_in:
            tasks.queue_call_recording(call_id, *self.tape.tracks())
        tasks.queue_after_call(call_id)
        if dropped:
            # Never the socket's Host/X-Forwarded-Host: the voicemail callbacks go where PUBLIC_BASE_URL says.
            tasks.queue_rescue(call_id, public_base_url())
