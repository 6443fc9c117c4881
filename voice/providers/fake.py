"""Scripted, deterministic providers for tests, the simulator and the load benchmark.

Delays are ``asyncio.sleep``; with every delay at 0 nothing sleeps and the cost per call is tiny, which
is what the 100-call benchmark needs. Failures raise ``ProviderError`` like the real adapters do.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voice.audio import mulaw
from voice.audio.frames import SAMPLE_RATE
from voice.providers.base import LLMEvent, ProviderError, TextDelta, ToolCall, ToolSpec

HISTORY_LIMIT = 500  # fakes may be shared by every call of a process: remember recent inputs only


def _remember(items: list[Any], item: Any) -> None:
    items.append(item)
    if len(items) > HISTORY_LIMIT:
        del items[: len(items) - HISTORY_LIMIT]


async def _pause(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


# -- ASR ---------------------------------------------------------------------------------------------
class FakeTranscriber:
    def __init__(self, asr: FakeASR) -> None:
        self._asr = asr
        self.frames = 0
        self.closed = False

    def speech_started(self) -> None:
        return None

    async def push_audio(self, mulaw_frame: bytes) -> None:
        self.frames += 1

    async def end_of_utterance(self, utterance_mulaw: bytes) -> str:
        _remember(self._asr.utterances, utterance_mulaw)
        await _pause(self._asr.delay)
        return self._asr.next_text()

    async def close(self) -> None:
        self.closed = True


class FakeASR:
    """Returns ``transcripts`` in order, then ``default``. An item that is an exception is raised."""

    def __init__(self, transcripts: Iterable[str | Exception] = (), *, default: str = "", delay: float = 0.0) -> None:
        self._script: deque[str | Exception] = deque(transcripts)
        self.default = default
        self.delay = delay
        self.utterances: list[bytes] = []  # audio handed over at each end of utterance
        self.transcribers: list[FakeTranscriber] = []

    def next_text(self) -> str:
        item = self._script.popleft() if self._script else self.default
        if isinstance(item, Exception):
            raise item
        return item

    def new_transcriber(self, language: str) -> FakeTranscriber:
        transcriber = FakeTranscriber(self)
        _remember(self.transcribers, transcriber)
        return transcriber

    async def transcribe(self, audio: bytes, *, content_type: str, language: str) -> str:
        await _pause(self.delay)
        return self.next_text()


# -- LLM ---------------------------------------------------------------------------------------------
@dataclass
class FakeReply:
    """One scripted answer to one ``stream_reply`` call."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    fail: str | None = None  # raise ProviderError(fail) after streaming ``text`` (if any)


class FakeLLM:
    """Answers each ``stream_reply`` with the next scripted reply (a ``FakeReply`` or plain text),
    then ``default``. Text is streamed in ``chunk_chars`` deltas; tool calls come after the text."""

    def __init__(
        self,
        replies: Iterable[FakeReply | str] = (),
        *,
        default: str = "בסדר.",
        first_token_delay: float = 0.0,
        delta_delay: float = 0.0,
        chunk_chars: int = 8,
        summary: str = "סיכום שיחה.",
    ) -> None:
        self._script: deque[FakeReply | str] = deque(replies)
        self.default = default
        self.first_token_delay = first_token_delay
        self.delta_delay = delta_delay
        self.chunk_chars = chunk_chars
        self.summary = summary
        self.calls: list[list[dict[str, Any]]] = []  # the messages of every call, copied
        self.tools_seen: list[list[ToolSpec]] = []

    def script(self, *replies: FakeReply | str) -> None:
        self._script.extend(replies)

    async def stream_reply(self, messages: list[dict[str, Any]], tools: list[ToolSpec]) -> AsyncIterator[LLMEvent]:
        _remember(self.calls, [dict(m) for m in messages])
        _remember(self.tools_seen, list(tools))
        item = self._script.popleft() if self._script else self.default
        reply = FakeReply(text=item) if isinstance(item, str) else item
        await _pause(self.first_token_delay)
        text, step = reply.text, max(1, self.chunk_chars)
        for i in range(0, len(text), step):
            if i:
                await _pause(self.delta_delay)
            yield TextDelta(text[i : i + step])
        if reply.fail is not None:
            raise ProviderError(reply.fail)
        for call in reply.tool_calls:
            yield call

    async def complete(self, messages: list[dict[str, Any]]) -> str:
        _remember(self.calls, [dict(m) for m in messages])
        await _pause(self.first_token_delay)
        return self.summary


