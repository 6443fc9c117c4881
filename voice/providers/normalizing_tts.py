"""A TTS provider that hears the text as a person would say it (``voice.providers.normalize``).

Every voice gets the same text: the main TTS (Google, OpenAI), the offline fallback (espeak) and
whatever is synthesised ahead (ready audio, stored greetings), so the wrapping is done once, where the
providers are built (``with_spoken_text``), not in each provider.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from voice.providers.base import Providers, TTSProvider
from voice.providers.normalize import speakable


class NormalizingTTS:
    """``inner`` fed Hebrew text with its digits in words (other languages pass through unchanged)."""

    def __init__(self, inner: TTSProvider) -> None:
        self.inner = inner

    def synthesize(self, text: str, *, voice: str, language: str) -> AsyncIterator[bytes]:
        if language.lower().startswith("he"):
            text = speakable(text)
        return self.inner.synthesize(text, voice=voice, language=language)


def with_spoken_text(providers: Providers) -> Providers:
    """``providers`` with every voice normalising its text first."""
    fallback = providers.fallback_tts
    return dataclasses.replace(
        providers,
        tts=NormalizingTTS(providers.tts),
        fallback_tts=NormalizingTTS(fallback) if fallback is not None else None,
    )
