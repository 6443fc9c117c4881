"""Ready audio: the fillers and the apology synthesised ahead, by the first voice that can."""

from __future__ import annotations

from tests.support.caller_audio import silence, voiced
from voice.agent.ready_audio import ReadyAudio, ready_voices, trim_quiet
from voice.audio.frames import FRAME_BYTES
from voice.providers.base import Providers
from voice.providers.fake import FakeASR, FakeLLM, FakeTTS

VOICE = {"voice": "he-IL-Wavenet-A", "language": "he-IL"}


async def test_the_next_voice_makes_what_the_first_could_not():
    broken, offline = FakeTTS(fail_times=1, name="main"), FakeTTS(name="offline")
    ready = ReadyAudio([("tts", broken), ("fallback_tts", offline)])
    ready.prepare(["רגע, אני בודק."], **VOICE)
    await ready.wait()
    clip = ready.clip("רגע, אני בודק.", **VOICE)
    assert clip is not None and len(clip) % FRAME_BYTES == 0
    assert len(clip) == FakeTTS.audio_ms("רגע, אני בודק.") * 8
    assert offline.texts == ["רגע, אני בודק."]
    assert ready.clip("רגע, אני בודק.", voice="other", language="he-IL") is None  # per voice


async def test_made_once_per_process_and_tried_again_after_a_failure():
    tts = FakeTTS(fail_times=1)
    ready = ReadyAudio([("tts", tts)])
    ready.prepare(["סליחה."], **VOICE)
    await ready.wait()
    assert ready.clip("סליחה.", **VOICE) is None  # no voice could: the session does without it
    for _ in range(3):  # the next calls
        ready.prepare(["סליחה."], **VOICE)
        await ready.wait()
    assert ready.clip("סליחה.", **VOICE) is not None
    assert tts.texts == ["סליחה.", "סליחה."]  # made once, after the one failure


def test_the_offline_voice_comes_first_unless_the_main_one_is_asked_for():
    main, espeak = FakeTTS(name="main"), FakeTTS(name="espeak")
    providers = Providers(asr=FakeASR(), llm=FakeLLM(), tts=main, fallback_tts=espeak)
    assert ready_voices(providers) == [("fallback_tts", espeak), ("tts", main)]
    assert ready_voices(providers, "main") == [("tts", main), ("fallback_tts", espeak)]
    alone = Providers(asr=FakeASR(), llm=FakeLLM(), tts=main)
    assert ready_voices(alone) == [("tts", main)]


def test_an_unknown_ready_voice_is_refused():
    providers = Providers(asr=FakeASR(), llm=FakeLLM(), tts=FakeTTS())
    try:
        ready_voices(providers, "loud")
    except ValueError as exc:
        assert "offline, main" in str(exc)
    else:
        raise AssertionError("accepted")


def test_quiet_edges_are_trimmed_to_whole_frames():
    speech = voiced(200)
    trimmed = trim_quiet(silence(300) + speech + silence(500) + b"\xff" * 7)
    assert len(trimmed) % FRAME_BYTES == 0
    assert abs(len(trimmed) - len(speech)) <= 2 * FRAME_BYTES
    assert trim_quiet(silence(300)) == b""
