"""The settings' providers: what the fake voice says (FAKE_TTS_WAV), and a file it cannot read refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from voice.audio import mulaw
from voice.audio.wav import write_wav
from voice.provider_settings import providers_from_settings


@pytest.fixture(autouse=True)
def fake_providers(settings):
    settings.VOICE_ASR, settings.VOICE_LLM, settings.VOICE_TTS = "fake", "fake", "fake"


async def spoken(providers) -> bytes:
    return b"".join([chunk async for chunk in providers.tts.synthesize("שלום", voice="v", language="he-IL")])


async def test_the_fake_voice_says_the_wav_it_is_given(settings, tmp_path):
    samples = (np.sin(np.arange(1600) / 3) * 9000).astype(np.int16)  # 200 ms
    path = tmp_path / "voice.wav"
    path.write_bytes(write_wav(samples))
    settings.FAKE_TTS_WAV = str(path)
    audio = await spoken(providers_from_settings())
    assert audio[:1600] == mulaw.encode(samples)
    assert audio[1600:] == mulaw.encode(samples)[: len(audio) - 1600]  # from its start again


async def test_without_a_wav_the_fake_voice_is_its_tone(settings):
    settings.FAKE_TTS_WAV = ""
    audio = await spoken(providers_from_settings())
    assert len(audio) == 4 * 60 * 8 and len(set(audio)) > 10


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "No such file"), (b"not a wav", "WAV"), (write_wav(np.zeros(0, np.int16)), "no audio")],
)
def test_a_fake_voice_file_that_cannot_be_read_is_refused_by_name(settings, tmp_path, content, reason):
    path = tmp_path / "voice.wav"
    if content is not None:
        path.write_bytes(content)
    settings.FAKE_TTS_WAV = str(path)
    with pytest.raises(ValueError, match=reason) as refused:
        providers_from_settings()
    assert "FAKE_TTS_WAV" in str(refused.value) and str(path) in str(refused.value)


def test_a_fake_voice_file_is_not_read_for_another_voice(settings, tmp_path):
    settings.VOICE_TTS = "espeak"
    settings.FAKE_TTS_WAV = str(tmp_path / "missing.wav")
    providers_from_settings()  # no error: only VOICE_TTS=fake says it
