"""Django settings -> the provider registry's plain arguments (the core never reads settings itself).

Every voice built here reads Hebrew numbers, times, prices and phone numbers as words
(``voice.providers.normalizing_tts``).
"""

from __future__ import annotations

from django.conf import settings

from voice import metrics
from voice.audio.wav import WavError, wav_to_mulaw
from voice.providers.base import Providers
from voice.providers.normalizing_tts import with_spoken_text
from voice.providers.registry import build_providers


def providers_from_settings() -> Providers:
    """The ASR/LLM/TTS providers named by VOICE_ASR / VOICE_LLM / VOICE_TTS, configured from settings;
    their voices get the text normalised for speech."""
    providers = build_providers(
        settings.VOICE_ASR,
        settings.VOICE_LLM,
        settings.VOICE_TTS,
        openai_api_key=settings.OPENAI_API_KEY,
        openai_base_url=settings.OPENAI_BASE_URL,
        openai_asr_model=settings.OPENAI_TRANSCRIBE_MODEL,
        openai_llm_model=settings.OPENAI_CHAT_MODEL,
        openai_tts_model=settings.OPENAI_TTS_MODEL,
        openai_tts_voice=settings.OPENAI_TTS_VOICE,
        google_credentials_json=settings.GOOGLE_CREDENTIALS_JSON or None,
        google_credentials_path=settings.GOOGLE_APPLICATION_CREDENTIALS or None,
        google_endpoint=settings.GOOGLE_API_ENDPOINT or None,
        google_plaintext=settings.GOOGLE_API_PLAINTEXT,
        # Only for VOICE_LLM=fake (benchmarks, demos): what the fake agent answers every turn.
        fake_reply=settings.FAKE_REPLY_TEXT,
        fake_speech=_fake_speech(settings.FAKE_TTS_WAV) if settings.VOICE_TTS == "fake" else None,
    )
    metrics.name_providers(
        asr=settings.VOICE_ASR,
        llm=settings.VOICE_LLM,
        tts=settings.VOICE_TTS,
        fallback_tts="espeak",
        vad=settings.VOICE_VAD,
    )
    return with_spoken_text(providers)


def _fake_speech(path: str) -> bytes | None:
    """FAKE_TTS_WAV read as 8 kHz mu-law (None when not set); a file that is not a WAV is refused by name."""
    if not path:
        return None
    try:
        with open(path, "rb") as file:
            speech = wav_to_mulaw(file.read())
    except (OSError, WavError) as exc:
        raise ValueError(f"FAKE_TTS_WAV {path!r}: {exc}") from exc
    if not speech:
        raise ValueError(f"FAKE_TTS_WAV {path!r}: the file holds no audio")
    return speech
