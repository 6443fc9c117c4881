"""Which StreamHandler drives a call: the one place where the agent mode is turned into code.

The modes are ``crm.models.Business.AgentMode`` (defined once, there). SINK and ECHO are diagnostics
(inbound path, outbound path). AI is the conversation core with the providers chosen in settings and the
CRM tools (``voice.lead_tools``); when it cannot be built the caller is sent to voicemail, never left silent.
Its response deadlines, DTMF pause and the process's ready audio (fillers, apology) come from settings; the
call's greeting and fixed lines are played from storage when they were made before (``voice.speech_cache``),
and made in the background when they were not.
Every handler reads the call's one media clock, which the socket advances.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings

from crm.models import Business
from voice import speech_cache
from voice.agent.config import AgentConfig
from voice.agent.modes import EchoHandler, SinkHandler
from voice.agent.ports import CallReporter, MediaSink, StreamHandler
from voice.agent.ready_audio import Key, ReadyAudio, ready_voices
from voice.agent.session import AgentSession
from voice.agent.silero_batch import SileroBatch
from voice.agent.voicing import SileroVoicing, Voicing, WebrtcVoicing
from voice.agent.waiting import ResponseDeadlines
from voice.audio.clock import MediaClock
from voice.lead_tools import LEAD_TOOLS
from voice.providers.base import Providers
from voice.tasks import queue_speech_warm_up

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallInfo:
    """What the socket needs to know about its call (built from the Call and Business rows)."""

    call_id: int
    call_sid: str
    mode: str  # a ``Business.AgentMode`` value
    config: AgentConfig
    record: bool = False  # keep both sides of the audio for the call recording


class _DiagnosticHandler:
    """A diagnostic mode plus the timeline rows the AI session writes itself (DTMF digits)."""

    def __init__(self, inner: SinkHandler, reporter: CallReporter, media_clock: MediaClock) -> None:
        self._inner = inner
        self._reporter = reporter
        self._media_clock = media_clock

    async def start(self) -> None:
        await self._inner.start()

    async def media(self, payload: bytes) -> None:
        await self._inner.media(payload)

    async def mark(self, name: str) -> None:
        await self._inner.mark(name)

    async def dtmf(self, digit: str) -> None:
        await self._reporter.event("dtmf", self._media_clock.ms, {"digit": digit})
        await self._inner.dtmf(digit)

    async def stop(self) -> None:
        await self._inner.stop()

    def stream_facts(self) -> dict[str, int]:
        return self._inner.stream_facts()


class _Unavailable:
    """AI mode without working providers: say so in the timeline and hand the caller to voicemail."""

    def __init__(self, reporter: CallReporter, reason: str) -> None:
        self._reporter = reporter
        self._reason = reason

    async def start(self) -> None:
        await self._reporter.event("error", 0, {"role": "providers", "message": self._reason})
        await self._reporter.end_call("providers_unavailable", voicemail=True)

    async def media(self, payload: bytes) -> None:
        pass

    async def mark(self, name: str) -> None:
        pass

    async def dtmf(self, digit: str) -> None:
        pass

    async def stop(self) -> None:
        pass

    def stream_facts(self) -> dict[str, int]:
        return {}


class _StoredSpeechFirst:
    """The AI session, started once the call's stored speech (greeting, fixed lines) is loaded, so the
    greeting plays from storage instead of waiting on TTS. Loading runs in a thread (storage may be remote)
    and any trouble there only means the lines are spoken live; what is missing is queued to be made."""

    def __init__(self, session: AgentSession, ready: ReadyAudio, call_id: int) -> None:
        self.session = session
        self._ready = ready
        self._call_id = call_id

    async def start(self) -> None:
        config = self.session.config
        clips: dict[Key, bytes] = {}
        missing: list[str] = []
        try:
            # The TTS's name too, off the event loop: it reads the fake voice's recording when that changed.
            load = sync_to_async(
                lambda: speech_cache.stored_clips(config, speech_cache.provider_name()), thread_sensitive=False
            )
            clips, missing = await load()
        except Exception as exc:
            log.warning("stored speech unavailable, speaking live: %s", exc)
        self.session.speaker.ready = self._ready.with_stored(clips)
        await self.session.start()
        if missing:
            try:
                await database_sync_to_async(_queue_warm_up)(missing, config, self._call_id)
            except Exception as exc:  # the next call asks again
                log.warning("could not queue the speech warm-up: %s", exc)

    async def media(self, payload: bytes) -> None:
        await self.session.media(payload)

    async def mark(self, name: str) -> None:
        await self.session.mark(name)

    async def dtmf(self, digit: str) -> None:
        await self.session.dtmf(digit)

    async def stop(self) -> None:
        await self.session.stop()

    def stream_facts(self) -> dict[str, int]:
        return self.session.stream_facts()


def _queue_warm_up(texts: list[str], config: AgentConfig, call_id: int) -> None:
    queue_speech_warm_up(texts, voice=config.voice, language=config.language, call_id=call_id)


@functools.cache
def _shared_providers() -> Providers:
    """One set of provider clients per process: they hold connection pools worth reusing across calls."""
    from voice.provider_settings import providers_from_settings

    return providers_from_settings()


@functools.cache
def _shared_ready_audio() -> ReadyAudio:
    """Fillers and the apology, synthesised once per process and voice, for every call."""
    return ReadyAudio(ready_voices(_shared_providers(), settings.VOICE_READY_AUDIO_VOICE))


@functools.cache
def _shared_silero() -> SileroBatch | str:
    """One Silero model per process: every call's windows go through it together (``silero_batch``). Or why
    it cannot be loaded (onnxruntime or the model file missing), kept: no later call tries again."""
    try:
        return SileroBatch(tick_ms=settings.VOICE_VAD_TICK_MS)
    except Exception as exc:
        log.error("Silero VAD unavailable, calls use webrtcvad: %s", exc)
        return f"{type(exc).__name__}: {exc}"


def warm_up() -> None:
    """Build what every call shares when the process starts, not when its first call does: on the event
    loop, the provider clients and the Silero model (~0.2 s with onnxruntime's import) stalled the audio of
    every call the process already had. A failure is logged; each call then meets it as before."""
    try:
        _shared_providers()
    except Exception as exc:
        log.error("voice providers unavailable: %s", exc)
    if settings.VOICE_VAD == "silero":
        _shared_silero()


def _voicing(config: AgentConfig) -> Voicing:
    """The call's VAD votes: Silero, or webrtcvad alone when so configured or when the model cannot be
    loaded (its ``failure`` then goes on the call's timeline with the first frame)."""
    if settings.VOICE_VAD != "silero":
        return WebrtcVoicing(config.vad_aggressiveness)
    silero = _shared_silero()
    if isinstance(silero, str):  # the call still runs, on webrtcvad
        return WebrtcVoicing(config.vad_aggressiveness, failure=silero)
    return SileroVoicing(silero, fallback_aggressiveness=config.vad_aggressiveness)


def _agent_session(
    call_info: CallInfo, sink: MediaSink, reporter: CallReporter, media_clock: MediaClock
) -> StreamHandler:
    try:
        providers = _shared_providers()
    except Exception as exc:  # misconfiguration (missing key, bad credentials)
        log.error("voice providers unavailable: %s", exc)
        return _Unavailable(reporter, str(exc))
    config = dataclasses.replace(call_info.config, dtmf_pause_ms=settings.VOICE_DTMF_PAUSE_MS)
    deadlines = ResponseDeadlines(
        first_ms=settings.VOICE_FIRST_RESPONSE_DEADLINE_MS, total_ms=settings.VOICE_TOTAL_RESPONSE_DEADLINE_MS
    )
    ready = _shared_ready_audio()
    session = AgentSession(
        config,
        providers,
        sink,
        reporter,
        tools=LEAD_TOOLS,
        media_clock=media_clock,
        deadlines=deadlines,
        ready=ready,
        voicing=_voicing(config),
        echo_guard=settings.VOICE_ECHO_GUARD,
        frames_in_real_time=True,  # Twilio's, 20 ms apart as captured
    )
    if not settings.VOICE_SPEECH_CACHE:
        return session
    return _StoredSpeechFirst(session, ready, call_info.call_id)


def build_handler(
    call_info: CallInfo, sink: MediaSink, reporter: CallReporter, media_clock: MediaClock
) -> StreamHandler:
    """The handler for the call's mode. ``media_clock`` is the caller's edge's: it advances it once per
    inbound payload, before handing the payload over."""
    if call_info.mode == Business.AgentMode.ECHO:
        return _DiagnosticHandler(EchoHandler(sink), reporter, media_clock)
    if call_info.mode == Business.AgentMode.SINK:
        return _DiagnosticHandler(SinkHandler(sink), reporter, media_clock)
    return _agent_session(call_info, sink, reporter, media_clock)
