"""Choose the provider implementations by name. Plain arguments: the Django edge passes settings in."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from voice.providers.base import ASRProvider, LLMProvider, Providers, TTSProvider
from voice.providers.espeak import EspeakTTS, espeak_available

ASR_CHOICES = ("google", "openai", "fake")
LLM_CHOICES = ("openai", "fake")
TTS_CHOICES = ("google", "openai", "espeak", "fake")
FAKE_TRANSCRIPT = "שלום, אני רוצה לשמוע פרטים על השירות שלכם"

if TYPE_CHECKING:
    from google.auth.credentials import Credentials


class _OpenAIArgs(TypedDict):
    """What every OpenAI provider is built with."""

    api_key: str
    base_url: str | None


class _GoogleArgs(TypedDict, total=False):
    """What every Google provider is built with (empty when no Google provider is chosen)."""

    credentials: Credentials | None
    endpoint: str | None
    plaintext: bool


def build_providers(
    asr: str,
    llm: str,
    tts: str,
    *,
    openai_api_key: str = "",
    openai_base_url: str | None = None,
    openai_asr_model: str = "whisper-1",
    openai_llm_model: str = "gpt-4o-mini",
    openai_tts_model: str = "gpt-4o-mini-tts",
    openai_tts_voice: str = "alloy",
    openai_timeout_s: float = 20.0,
    google_credentials_json: str | None = None,
    google_credentials_path: str | None = None,
    google_endpoint: str | None = None,
    google_plaintext: bool = False,
    espeak_executable: str = "espeak-ng",
    fake_reply: str = "",
    fake_speech: bytes | None = None,
) -> Providers:
    """Providers for the ``asr``/``llm``/``tts`` names; espeak-ng is the fallback voice if installed.
    ``fake_reply`` replaces the fake LLM's default answer (the load benchmark needs replies of a few seconds);
    ``fake_speech`` (8 kHz mu-law) is what the fake voice says instead of its tone."""
    for role, name, choices in (
        ("ASR", asr, ASR_CHOICES),
        ("LLM", llm, LLM_CHOICES),
        ("TTS", tts, TTS_CHOICES),
    ):
        if name not in choices:
            raise ValueError(f"unknown {role} provider {name!r}; choose one of {', '.join(choices)}")
    if "openai" in (asr, llm, tts) and not openai_api_key:
        raise ValueError("the openai providers need OPENAI_API_KEY")
    openai_args: _OpenAIArgs = {"api_key": openai_api_key, "base_url": openai_base_url}
    google_args: _GoogleArgs = {}
    if "google" in (asr, tts):
        from voice.providers.google_cloud import load_credentials

        google_args = {
            "credentials": load_credentials(google_credentials_json, google_credentials_path),
            "endpoint": google_endpoint,
            "plaintext": google_plaintext,
        }
    espeak = EspeakTTS(executable=espeak_executable) if espeak_available(espeak_executable) else None

    asr_provider: ASRProvider
    if asr == "google":
        from voice.providers.google_cloud import GoogleASR

        asr_provider = GoogleASR(**google_args)
    elif asr == "openai":
        from voice.providers.openai_api import OpenAIASR

        asr_provider = OpenAIASR(**openai_args, model=openai_asr_model)
    else:
        from voice.providers.fake import FakeASR

        asr_provider = FakeASR(default=FAKE_TRANSCRIPT)

    llm_provider: LLMProvider
    if llm == "openai":
        from voice.providers.openai_api import OpenAILLM

        llm_provider = OpenAILLM(**openai_args, model=openai_llm_model, timeout_s=openai_timeout_s)
    else:
        from voice.providers.fake import FakeLLM

        llm_provider = FakeLLM(default=fake_reply) if fake_reply else FakeLLM()

    tts_provider: TTSProvider
    if tts == "google":
        from voice.providers.google_cloud import GoogleTTS

        tts_provider = GoogleTTS(**google_args)
    elif tts == "openai":
        from voice.providers.openai_api import OpenAITTS

        tts_provider = OpenAITTS(**openai_args, model=openai_tts_model, voice=openai_tts_voice)
    elif tts == "espeak":
        tts_provider = EspeakTTS(executable=espeak_executable)
    else:
        from voice.providers.fake import FakeTTS

        tts_provider = FakeTTS(speech=fake_speech)

    return Providers(asr=asr_provider, llm=llm_provider, tts=tts_provider, fallback_tts=espeak)
