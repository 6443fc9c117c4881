"""Who says the caller speaks: Silero gated by webrtcvad, and webrtcvad alone when Silero breaks."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pytest

from tests.support.agent_doubles import MemoryReporter
from tests.support.caller_audio import HAVE_ESPEAK, espeak_hebrew, frames, silence
from voice.agent.config import AgentConfig
from voice.agent.listener import Listener
from voice.agent.silero_batch import SileroBatch
from voice.agent.vad import SpeechEnded
from voice.agent.voicing import SileroVoicing, WebrtcVoicing
from voice.audio import mulaw
from voice.audio.clock import MediaClock
from voice.providers.fake import FakeASR

pytestmark = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed")


async def test_silence_costs_no_model_run():
    voicing = SileroVoicing(SileroBatch())
    assert not any([await voicing.voiced(mulaw.decode(f)) for f in frames(silence(2000))])
    assert voicing.scored == 0  # the webrtcvad gate never opened


async def test_more_than_a_frame_at_a_time_is_refused_and_changes_nothing():
    voicing = SileroVoicing(SileroBatch())
    two = mulaw.decode(b"".join(frames(silence(40))))
    with pytest.raises(ValueError, match="one frame at a time"):
        await voicing.voiced(two)
    assert [await voicing.voiced(mulaw.decode(f)) for f in frames(silence(200))] == [False] * 10
    assert voicing.scored == 0


async def test_silero_hears_the_caller_and_stops_hearing_them_when_they_stop(tmp_path):
    voicing = SileroVoicing(SileroBatch())
    speech = espeak_hebrew("שלום, אני רוצה לקבוע תור", tmp_path)
    votes = [await voicing.voiced(mulaw.decode(f)) for f in frames(silence(300) + speech + silence(800))]
    first, last = votes.index(True), len(votes) - 1 - votes[::-1].index(True)
    assert 15 <= first <= 25  # within 200 ms of the speech's start (espeak's own lead-in included)
    assert last * 20 <= 300 + len(speech) // 8 + 100


async def test_silero_is_sure_only_of_what_its_own_state_says_and_webrtcvad_never_is(tmp_path):
    """The echo guard's masked frames may count as a voice only on a detector's own state (the listener's
    bridge): Silero's speech state, not the weaker evidence taken while the agent speaks."""
    voicing, webrtc = SileroVoicing(SileroBatch()), WebrtcVoicing(2)
    speech = espeak_hebrew("שלום, אני רוצה לקבוע תור", tmp_path)
    sure, eager = [], []
    for frame in frames(silence(300) + speech + silence(800)):
        eager.append(await voicing.voiced(mulaw.decode(frame), eager=True))
        sure.append(voicing.sure)
        await webrtc.voiced(mulaw.decode(frame))
        assert webrtc.sure is None
    assert all(isinstance(state, bool) for state in sure)  # a state on every frame
    assert any(sure) and all(e for e, s in zip(eager, sure, strict=True) if s)  # sure implies the vote
    assert sum(eager) > sum(sure)  # the weaker evidence taken while we speak is not its own state


async def test_after_a_long_quiet_stretch_the_caller_is_heard_at_once(tmp_path):
    """After ~1 s unscored Silero starts afresh anyway, so later quiet frames are only counted, not converted
    and windowed; the window under way is rebuilt when the gate opens. (tests/bench/test_turn_taking.py
    catches a wrong rebuild: the corpus's figures move.)"""
    speech = espeak_hebrew("שלום, אני רוצה לקבוע תור", tmp_path)
    votes = {}
    for quiet_ms in (300, 3000):
        voicing = SileroVoicing(SileroBatch())
        votes[quiet_ms] = [await voicing.voiced(mulaw.decode(f)) for f in frames(silence(quiet_ms) + speech)]
        assert voicing.scored > 0
    # Within 200 ms of the speech's start (espeak's own lead-in included) either way; where the 32 ms windows
    # fall differs between the two, so the very frame may too.
    assert 0 <= votes[300].index(True) - 15 <= 10
    assert 0 <= votes[3000].index(True) - 150 <= 10


