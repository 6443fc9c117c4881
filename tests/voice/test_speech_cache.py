"""The greeting and the fixed lines made once, kept in storage, and played at once when a call starts."""

from __future__ import annotations

import asyncio
import os
import time

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from crm.models import Business
from tests.support.agent_doubles import FakeTwilio, MemoryReporter, until
from tests.support.factories import make_business, make_call
from voice import handlers, speech_cache
from voice.agent.config import AgentConfig
from voice.agent.ready_audio import ReadyAudio
from voice.agent.session import AgentSession
from voice.audio.clock import MediaClock
from voice.audio.frames import FRAME_BYTES
from voice.audio.pacer import LoopClock
from voice.audio.wav import write_wav
from voice.business_config import agent_config_for
from voice.handlers import CallInfo, build_handler
from voice.models import Job
from voice.provider_settings import providers_from_settings
from voice.providers.base import Providers
from voice.providers.fake import FakeASR, FakeLLM, FakeTTS
from voice.providers.normalizing_tts import NormalizingTTS
from voice.tasks import warm_speech

CONFIG = AgentConfig(greeting="שלום, הגעתם לעסק שלי. במה אפשר לעזור?", voice="he-IL-Wavenet-B")
SLOW_TTS_S = 0.8  # the stand-in's wait before its first audio


