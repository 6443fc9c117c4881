"""The listener times what it hears by the call's media clock, however the audio is cut into payloads."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.agent_doubles import MemoryReporter
from tests.support.caller_audio import HAVE_ESPEAK, espeak_hebrew, frames, silence, voiced
from voice.agent.config import AgentConfig
from voice.agent.echo_guard import EchoGuard
from voice.agent.listener import CallerInput, Listener
from voice.agent.vad import SpeechEnded, SpeechStarted
from voice.audio import mulaw
from voice.audio.clock import MediaClock
from voice.audio.frames import FRAME_BYTES, FRAME_MS
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


async def go_on_after(pause_ms: int) -> tuple[bytes, CallerInput, list[object], bytes]:
    """The caller says something, pauses ``pause_ms`` (long enough for the VAD to end it), and goes on
    before it is answered: the inbound audio, the first utterance as taken, the events, the whole."""
    clock = MediaClock()
    listener = Listener(AgentConfig(), FakeASR().new_transcriber("he-IL"), clock, MemoryReporter(), asr_timeout_s=1.0)
    inbound = silence(500) + voiced(800) + silence(pause_ms) + voiced(600, f0=180.0) + silence(900)
    events: list[object] = []
    item = None
    for i in range(0, len(inbound), 160):
        clock.advance(inbound[i : i + 160])
        for event in await listener.hear(inbound[i : i + 160]):
            if isinstance(event, SpeechEnded) and item is None:
                item = listener.take_input(event)  # the first utterance, to answer
            elif isinstance(event, SpeechStarted) and item is not None:
                listener.go_on(item)  # ...and the caller went on before we did
            if event is not None:
                events.append(event)
    assert item is not None and item.audio is not None
    return inbound, item, events, listener.take_speech()


async def test_speech_that_goes_on_an_unanswered_utterance_ends_with_it_as_one():
    inbound, item, events, whole_audio = await go_on_after(900)
    assert item.speech is not None and item.speech.start_ms == 500
    _, first_end, _, whole = events
    assert isinstance(first_end, SpeechEnded) and isinstance(whole, SpeechEnded)
    assert whole.start_ms == 500 and whole.end_ms >= 500 + 800 + 900 + 600
    # Heard whole: the first utterance's audio, then the rest from the new speech's pre-roll on.
    assert whole_audio.startswith(item.audio)
    rest = whole_audio[len(item.audio) :]
    assert inbound.find(rest) >= item.audio_until_ms * 8 and len(rest) >= 600 * 8


async def test_audio_the_two_stretches_share_is_heard_once():
    """Speech that starts within the pre-roll of the first's end: that pre-roll is already in it."""
    inbound, item, _, whole_audio = await go_on_after(750)
    assert whole_audio.startswith(item.audio)
    assert inbound.find(whole_audio) >= 0  # contiguous: nothing repeated, nothing left out


async def test_only_an_utterance_can_go_on_and_a_refusal_changes_nothing():
    _, _, listener = await hear_all(silence(300) + voiced(500), 160)  # speech under way
    _, _, twin = await hear_all(silence(300) + voiced(500), 160)
    before = (listener.vad.speech_start_ms, listener.speech_ms())
    with pytest.raises(ValueError, match="only an utterance"):
        listener.go_on(CallerInput(dtmf="12#"))
    assert (listener.vad.speech_start_ms, listener.speech_ms()) == before
    assert listener.take_speech() == twin.take_speech() != b""


async def line_events(tmp_path, echo_db: float | None, delay_ms: int = 120) -> list[tuple[str, int, dict]]:
    """Our reply plays from media time 0 and comes back on the caller's line ``delay_ms`` late at ``echo_db``
    (None: it does not come back), over an ordinary line's hiss: the events the listener reported."""
    ours = b"".join(frames(espeak_hebrew("תודה שהתקשרתם, אנחנו פתוחים מחר משמונה בבוקר ועד שש בערב", tmp_path)))
    playing: list[int | None] = [None]
    guard = EchoGuard(lambda: playing[0])
    guard.sent(ours, 0)
    reporter = MemoryReporter()
    clock = MediaClock()
    asr = FakeASR().new_transcriber("he-IL")
    listener = Listener(AgentConfig(), asr, clock, reporter, asr_timeout_s=1.0, echo=guard)
    line = np.random.default_rng(3).normal(0, 60.0, len(ours) + delay_ms * 8)  # about -55 dBFS
    if echo_db is not None:
        line[delay_ms * 8 :] += mulaw.decode(ours).astype(np.float64) * 10 ** (echo_db / 20)
    inbound = mulaw.encode(np.clip(line, -32768, 32767).astype(np.int16))
    for i in range(0, len(inbound) - FRAME_BYTES + 1, FRAME_BYTES):
        playing[0] = i // 8 + FRAME_MS if i < len(ours) else None
        payload = inbound[i : i + FRAME_BYTES]
        clock.advance(payload)
        await listener.hear(payload)
    return reporter.events


@pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed")
@pytest.mark.parametrize("echo_db", [-15, -25])
async def test_a_line_that_brings_our_voice_back_is_reported_once_with_its_delay(tmp_path, echo_db):
    events = await line_events(tmp_path, echo_db)
    echoes = [(offset, payload) for kind, offset, payload in events if kind == "line_echoes"]
    assert len(echoes) == 1, events
    offset, payload = echoes[0]
    assert 1000 <= offset <= 2500  # once the guard has heard a second of our speech
    assert abs(payload["delay_ms"] - 120) <= 2 * FRAME_MS


@pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed")
async def test_a_line_that_does_not_bring_it_back_reports_nothing(tmp_path):
    assert [kind for kind, _, _ in await line_events(tmp_path, None) if kind == "line_echoes"] == []
