"""Choosing providers by name, and proof that what is chosen is wired to the configured endpoint."""

from __future__ import annotations

import importlib.util

import pytest

from tests.support.google_standin import GoogleStandin, mulaw_wav_header, tone_mulaw
from tests.support.openai_standin import OpenAIStandin, Reply
from voice.providers.base import TextDelta
from voice.providers.espeak import EspeakTTS, espeak_available
from voice.providers.google_cloud import GoogleASR, GoogleTTS
from voice.providers.openai_api import OpenAIASR, OpenAILLM, OpenAITTS
from voice.providers.registry import build_providers

KEY = "sk-registry-test"
has_fakes = importlib.util.find_spec("voice.providers.fake") is not None


def test_openai_names_give_openai_adapters_with_the_given_models():
    providers = build_providers(
        "openai",
        "openai",
        "openai",
        openai_api_key=KEY,
        openai_asr_model="whisper-x",
        openai_llm_model="gpt-x",
        openai_tts_model="tts-x",
        openai_tts_voice="nova",
    )
    assert isinstance(providers.asr, OpenAIASR) and providers.asr.model == "whisper-x"
    assert isinstance(providers.llm, OpenAILLM) and providers.llm.model == "gpt-x"
    assert isinstance(providers.tts, OpenAITTS) and (providers.tts.model, providers.tts.voice) == (
        "tts-x",
        "nova",
    )


def test_google_names_give_google_adapters():
    providers = build_providers("google", "openai", "google", openai_api_key=KEY)
    assert isinstance(providers.asr, GoogleASR)
    assert isinstance(providers.tts, GoogleTTS)


def test_espeak_can_be_the_main_voice():
    assert isinstance(build_providers("openai", "openai", "espeak", openai_api_key=KEY).tts, EspeakTTS)


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_espeak_is_the_fallback_voice_when_installed():
    assert isinstance(build_providers("openai", "openai", "openai", openai_api_key=KEY).fallback_tts, EspeakTTS)


def test_no_fallback_voice_without_espeak():
    providers = build_providers("openai", "openai", "openai", openai_api_key=KEY, espeak_executable="/nonexistent")
    assert providers.fallback_tts is None


@pytest.mark.skipif(not has_fakes, reason="voice/providers/fake.py is not written yet")
def test_fake_names_give_the_scripted_fakes():
    from voice.providers.fake import FakeASR, FakeLLM, FakeTTS

    providers = build_providers("fake", "fake", "fake")
    assert isinstance(providers.asr, FakeASR)
    assert isinstance(providers.llm, FakeLLM)
    assert isinstance(providers.tts, FakeTTS)


@pytest.mark.parametrize(
    ("asr", "llm", "tts", "role"),
    [
        ("whisper", "openai", "openai", "ASR"),
        ("openai", "google", "openai", "LLM"),
        ("openai", "openai", "x", "TTS"),
    ],
)
def test_an_unknown_name_is_refused_with_the_choices(asr, llm, tts, role):
    with pytest.raises(ValueError, match=rf"unknown {role} provider .*choose one of"):
        build_providers(asr, llm, tts, openai_api_key=KEY)


def test_openai_without_a_key_is_refused():
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        build_providers("google", "openai", "google")


async def test_openai_providers_talk_to_the_configured_base_url():
    with OpenAIStandin(api_key=KEY) as standin:
        standin.chat.append(Reply(text="שלום רב"))
        providers = build_providers("openai", "openai", "openai", openai_api_key=KEY, openai_base_url=standin.base_url)
        events = [e async for e in providers.llm.stream_reply([{"role": "user", "content": "היי"}], [])]
        audio = b"".join([c async for c in providers.tts.synthesize("שלום", voice="alloy", language="he-IL")])
        text = await providers.asr.new_transcriber("he-IL").end_of_utterance(tone_mulaw(0.3))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "שלום רב"
    assert audio and text
    assert [r.path for r in standin.requests] == [
        "/v1/chat/completions",
        "/v1/audio/speech",
        "/v1/audio/transcriptions",
    ]


async def test_google_providers_talk_to_the_configured_endpoint():
    async with GoogleStandin() as standin:
        standin.batch_transcripts.append("הודעה")
        providers = build_providers(
            "google",
            "fake" if has_fakes else "openai",
            "google",
            openai_api_key=KEY,
            google_endpoint=standin.address,
            google_plaintext=True,
        )
        text = await providers.asr.transcribe(
            mulaw_wav_header(800) + tone_mulaw(0.1), content_type="audio/wav", language="he-IL"
        )
        audio = b"".join([c async for c in providers.tts.synthesize("שלום", voice="he-IL-Wavenet-A", language="he-IL")])
    assert text == "הודעה"
    assert audio
    assert len(standin.recognize_requests) == len(standin.tts_requests) == 1
