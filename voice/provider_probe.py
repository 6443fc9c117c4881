"""One real request to a provider, bounded in time, to say whether it works: the start-up report
(voice/startup_report.py) and the owner's line check (voice/line_check.py) both ask through here.

No Django. A probe never raises: whatever goes wrong (the provider's error, a timeout, a bug in an adapter)
comes back as a failed ``ProbeResult`` whose ``detail`` says why, in the provider's own words.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from voice.audio import wav
from voice.providers.base import ASRProvider, LLMProvider, TextDelta, TTSProvider

MULAW_BYTES_PER_S = 8000


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str  # the error, or what came back ("1.4 s of audio")
    ms: float  # how long the request took
    audio: bytes = b""  # TTS: mu-law 8 kHz
    text: str = ""  # LLM / ASR: what it answered


def _failure(exc: BaseException, started: float, timeout_s: float) -> ProbeResult:
    if isinstance(exc, TimeoutError):
        detail = f"no answer within {timeout_s:g} s"
    else:
        detail = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
    return ProbeResult(False, detail, (time.monotonic() - started) * 1000)


async def probe_tts(tts: TTSProvider, text: str, *, voice: str, language: str, timeout_s: float) -> ProbeResult:
    """Synthesise ``text``; working means some audio came back in time."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            audio = b"".join([chunk async for chunk in tts.synthesize(text, voice=voice, language=language)])
    except Exception as exc:
        return _failure(exc, started, timeout_s)
    ms = (time.monotonic() - started) * 1000
    if not audio:
        return ProbeResult(False, "no audio came back", ms)
    return ProbeResult(True, f"{len(audio) / MULAW_BYTES_PER_S:.1f} s of audio", ms, audio=audio)


async def probe_llm(llm: LLMProvider, messages: list[dict[str, Any]], *, timeout_s: float) -> ProbeResult:
    """One streamed answer to ``messages`` (no tools); working means some text came back in time."""
    started = time.monotonic()
    parts: list[str] = []
    try:
        async with asyncio.timeout(timeout_s):
            async for event in llm.stream_reply(messages, []):
                if isinstance(event, TextDelta):
                    parts.append(event.text)
    except Exception as exc:
        return _failure(exc, started, timeout_s)
    ms = (time.monotonic() - started) * 1000
    text = "".join(parts).strip()
    if not text:
        return ProbeResult(False, "an empty answer", ms)
    return ProbeResult(True, text, ms, text=text)


async def probe_asr(asr: ASRProvider, mulaw: bytes, *, language: str, timeout_s: float) -> ProbeResult:
    """Transcribe ``mulaw`` (8 kHz) as a WAV; working means the request succeeded (silence may give "")."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            text = await asr.transcribe(wav.mulaw_to_wav(mulaw), content_type="audio/wav", language=language)
    except Exception as exc:
        return _failure(exc, started, timeout_s)
    return ProbeResult(True, text or "(nothing heard)", (time.monotonic() - started) * 1000, text=text)
