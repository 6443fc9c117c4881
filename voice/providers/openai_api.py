"""Adapters for OpenAI's HTTP API, or any server that speaks it (set the base URL).

ASR is batch (one /audio/transcriptions request per utterance), the LLM streams chat completions with tool
calls, TTS streams 24 kHz PCM that is resampled to the 8 kHz mu-law Twilio plays as it arrives.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import openai

from voice.audio import mulaw
from voice.audio.resample import StreamResampler
from voice.audio.wav import mulaw_to_wav
from voice.providers.base import LLMEvent, ProviderError, TextDelta, ToolCall, ToolSpec

if TYPE_CHECKING:
    from openai import AsyncStream
    from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

# Typing notes: our provider interface carries messages as plain dicts already in the chat format, and the
# option dicts spread into create() hide that stream=True picks the streaming overload; casts state both.

OPENAI_TTS_RATE = 24_000  # response_format="pcm" is 24 kHz 16-bit mono little-endian
OPENAI_VOICES = frozenset(
    {"alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx", "sage"}
    | {"shimmer", "verse"}
)


class _Client:
    """An ``AsyncOpenAI`` per event loop: its pooled connections belong to the loop that opened them
    (the server has one loop; a Celery task may run each job in a fresh one)."""

    def __init__(self, api_key: str, base_url: str | None, *, timeout_s: float, max_retries: int) -> None:
        # timeout_s bounds connecting and every read, i.e. the longest gap between streamed chunks.
        self._kwargs: dict[str, Any] = {
            "api_key": api_key,
            "base_url": base_url or None,
            "timeout": timeout_s,
            "max_retries": max_retries,
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: openai.AsyncOpenAI | None = None

    def get(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._loop = openai.AsyncOpenAI(**self._kwargs), loop
        return self._client


def iso_language(language: str) -> str:
    """'he-IL' -> 'he': the transcription API takes ISO-639-1."""
    return language.split("-")[0].lower()


def _failure(what: str, exc: BaseException) -> ProviderError:
    # The message names the failure, never the request (whose headers carry the key).
    status = getattr(exc, "status_code", None)
    detail = f"HTTP {status}" if status else type(exc).__name__
    return ProviderError(f"openai {what} failed: {detail}")


_ERRORS = (openai.OpenAIError, TimeoutError)


class OpenAIASR:
    """ASRProvider over /v1/audio/transcriptions."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        model: str = "whisper-1",
        timeout_s: float = 15.0,
        max_retries: int = 1,
    ) -> None:
        self._client = _Client(api_key, base_url, timeout_s=timeout_s, max_retries=max_retries)
        self.model = model
        self.timeout_s = timeout_s

    def new_transcriber(self, language: str) -> OpenAITranscriber:
        return OpenAITranscriber(self, language)

    async def transcribe(self, audio: bytes, *, content_type: str, language: str) -> str:
        extension = {"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/ogg": "ogg"}.get(content_type, "wav")
        return await self._transcribe((f"audio.{extension}", audio, content_type), language)

    async def _transcribe(self, file: tuple[str, bytes, str], language: str) -> str:
        try:
            async with asyncio.timeout(self.timeout_s * 2):
                result = await self._client.get().audio.transcriptions.create(
                    file=file, model=self.model, language=iso_language(language)
                )
        except _ERRORS as exc:
            raise _failure("transcription", exc) from exc
        return result.text.strip()


class OpenAITranscriber:
    """Batch recognition: nothing happens until the VAD hands over a whole utterance."""

    def __init__(self, asr: OpenAIASR, language: str) -> None:
        self._asr = asr
        self._language = language

    def speech_started(self) -> None:
        return None  # each utterance is sent whole

    async def push_audio(self, mulaw_audio: bytes) -> None:
        return None

    async def end_of_utterance(self, utterance_mulaw: bytes) -> str:
        if not utterance_mulaw:
            return ""
        wav = mulaw_to_wav(utterance_mulaw)
        return await self._asr._transcribe(("utterance.wav", wav, "audio/wav"), self._language)

    async def close(self) -> None:
        return None


def tool_schema(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
    }