@pytest.fixture(autouse=True)
def own_storage(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")  # never another test's stored speech
    settings.VOICE_ASR, settings.VOICE_LLM, settings.VOICE_TTS = "fake", "fake", "fake"


def test_each_line_is_made_once_and_loaded_back():
    tts = FakeTTS()
    lines = speech_cache.fixed_lines(CONFIG)
    assert lines[0] == CONFIG.greeting and len(lines) == len(set(lines))
    assert speech_cache.warm(lines, voice=CONFIG.voice, language="he-IL", provider="fake", tts=tts) == []
    assert tts.texts == lines

    clips, missing = speech_cache.stored_clips(CONFIG, "fake")
    assert missing == []
    greeting = clips[(CONFIG.voice, "he-IL", CONFIG.greeting)]
    assert len(greeting) % FRAME_BYTES == 0 and len(greeting) == FakeTTS.audio_ms(CONFIG.greeting) * 8

    speech_cache.warm(lines, voice=CONFIG.voice, language="he-IL", provider="fake", tts=tts)
    assert len(tts.texts) == len(lines)  # nothing made twice


def test_a_changed_text_voice_or_provider_is_made_again():
    key = speech_cache.speech_key(CONFIG.greeting, voice=CONFIG.voice, language="he-IL", provider="fake")
    for change in (
        {"text": CONFIG.greeting + " "},
        {"voice": "he-IL-Wavenet-A"},
        {"provider": "google"},
        {"language": "en-US"},
    ):
        args = {"text": CONFIG.greeting, "voice": CONFIG.voice, "language": "he-IL", "provider": "fake"} | change
        text = args.pop("text")
        assert speech_cache.speech_key(text, **args) != key


def test_a_line_tts_cannot_make_stays_missing_and_is_reported():
    tts = FakeTTS(fail_times=1)
    failed = speech_cache.warm(["סליחה.", "תודה."], voice=CONFIG.voice, language="he-IL", provider="fake", tts=tts)
    assert failed == ["סליחה."]
    assert speech_cache.stored_clip("סליחה.", voice=CONFIG.voice, language="he-IL", provider="fake") is None
    assert speech_cache.stored_clip("תודה.", voice=CONFIG.voice, language="he-IL", provider="fake") is not None


def test_a_broken_file_is_ignored_and_bad_audio_is_refused():
    path = speech_cache.speech_path(
        speech_cache.speech_key("תודה.", voice=CONFIG.voice, language="he-IL", provider="fake")
    )
    default_storage.save(path, ContentFile(b"\xff" * (FRAME_BYTES + 7)))  # a cut-off write
    assert speech_cache.stored_clip("תודה.", voice=CONFIG.voice, language="he-IL", provider="fake") is None
    with pytest.raises(ValueError, match="whole 160-byte frames"):
        speech_cache.store_clip("תודה.", b"\xff" * 7, voice=CONFIG.voice, language="he-IL", provider="fake")


def test_the_settings_voices_read_numbers_as_words():
    providers = providers_from_settings()
    assert isinstance(providers.tts, NormalizingTTS)
    assert providers.fallback_tts is None or isinstance(providers.fallback_tts, NormalizingTTS)


@pytest.mark.django_db
def test_a_business_is_warmed_from_its_settings():
    business = make_business()
    now = timezone.now()
    assert speech_cache.warm_business(business.pk, now) == []
    config = agent_config_for(business, {}, now)
    assert speech_cache.stored_clips(config, "fake")[1] == []


# -- the edge: a call plays what is stored and queues what is missing ---------------------------------------
@pytest.fixture
def fake_voices(settings):
    handlers._shared_providers.cache_clear()
    handlers._shared_ready_audio.cache_clear()
    yield
    handlers._shared_providers.cache_clear()
    handlers._shared_ready_audio.cache_clear()


@pytest.mark.django_db(transaction=True)
async def test_a_call_plays_the_stored_greeting_and_queues_the_missing_lines(fake_voices, settings):
    settings.VOICE_READY_AUDIO_VOICE = "main"
    settings.VOICE_SPEECH_CACHE = True  # off for the rest of the suite (tests/settings.py)
    business = await sync_to_async(make_business)()
    call = await sync_to_async(make_call)(business)
    await asyncio.to_thread(
        speech_cache.warm, [CONFIG.greeting], voice=CONFIG.voice, language="he-IL", provider="fake", tts=FakeTTS()
    )
    twilio, crm = FakeTwilio(echo_marks=True), MemoryReporter()
    info = CallInfo(call_id=call.pk, call_sid=call.call_sid, mode=Business.AgentMode.AI, config=CONFIG)
    handler = build_handler(info, twilio, crm, MediaClock())
    twilio.handler = handler
    await handler.start()
    await until(lambda: bool(crm.utterances), within=5)
    await handler.stop()

    main_tts = handlers._shared_providers().tts.inner
    assert CONFIG.greeting not in main_tts.texts  # played from storage, no TTS asked
    assert crm.utterances[0].text == CONFIG.greeting
    job = await Job.objects.aget(task="voice.tasks.warm_speech")
    _digest, texts, voice, language, provider = job.args
    assert (voice, language, provider) == (CONFIG.voice, "he-IL", "fake")
    assert CONFIG.greeting not in texts and CONFIG.apology in texts and CONFIG.goodbye in texts

    # The worker makes them; the next call finds them all.
    assert await asyncio.to_thread(lambda: warm_speech.apply(args=job.args).get()) == len(texts)
    _, missing = await asyncio.to_thread(speech_cache.stored_clips, CONFIG, "fake")
    assert missing == []


# -- the figure: greeting first audio from `start`, TTS taking 800 ms before its first audio ----------------
async def first_audio_ms(ready: ReadyAudio | None) -> float:
    tts = FakeTTS(first_chunk_delay=SLOW_TTS_S)
    twilio, crm = FakeTwilio(echo_marks=True), MemoryReporter()
    providers = Providers(asr=FakeASR(), llm=FakeLLM(), tts=tts)
    session = AgentSession(CONFIG, providers, twilio, crm, clock=LoopClock(speed=50), deadlines=None, ready=ready)
    twilio.handler = session
    started = time.perf_counter()
    await session.start()
    await until(lambda: twilio.media_bytes > 0, within=5)
    elapsed = (time.perf_counter() - started) * 1000
    await session.stop()
    return elapsed


async def test_the_stored_greeting_plays_at_once_instead_of_after_tts():
    live_ms = await first_audio_ms(None)

    tts = FakeTTS()
    await asyncio.to_thread(
        speech_cache.warm, [CONFIG.greeting], voice=CONFIG.voice, language="he-IL", provider="fake", tts=tts
    )
    clips, _ = await asyncio.to_thread(speech_cache.stored_clips, CONFIG, "fake")
    cached_ms = await first_audio_ms(ReadyAudio([]).with_stored(clips))

    print(f"\ngreeting first audio from start: live TTS {live_ms:.0f} ms, stored {cached_ms:.0f} ms")
    assert live_ms >= SLOW_TTS_S * 1000
    assert cached_ms < 100


# -- what names the voice in a clip's key -------------------------------------------------------------------
def _recording(path, seconds: float) -> str:
    samples = (np.sin(np.arange(int(8000 * seconds)) / 5) * 8000).astype(np.int16)
    path.write_bytes(write_wav(samples))
    return str(path)


def test_the_fake_voices_recording_is_part_of_its_name(settings, tmp_path):
    settings.FAKE_TTS_WAV = ""
    assert speech_cache.provider_name() == "fake"
    settings.FAKE_TTS_WAV = _recording(tmp_path / "a.wav", 0.5)
    first = speech_cache.provider_name()
    assert first.startswith("fake:") and first != "fake"
    settings.FAKE_TTS_WAV = _recording(tmp_path / "b.wav", 0.5)  # the same sound elsewhere: the same clips
    assert speech_cache.provider_name() == first
    _recording(tmp_path / "b.wav", 0.7)  # the demo's recording replaced: its greeting is made again
    os.utime(tmp_path / "b.wav", ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert speech_cache.provider_name() not in (first, "fake")


def test_a_recording_replaced_by_one_as_long_with_its_time_kept_is_named_anew(settings, tmp_path):
    """``cp -p``: the same size, the same modification time, another sound. What the file's status changed on
    (its inode's change time, which no copy can set) says it was rewritten."""
    path = tmp_path / "a.wav"
    settings.FAKE_TTS_WAV = _recording(path, 0.5)
    first = speech_cache.provider_name()
    kept = os.stat(path)
    time.sleep(0.05)  # the change time's clock ticks every few ms
    louder = (np.sin(np.arange(4000) / 5) * 12000).astype(np.int16)
    path.write_bytes(write_wav(louder))
    os.utime(path, ns=(kept.st_atime_ns, kept.st_mtime_ns))
    assert os.stat(path).st_size == kept.st_size and os.stat(path).st_mtime_ns == kept.st_mtime_ns
    assert speech_cache.provider_name() not in (first, "fake")


def test_a_clip_made_with_another_recording_is_not_played(settings, tmp_path):
    settings.FAKE_TTS_WAV = _recording(tmp_path / "a.wav", 0.5)
    speech_cache.warm(
        [CONFIG.greeting], voice=CONFIG.voice, language="he-IL", provider=speech_cache.provider_name(), tts=FakeTTS()
    )
    assert CONFIG.greeting not in speech_cache.stored_clips(CONFIG, speech_cache.provider_name())[1]
    settings.FAKE_TTS_WAV = _recording(tmp_path / "b.wav", 0.9)
    assert CONFIG.greeting in speech_cache.stored_clips(CONFIG, speech_cache.provider_name())[1]


def test_an_unreadable_recording_still_names_a_voice(settings, tmp_path):
    settings.FAKE_TTS_WAV = str(tmp_path / "missing.wav")  # the providers refuse it by name; the key does not fail
    assert speech_cache.provider_name() == "fake:unreadable"


def test_openais_model_and_default_voice_are_part_of_its_name(settings):
    settings.VOICE_TTS, settings.OPENAI_TTS_MODEL, settings.OPENAI_TTS_VOICE = "openai", "tts-1", "alloy"
    first = speech_cache.provider_name()
    settings.OPENAI_TTS_MODEL = "gpt-4o-mini-tts"
    second = speech_cache.provider_name()
    settings.OPENAI_TTS_VOICE = "nova"  # what a business's Google voice name falls back to
    assert len({first, second, speech_cache.provider_name()}) == 3
