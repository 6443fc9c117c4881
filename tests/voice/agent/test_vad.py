import time

import pytest

from tests.support.caller_audio import HAVE_ESPEAK, espeak_hebrew, frames, silence, voiced
from voice.agent.config import AgentConfig
from voice.agent.vad import MAX_FADING_MS, NoiseDropped, SpeechEnded, SpeechStarted, VoiceActivityDetector

# webrtcvad keeps saying "speech" for a few frames after the voice stops (its own hangover).
HANGOVER_MS = 160


def ended_near(event, start_ms: int, voice_end_ms: int) -> bool:
    return (
        isinstance(event, SpeechEnded)
        and event.start_ms == start_ms
        and voice_end_ms <= event.end_ms <= voice_end_ms + HANGOVER_MS
    )


def run(vad: VoiceActivityDetector, audio: bytes, pause_s: float = 0.0) -> list:
    events = []
    for frame in frames(audio):
        if event := vad.push(frame):
            events.append(event)
        if pause_s:
            time.sleep(pause_s)
    return events


def test_silence_is_not_speech():
    assert run(VoiceActivityDetector(), silence(2000)) == []


def test_an_utterance_starts_and_ends_in_media_time():
    vad = VoiceActivityDetector(start_ms=60, eou_silence_ms=600)
    events = run(vad, silence(500) + voiced(1000) + silence(1000))
    assert events[0] == SpeechStarted(500)
    assert len(events) == 2 and ended_near(events[1], 500, 1500)
    assert vad.now_ms == 2500


@pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng not installed")
def test_detects_real_hebrew_speech(tmp_path):
    speech = espeak_hebrew("שלום, אני רוצה לשמוע על המוצרים שלכם", tmp_path)
    speech_ms = len(speech) // 8
    events = run(VoiceActivityDetector(), silence(400) + speech + silence(1000))
    started = [e for e in events if isinstance(e, SpeechStarted)]
    ended = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(started) == len(ended) == 1  # short pauses between words do not end the utterance
    assert 380 <= started[0].at_ms <= 500
    assert ended[0].end_ms <= 400 + speech_ms + 20
    assert ended[0].end_ms - ended[0].start_ms > speech_ms * 0.6


def test_end_of_utterance_waits_for_the_configured_silence():
    vad = VoiceActivityDetector(eou_silence_ms=600)
    events = run(vad, voiced(500) + silence(580))
    assert events == [SpeechStarted(0)]
    while vad.in_speech:  # the decision comes exactly 600 ms after the last voiced frame
        events += run(vad, silence(20))
    assert ended_near(events[-1], 0, 500)
    assert vad.now_ms == events[-1].end_ms + 600


def test_short_noises_are_dropped():
    vad = VoiceActivityDetector(min_utterance_ms=200)
    events = run(vad, silence(200) + voiced(40) + silence(800))
    assert events[0] == SpeechStarted(200)
    assert len(events) == 2 and isinstance(events[1], NoiseDropped)


def test_long_speech_is_cut_at_max_utterance():
    vad = VoiceActivityDetector(max_utterance_ms=1000, eou_silence_ms=600)
    events = run(vad, voiced(1500) + silence(700))
    assert events[:2] == [SpeechStarted(0), SpeechEnded(0, 1000, forced=True)]
    # The rest of the speech is a new utterance.
    assert isinstance(events[2], SpeechStarted) and isinstance(events[3], SpeechEnded)


def test_feeding_faster_than_real_time_changes_nothing():
    audio = silence(300) + voiced(400) + silence(900) + voiced(300) + silence(900)
    fast = run(VoiceActivityDetector(), audio)
    slow = run(VoiceActivityDetector(), audio, pause_s=0.002)
    assert fast == slow and len(fast) == 4


def test_configured_from_agent_config():
    config = AgentConfig(eou_silence_ms=300, min_utterance_ms=100, max_utterance_ms=5000, vad_aggressiveness=3)
    vad = VoiceActivityDetector.from_config(config)
    events = run(vad, voiced(400) + silence(300 + HANGOVER_MS))
    assert events[0] == SpeechStarted(0) and ended_near(events[1], 0, 400)


def test_speech_duration_so_far_counts_up_to_the_last_voiced_frame():
    vad = VoiceActivityDetector()
    run(vad, silence(100) + voiced(300))
    assert vad.speech_ms() == 300
    run(vad, silence(400))
    assert vad.in_speech and vad.speech_ms() <= 300 + HANGOVER_MS


def test_frames_must_be_20_ms():
    with pytest.raises(ValueError):
        VoiceActivityDetector().push(b"\xff" * 80)


