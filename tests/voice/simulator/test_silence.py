"""Silence as the caller heard it, in media time: quiet frames count, whatever made them quiet."""

from __future__ import annotations

from tests.support.caller_audio import silence, voiced
from voice.simulator.silence import last_voiced_ms, longest_silence_ms

# 1 s of speech, 1.2 s of silence, 0.4 s of speech, 0.6 s of silence, 0.2 s of speech, then the caller's turn.
HEARD = voiced(1000) + silence(1200) + voiced(400) + silence(600) + voiced(200) + silence(3000)


def test_the_longest_gap_after_a_point_up_to_the_last_thing_said():
    assert longest_silence_ms(HEARD, 0) == 1200
    assert longest_silence_ms(HEARD, 1600) == 600  # from inside the first gap: what was left of it
    assert longest_silence_ms(HEARD, 2600) == 600  # the silence after the last words is not a wait


def test_a_window_can_end_anywhere_even_after_what_was_heard():
    assert longest_silence_ms(HEARD, 3200, 3400) == 0
    assert longest_silence_ms(HEARD, 3400, len(HEARD) // 8 + 500) == 3500
    assert longest_silence_ms(b"", 0, 2000) == 2000  # nothing heard at all


def test_where_the_audible_part_ends():
    assert last_voiced_ms(HEARD) == 3400
    assert last_voiced_ms(silence(500)) == 0
