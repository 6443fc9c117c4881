"""How late Twilio plays our audio: the median of the latest five marks' readings."""

import pytest

from voice.audio.played_late import PlayedLate


def test_until_a_mark_comes_back_our_audio_is_taken_to_play_as_estimated():
    late = PlayedLate()
    assert (late.measured, late.seconds) == (False, 0.0)


def test_the_reading_is_the_median_of_the_latest_five_marks():
    late = PlayedLate()
    for echoed_at in (10.30, 20.32, 30.90, 40.31):  # one mark came back 600 ms later than the others
        late.add(echoed_at, echoed_at - (echoed_at % 10))
    assert late.measured
    assert late.seconds == pytest.approx(0.315)
    for echoed_at in (50.5, 60.5, 70.5):  # the network got slower: three of the latest five say so
        late.add(echoed_at, echoed_at - 0.5)
    assert late.seconds == pytest.approx(0.5)


def test_a_mark_back_before_the_estimate_said_counts_as_on_time():
    late = PlayedLate()
    late.add(9.9, 10.0)
    assert (late.measured, late.seconds) == (True, 0.0)


def test_a_mark_back_more_than_two_seconds_late_is_no_reading():
    """A play-out that late is a mark lost and found (or a stall), not how late Twilio plays."""
    late = PlayedLate()
    late.add(12.5, 10.0)
    assert (late.measured, late.seconds) == (False, 0.0)