def test_speech_confirmed_late_is_timed_from_the_weaker_evidence_before_it_at_most_300_ms():
    frame = silence(20)
    vad = VoiceActivityDetector(start_ms=60)
    for _ in range(20):
        vad.decide(False, frame=frame)  # 400 ms
    for _ in range(2):
        vad.decide(True, frame=frame)
    started = vad.decide(True, frame=frame, onset_frames=10)  # the gate heard 200 ms of it
    assert started == SpeechStarted(460 - 200)
    assert vad.speech_ms() == 200

    late = VoiceActivityDetector(start_ms=60)
    for _ in range(40):
        late.decide(False, frame=frame)
    for _ in range(2):
        late.decide(True, frame=frame)
    assert late.decide(True, frame=frame, onset_frames=40) == SpeechStarted(860 - 300)  # capped


def test_stronger_evidence_starts_speech_on_one_voiced_frame_timed_from_its_onset():
    frame = silence(20)
    vad = VoiceActivityDetector(start_ms=60)
    for _ in range(20):
        vad.decide(False, frame=frame)
    assert vad.decide(False, frame=frame, start_now=True) is None  # an unvoiced frame starts nothing
    assert not vad.in_speech
    started = vad.decide(True, frame=frame, onset_frames=12, start_now=True)
    assert started == SpeechStarted(440 - 240)
    assert vad.speech_ms() == 240

    without = VoiceActivityDetector(start_ms=60)
    for _ in range(21):
        without.decide(False, frame=frame)
    assert without.decide(True, frame=frame, onset_frames=12) is None  # the run of start_ms is still needed


def test_the_silence_is_counted_from_where_the_detectors_memory_of_the_voice_began_to_fade():
    """Silero's "speech" trails a voice that stopped; ``fading_ms`` says by how much, and the business's
    silence setting is the caller's silence, counted from there (a fade lasts up to ``MAX_FADING_MS``)."""
    frame = silence(20)
    vad = VoiceActivityDetector(start_ms=60, eou_silence_ms=600)
    for _ in range(10):
        vad.decide(False, frame=frame)  # 0-200 ms
    for _ in range(20):
        vad.decide(True, frame=frame)  # the voice: 200-600 ms
    for fading in (20, 40, 60, 80, 100):
        vad.decide(True, frame=frame, fading_ms=fading)  # the detector's memory of it: 600-700 ms
    events = [vad.decide(False, frame=frame) for _ in range(30)]
    ended = [(i, e) for i, e in enumerate(events) if e is not None]
    assert ended == [(24, SpeechEnded(200, 600))]  # 500 ms after its last vote, 600 ms after the voice

    for fading, ends_at in ((MAX_FADING_MS, (600 - MAX_FADING_MS) // 20 - 1), (MAX_FADING_MS + 20, 600 // 20 - 1)):
        vad = VoiceActivityDetector(start_ms=60, eou_silence_ms=600)
        for _ in range(20):
            vad.decide(True, frame=frame)
        vad.decide(True, frame=frame, fading_ms=fading)  # unsure for longer than a fade: a quiet voice
        events = [vad.decide(False, frame=frame) for _ in range(30)]
        assert [i for i, e in enumerate(events) if e is not None] == [ends_at], fading


def test_a_short_word_whose_end_faded_is_still_a_word():
    frame = silence(20)
    vad = VoiceActivityDetector(start_ms=60, eou_silence_ms=600, min_utterance_ms=200)
    for _ in range(7):
        vad.decide(True, frame=frame)  # 140 ms of voice
    for fading in (20, 40, 60, 80, 100):
        vad.decide(True, frame=frame, fading_ms=fading)  # heard for 240 ms in all
    events = [e for e in (vad.decide(False, frame=frame) for _ in range(30)) if e is not None]
    assert events == [SpeechEnded(0, 140)]  # told from noise by the run heard, ended where it faded


def test_speech_under_way_continues_an_earlier_utterance_only_while_there_is_speech():
    frame = silence(20)
    vad = VoiceActivityDetector(start_ms=60, eou_silence_ms=600)
    with pytest.raises(RuntimeError, match="no speech under way"):
        vad.continue_from(0)
    assert not vad.in_speech  # refused, nothing changed
    for _ in range(40):
        vad.decide(False, frame=frame)  # 0-800 ms
    for _ in range(3):
        started = vad.decide(True, frame=frame)
    assert started == SpeechStarted(800)
    vad.continue_from(120)  # an utterance that started at 120 ms and ended before this
    assert vad.speech_ms() == 860 - 120
    for _ in range(10):
        vad.decide(True, frame=frame)
    events = [e for e in (vad.decide(False, frame=frame) for _ in range(30)) if e is not None]
    assert events == [SpeechEnded(120, 1060)]
