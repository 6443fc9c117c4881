"""Which StreamHandler drives a call: the one place where the agent mode is turned into code.

SINK and ECHO are diagnostics (inbound path, outbound path). AI is the conversation core with the
providers chosen in settings; when it cannot be built the caller is sent to voicemail, never left silent.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from voice.agent.config import AgentConfig
from voice.agent.modes import EchoHandler, SinkHandler
from voice.agent.ports import CallReporter, MediaSink, StreamHandler
from voice.agent.session import AgentSession
from voice.providers.base import Providers

log = logging.getLogger(__name__)

SINK, ECHO, AI = "sink", "echo", "ai"


@dataclass(frozen=True)
class CallInfo:
    """What the socket needs to know about its call (built from the Call and Business rows)."""

    call_id: int
    call_sid: str
    mode: str
    config: AgentConfig
    record: bool = False  # keep both sides of the audio for the call recording


class _DiagnosticHandler:
    """A diagnostic mode plus the timeline rows the AI session writes itself (DTMF digits)."""

    def __init__(self, inner: SinkHandler, reporter: CallReporter) -> None:
        self._inner = inner
        self._reporter = reporter
        self._media_ms = 0

    async def start(self) -> None:
        await self._inner.start()

    async def media(self, payload: bytes) -> None:
        self._media_ms += len(payload) // 8  # 8 bytes of mu-law per ms
        await self._inner.media(payload)

    async def mark(self, name: str) -> None:
        await self._inner.mark(name)

    async def dtmf(self, digit: str) -> None:
        await self._reporter.event("dtmf", self._media_ms, {"digit": digit})
        await self._inner.dtmf(digit)

    async def stop(self) -> None:
        await self._inner.stop()


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


@functools.cache
def _shared_providers() -> Providers:
    """One set of provider clients per process: they hold connection pools worth reusing across calls."""
    from voice.provider_settings import providers_from_settings

    return providers_from_settings()


def _agent_session(call_info: CallInfo, sink: MediaSink, reporter: CallReporter) -> StreamHandler:
    try:
        providers = _shared_providers()
    except Exception as exc:  # misconfiguration (missing key, bad credentials)
        log.error("voice providers unavailable: %s", exc)
        return _Unavailable(reporter, str(exc))
    return AgentSession(call_info.config, providers, sink, reporter)


def build_handler(call_info: CallInfo, sink: MediaSink, reporter: CallReporter) -> StreamHandler:
    if call_info.mode == ECHO:
        return _DiagnosticHandler(EchoHandler(sink), reporter)
    if call_info.mode == SINK:
        return _DiagnosticHandler(SinkHandler(sink), reporter)
    return _agent_session(call_info, sink, reporter)
