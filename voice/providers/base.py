"""Provider roles (ASR, LLM, TTS) as the conversation core sees them.

Implementations: ``fake`` (scripted, for tests and benchmarks), ``openai_api`` (any OpenAI-compatible
server), ``google_cloud`` (Speech / Text-to-Speech), ``espeak`` (offline TTS of last resort).
All audio crossing these interfaces is raw mu-law 8 kHz mono unless said otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


class ProviderError(Exception):
    """A provider failed or timed out; the core apologises or falls back to voicemail."""


class Transcriber(Protocol):
    """Speech recognition for one call."""

    async def push_audio(self, mulaw: bytes) -> None:
        """Every inbound frame, in order. Streaming recognisers forward it; batch ones ignore it."""
        ...

    def speech_started(self) -> None:
        """The VAD heard the caller start an utterance. What a streaming recogniser finalised before it is
        not part of it: our own echo while we spoke, a "כן" we let pass. Batch recognisers ignore it."""
        ...

    async def end_of_utterance(self, utterance_mulaw: bytes) -> str:
        """The VAD decided the caller finished; return the final text of that utterance ("" if none)."""
        ...

    async def close(self) -> None: ...


class ASRProvider(Protocol):
    def new_transcriber(self, language: str) -> Transcriber: ...

    async def transcribe(self, audio: bytes, *, content_type: str, language: str) -> str:
        """Batch transcription of a whole file (e.g. a voicemail WAV/MP3)."""
        ...


@dataclass
class TextDelta:
    text: str


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


LLMEvent = TextDelta | ToolCall


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema


class LLMProvider(Protocol):
    def stream_reply(self, messages: list[dict[str, Any]], tools: list[ToolSpec]) -> AsyncIterator[LLMEvent]:
        """Stream the assistant's reply: text deltas as they come, tool calls once complete.
        ``messages`` use OpenAI's chat format (role/content/tool_calls/tool_call_id)."""
        ...

    async def complete(self, messages: list[dict[str, Any]]) -> str:
        """A whole non-streamed answer (after-call summaries)."""
        ...


class TTSProvider(Protocol):
    def synthesize(self, text: str, *, voice: str, language: str) -> AsyncIterator[bytes]:
        """Yield mu-law 8 kHz audio for ``text`` as it becomes available (any chunk sizes)."""
        ...


@dataclass
class Providers:
    asr: ASRProvider
    llm: LLMProvider
    tts: TTSProvider
    fallback_tts: TTSProvider | None = None  # espeak, used when ``tts`` fails