async def test_a_broken_model_falls_back_to_webrtcvad_and_says_so_on_the_timeline(tmp_path):
    """A real runtime fault: the half-precision model refuses our float32 windows."""
    half = Path(str(importlib.metadata.distribution("silero-vad").locate_file("silero_vad/data/silero_vad_half.onnx")))
    voicing = SileroVoicing(SileroBatch(half))
    reporter = MemoryReporter()
    clock = MediaClock()
    listener = Listener(
        AgentConfig(), FakeASR().new_transcriber("he-IL"), clock, reporter, asr_timeout_s=1.0, voicing=voicing
    )
    events = []
    for frame in frames(silence(300) + espeak_hebrew("שלום, אני רוצה לקבוע תור", tmp_path) + silence(900)):
        clock.advance(frame)
        events += [e for e in await listener.hear(frame) if e is not None]
    assert voicing.failure is not None and "INVALID_ARGUMENT" in voicing.failure
    assert voicing.sure is None  # webrtcvad stands in: nothing of its own to be sure of
    assert reporter.payloads("error") == [
        {"role": "vad", "message": voicing.failure, "fallback": "webrtcvad"}
    ]  # once, not per frame
    assert any(isinstance(e, SpeechEnded) for e in events)  # the call still hears the caller


async def test_webrtcvad_standing_in_for_a_silero_that_could_not_load_reports_why():
    reporter = MemoryReporter()
    clock = MediaClock()
    voicing = WebrtcVoicing(2, failure="RuntimeError: the silero-vad package is not installed")
    listener = Listener(
        AgentConfig(), FakeASR().new_transcriber("he-IL"), clock, reporter, asr_timeout_s=1.0, voicing=voicing
    )
    for frame in frames(silence(100)):
        clock.advance(frame)
        await listener.hear(frame)
    assert [p["message"] for p in reporter.payloads("error")] == [voicing.failure]


async def test_silero_says_how_long_its_speech_has_only_been_its_memory_of_a_voice(tmp_path):
    """On a noisy line Silero's state ends 160-200 ms after the voice; ``fading_ms`` is the part of that
    since the latest window it was sure of, and the listener's silence is counted from there."""
    voicing, webrtc = SileroVoicing(SileroBatch()), WebrtcVoicing(2)
    said = espeak_hebrew("שלום, אני רוצה לקבוע תור לשבוע הבא, אפשר?", tmp_path)  # its question trails off
    speech = mulaw.decode(said).astype(np.float64)
    loud = np.flatnonzero(np.abs(speech) > np.abs(speech).max() / 300)  # espeak's silences cut off (-50 dB)
    speech = speech[loud[0] : loud[-1] + 1]
    rng = np.random.default_rng(7)
    line = np.concatenate([np.zeros(2400), speech, np.zeros(8000)])
    line += rng.normal(0, np.sqrt(np.mean(speech**2)) * 10 ** (-10 / 20), len(line))  # white noise, SNR 10 dB
    audio = mulaw.encode(np.clip(line, -32768, 32767).astype(np.int16))
    fading, sure = [], []
    for frame in frames(audio):
        await voicing.voiced(mulaw.decode(frame))
        await webrtc.voiced(mulaw.decode(frame))
        fading.append(voicing.fading_ms)
        sure.append(voicing.sure)
        assert webrtc.fading_ms == 0
    last = len(sure) - 1 - sure[::-1].index(True)  # the last frame Silero called speech
    trail_ms = (last + 1) * 20 - (2400 + len(speech)) // 8  # its state trails the voice...
    assert trail_ms >= 100
    assert abs(fading[last] - trail_ms) <= 32  # ...and it says by how much, to within a window
    assert all(f == 0 for f, s in zip(fading, sure, strict=True) if not s)  # only while it says speech
