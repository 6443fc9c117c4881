"""espeak-ng, the offline last-resort voice: a real subprocess, real WAV, mu-law 8 kHz out."""

from __future__ import annotations

import numpy as np
import pytest

from voice.audio import mulaw
from voice.providers.base import ProviderError
from voice.providers.espeak import EspeakTTS, espeak_available

needs_espeak = pytest.mark.skipif(
    not espeak_available(), reason="espeak-ng is not installed (apt-get install -y espeak-ng)"
)


async def speak(tts: EspeakTTS, text: str) -> bytes:
    return b"".join([chunk async for chunk in tts.synthesize(text, voice="he-IL-Wavenet-A", language="he-IL")])


@needs_espeak
async def test_hebrew_text_becomes_audible_mulaw_8k():
    audio = await speak(EspeakTTS(), "שלום, הגעתם לנציג הדיגיטלי שלנו")
    seconds = len(audio) / 8000
    assert 1.0 < seconds < 8.0  # a sentence, at 8000 one-byte samples per second
    assert np.abs(mulaw.decode(audio).astype(np.int32)).max() > 3000  # speech, not silence
    assert not audio.startswith(b"RIFF")


@needs_espeak
async def test_longer_text_takes_longer():
    short = await speak(EspeakTTS(), "שלום")
    long = await speak(EspeakTTS(), "שלום, תודה שהתקשרתם, נחזור אליכם בהקדם האפשרי")
    assert len(long) > 2 * len(short)


@needs_espeak
async def test_text_starting_with_a_dash_is_spoken_not_parsed_as_an_option():
    assert await speak(EspeakTTS(), "--version שלום")


async def test_a_missing_executable_is_a_provider_error():
    with pytest.raises(ProviderError):
        await speak(EspeakTTS(executable="/nonexistent/espeak-ng"), "שלום")