class OpenAILLM:
    """LLMProvider over /v1/chat/completions."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        model: str = "gpt-4o-mini",
        timeout_s: float = 20.0,
        max_retries: int = 1,
        temperature: float | None = None,
    ) -> None:
        self._client = _Client(api_key, base_url, timeout_s=timeout_s, max_retries=max_retries)
        self.model = model
        self.timeout_s = timeout_s
        self.temperature = temperature

    def _options(self) -> dict[str, Any]:
        return {} if self.temperature is None else {"temperature": self.temperature}

    async def stream_reply(self, messages: list[dict[str, Any]], tools: list[ToolSpec]) -> AsyncIterator[LLMEvent]:
        extra: dict[str, Any] = {"tools": [tool_schema(t) for t in tools]} if tools else {}
        calls: dict[int, dict[str, str]] = {}  # tool-call fragments by index, joined at the end
        try:
            stream = cast(
                "AsyncStream[ChatCompletionChunk]",
                await self._client.get().chat.completions.create(
                    model=self.model,
                    messages=cast("list[ChatCompletionMessageParam]", messages),
                    stream=True,
                    **extra,
                    **self._options(),
                ),
            )
            async with stream:
                async for chunk in stream:
                    for choice in chunk.choices:
                        delta = choice.delta
                        if delta.content:
                            yield TextDelta(delta.content)
                        for part in delta.tool_calls or ():
                            call = calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
                            call["id"] = part.id or call["id"]
                            if part.function is not None:
                                call["name"] = part.function.name or call["name"]
                                call["arguments"] += part.function.arguments or ""
        except _ERRORS as exc:
            raise _failure("chat stream", exc) from exc
        for index in sorted(calls):
            call = calls[index]
            yield ToolCall(id=call["id"] or f"call_{index}", name=call["name"], arguments=_arguments(call))

    async def complete(self, messages: list[dict[str, Any]]) -> str:
        try:
            async with asyncio.timeout(self.timeout_s * 3):
                result = await self._client.get().chat.completions.create(
                    model=self.model, messages=cast("list[ChatCompletionMessageParam]", messages), **self._options()
                )
        except _ERRORS as exc:
            raise _failure("chat completion", exc) from exc
        if not result.choices:
            raise ProviderError("openai chat completion returned no choices")
        return (result.choices[0].message.content or "").strip()


def _arguments(call: dict[str, str]) -> dict[str, Any]:
    try:
        parsed = json.loads(call["arguments"] or "{}")
    except json.JSONDecodeError as exc:
        raise ProviderError(f"tool call {call['name']!r} has arguments that are not JSON") from exc
    if not isinstance(parsed, dict):
        raise ProviderError(f"tool call {call['name']!r} arguments are not an object")
    return parsed


class OpenAITTS:
    """TTSProvider over /v1/audio/speech: streamed PCM, resampled chunk by chunk, sent on as mu-law."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        model: str = "gpt-4o-mini-tts",
        voice: str = "alloy",
        timeout_s: float = 15.0,
        max_retries: int = 1,
    ) -> None:
        self._client = _Client(api_key, base_url, timeout_s=timeout_s, max_retries=max_retries)
        self.model = model
        self.voice = voice

    def openai_voice(self, voice: str) -> str:
        """Business voices are Google names ("he-IL-Wavenet-A"); those fall back to ours."""
        return voice if voice in OPENAI_VOICES else self.voice

    async def synthesize(self, text: str, *, voice: str, language: str) -> AsyncIterator[bytes]:
        resampler = StreamResampler(OPENAI_TTS_RATE, 8000)
        odd = b""  # an HTTP chunk may split a 16-bit sample
        try:
            async with self._client.get().audio.speech.with_streaming_response.create(
                model=self.model, voice=self.openai_voice(voice), input=text, response_format="pcm"
            ) as response:
                async for data in response.iter_bytes():
                    data = odd + data
                    usable = len(data) - len(data) % 2
                    odd = data[usable:]
                    out = resampler.push(np.frombuffer(data[:usable], dtype="<i2"))
                    if out.size:
                        yield mulaw.encode(out)
        except _ERRORS as exc:
            raise _failure("speech", exc) from exc
        tail = resampler.flush()
        if tail.size:
            yield mulaw.encode(tail)
