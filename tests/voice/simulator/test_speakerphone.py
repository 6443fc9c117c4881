"""A caller on a speakerphone: what they heard comes back on their line, quieter and late."""

from __future__ import annotations

import numpy as np
import pytest

from voice.audio import mulaw
from voice.audio.frames import FRAME_BYTES
from voice.simulator.speakerphone import MAX_DELAY_MS, Speakerphone

SILENT_FRAME = b"\xff" * FRAME_BYTES


def tone(ms: int, amplitude: float = 8000.0) -> bytes:
    t = np.arange(ms * 8) / 8000
    return mulaw.encode((np.sin(2 * np.pi * 300 * t) * amplitude).astype(np.int16))


def db(audio: bytes) -> float:
    samples = mulaw.decode(audio).astype(np.float64)
    return float(10 * np.log10(max(np.mean(samples**2), 1.0)))


def test_what_the_caller_heard_comes_back_delay_ms_later_at_its_level():
    heard = tone(1000)
    phone = Speakerphone(-20, delay_ms=120)
    # The frame at 500 ms carries what played at 380 ms, 20 dB down.
    frame = phone.mix(SILENT_FRAME, heard, 500 * 8)
    expected = mulaw.decode(heard[380 * 8 : 380 * 8 + FRAME_BYTES]).astype(np.float64) * 0.1
    assert np.max(np.abs(mulaw.decode(frame) - expected)) <= np.max(np.abs(expected)) * 0.04 + 2
    assert db(frame) == pytest.approx(db(heard) - 20, abs=0.5)


def test_the_callers_own_voice_is_kept_under_the_echo():
    caller = tone(20, amplitude=4000.0)
    frame = Speakerphone(-30, delay_ms=60).mix(caller, tone(1000), 500 * 8)
    assert db(frame) == pytest.approx(db(caller), abs=1.0)  # the echo is 30 dB under what we sent, not the caller


def test_before_anything_played_and_past_what_has_played_the_line_carries_the_caller_alone():
    phone = Speakerphone(-15, delay_ms=120)
    assert phone.mix(SILENT_FRAME, tone(1000), 0) == SILENT_FRAME  # nothing had played 120 ms before the start
    assert phone.mix(SILENT_FRAME, tone(200), 400 * 8) == SILENT_FRAME  # what played ended at 200 ms
    # A frame whose echo starts before the stream did: only its end carries the start of what played.
    frame = mulaw.decode(phone.mix(SILENT_FRAME, tone(1000), 110 * 8))
    assert not frame[: 10 * 8].any() and frame[10 * 8 :].any()


@pytest.mark.parametrize(
    ("level_db", "delay_ms", "noise_dbfs", "says"),
    [
        (3.0, 120, None, "quieter than the agent's voice"),
        (-20.0, -1, None, "0 to 1000 ms"),
        (-20.0, MAX_DELAY_MS + 1, None, "0 to 1000 ms"),
        (-20.0, 120, 0.0, "below full scale"),
    ],
)
def test_an_echo_louder_than_the_agent_a_delay_out_of_range_or_a_hiss_over_full_scale_is_refused(
    level_db, delay_ms, noise_dbfs, says
):
    with pytest.raises(ValueError, match=says):
        Speakerphone(level_db, delay_ms, noise_dbfs=noise_dbfs)


def test_a_line_with_a_hiss_carries_it_on_every_frame_at_its_level():
    phone = Speakerphone(-20, noise_dbfs=-55)
    frames = [phone.mix(SILENT_FRAME, b"", i * FRAME_BYTES) for i in range(50)]  # nothing has played yet
    assert db(b"".join(frames)) == pytest.approx(20 * np.log10(32768) - 55, abs=1.0)
    assert len(set(frames)) == 50  # a hiss, not one frame repeated
