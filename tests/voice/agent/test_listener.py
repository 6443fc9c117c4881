"""The listener times what it hears by the call's media clock, however the audio is cut into payloads."""

from __future__ import annotations

from tests.support.agent_doubles import MemoryReporter
from tests.support.caller_audio import silence, voiced
from voice.agent.config import AgentConfig
from voice.agent.listener import Listener
from voice.agent.vad import SpeechEnded, SpeechStarted
from voice.audio.clock import MediaClock
from voice.providers.fake import FakeASR


async def hear_all(audio: bytes, payload_bytes: int) -> tuple[list[object], MediaClock, Listener]:
    """Feed ``audio`` the way the socket does: advance the clock by a payload, then hand it over."""
    clock = MediaClock()
    asr = FakeASR()
    listener = Listener(AgentConfig(), asr.new_transcriber("he-IL"), clock, MemoryReporter(), asr_timeout_s=1.0)
    events: list[object] = []
    for i in range(0, len(audio), payload_bytes):
        payload = audio[i : i + payload_bytes]
        clock.advance(payload)
        events += [event for event in await listener.hear(payload) if event is not None]
    return events, clock, listener


async def test_payloads_of_several_frames_are_timed_frame_by_frame():
    audio = silence(500) + voiced(800) + silence(900)
    one_frame, _, _ = await hear_all(audio, 160)
    assert isinstance(one_frame[0], SpeechStarted) and one_frame[0].at_ms == 500
    assert isinstance(one_frame[1], SpeechEnded)
    for size in (480, 100, 1000):  # whole frames, a partial frame, a mix
        events, clock, _ = await hear_all(audio, size)
        assert events == one_frame, size
        assert clock.ms == len(audio) // 8


async def test_the_utterance_comes_with_its_pre_roll():
    events, _, listener = await hear_all(silence(500) + voiced(800) + silence(900), 160)
    started, ended = events
    assert isinstance(started, SpeechStarted) and isinstance(ended, SpeechEnded)
    speech = listener.take_speech()
    assert len(speech) >= (ended.end_ms - ended.start_ms) * 8  # the whole utterance and then some
    assert listener.take_speech() == b""