# -- TTS ---------------------------------------------------------------------------------------------
def _tone_table(seconds: float = 2.0) -> bytes:
    # A two-partial tone with a little noise: audibly "something", cheap to slice, computed once.
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    rng = np.random.default_rng(7)
    signal = 0.5 * np.sin(2 * math.pi * 220 * t) + 0.25 * np.sin(2 * math.pi * 660 * t)
    signal += 0.05 * rng.standard_normal(t.size)
    return mulaw.encode((signal * 8000).astype(np.int16))


_TONE = _tone_table()


class FakeTTS:
    """``ms_per_char`` of tone per character (capped at ``max_ms``), yielded in ``chunk_ms`` chunks.
    ``fail_times`` makes the next N calls raise ``ProviderError`` (after ``fail_after_chunks`` chunks).
    ``speech``: 8 kHz mu-law speech to say instead of the tone, from its start each time (the load
    benchmark's speakerphones need a voice whose echo is speech, and espeak-ng run on every reply would
    load the server's cores with synthesis no real deployment does there)."""

    def __init__(
        self,
        *,
        ms_per_char: int = 60,
        max_ms: int = 6000,
        chunk_ms: int = 200,
        first_chunk_delay: float = 0.0,
        chunk_delay: float = 0.0,
        fail_times: int = 0,
        fail_after_chunks: int = 0,
        name: str = "fake",
        speech: bytes | None = None,
    ) -> None:
        if speech is not None and not speech:
            raise ValueError("the fake voice's speech is empty")
        self._audio = speech if speech is not None else _TONE
        self.ms_per_char = ms_per_char
        self.max_ms = max_ms
        self.chunk_ms = chunk_ms
        self.first_chunk_delay = first_chunk_delay
        self.chunk_delay = chunk_delay
        self.fail_times = fail_times
        self.fail_after_chunks = fail_after_chunks
        self.name = name
        self.texts: list[str] = []  # every text asked for, including failed ones

    @staticmethod
    def audio_ms(text: str, ms_per_char: int = 60, max_ms: int = 6000) -> int:
        return min(max(len(text), 1) * ms_per_char, max_ms)

    async def synthesize(self, text: str, *, voice: str, language: str) -> AsyncIterator[bytes]:
        _remember(self.texts, text)
        failing = self.fail_times > 0
        if failing:
            self.fail_times -= 1
        total = self.audio_ms(text, self.ms_per_char, self.max_ms) * SAMPLE_RATE // 1000
        step = max(1, self.chunk_ms * SAMPLE_RATE // 1000)
        await _pause(self.first_chunk_delay)
        for sent, offset in enumerate(range(0, total, step)):
            if failing and sent >= self.fail_after_chunks:
                raise ProviderError(f"{self.name} TTS failed")
            if offset:
                await _pause(self.chunk_delay)
            yield self._slice(offset, min(step, total - offset))
        if failing:
            raise ProviderError(f"{self.name} TTS failed")

    def _slice(self, offset: int, n: int) -> bytes:
        """``n`` bytes of the audio from ``offset``, wrapping round to its start."""
        audio = self._audio
        out = bytearray()
        while len(out) < n:
            start = (offset + len(out)) % len(audio)
            out += audio[start : start + n - len(out)]
        return bytes(out)
