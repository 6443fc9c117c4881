"""Twilio's playout buffer, the rules every emulator of Twilio's side follows (positions in 8 kHz samples)."""

from __future__ import annotations

from voice.simulator.playout import PlayoutBuffer

FRAME = 160  # 20 ms


def test_audio_plays_back_to_back_and_after_a_dry_spell_from_its_arrival():
    buffer = PlayoutBuffer()
    assert buffer.queue(10 * FRAME, now=0) == 0
    assert buffer.queue(5 * FRAME, now=FRAME) == 10 * FRAME  # queued behind what is still playing
    assert buffer.queued_to == 15 * FRAME
    assert buffer.queue(FRAME, now=40 * FRAME) == 40 * FRAME  # the buffer had run dry: plays on arrival
    assert buffer.queued_to == 41 * FRAME


def test_a_mark_is_due_once_the_audio_before_it_has_played():
    buffer = PlayoutBuffer()
    buffer.queue(25 * FRAME, now=0)
    assert buffer.mark("after-500ms", now=FRAME) == 25 * FRAME
    buffer.queue(FRAME, now=2 * FRAME)  # audio after the mark does not delay it
    assert buffer.next_due() == 25 * FRAME
    assert buffer.pop_due(25 * FRAME - 1) is None
    assert buffer.pop_due(25 * FRAME) == "after-500ms"
    assert buffer.next_due() is None and buffer.pending() == []


def test_a_mark_with_nothing_queued_is_due_at_once():
    buffer = PlayoutBuffer()
    buffer.queue(FRAME, now=0)
    assert buffer.mark("m", now=3 * FRAME) == 3 * FRAME
    assert buffer.pop_all_due(3 * FRAME) == ["m"]


def test_marks_are_echoed_in_order():
    buffer = PlayoutBuffer()
    for i, name in enumerate(("s1", "s2", "s3")):
        buffer.queue(10 * FRAME, now=0)
        buffer.mark(name, now=i)
    assert buffer.due_of("s2") == 20 * FRAME
    assert buffer.pop_all_due(25 * FRAME) == ["s1", "s2"]
    assert buffer.pending() == ["s3"]
    assert buffer.due_of("s2") is None


def test_clear_drops_what_has_not_played_and_flushes_every_pending_mark():
    buffer = PlayoutBuffer()
    buffer.queue(100 * FRAME, now=0)
    buffer.mark("s1", now=0)
    buffer.queue(50 * FRAME, now=0)
    buffer.mark("s2", now=0)
    assert buffer.clear(now=10 * FRAME) == ["s1", "s2"]  # echoed at once: flushed, not heard
    assert buffer.queued_to == 10 * FRAME and buffer.pending() == []
    assert buffer.queue(FRAME, now=10 * FRAME) == 10 * FRAME  # the next audio plays right away


def test_clear_on_an_empty_buffer_changes_nothing():
    buffer = PlayoutBuffer()
    buffer.queue(FRAME, now=0)
    assert buffer.clear(now=5 * FRAME) == []
    assert buffer.queued_to == FRAME
