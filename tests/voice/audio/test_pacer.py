import asyncio
import math
import time

import pytest
from prometheus_client import REGISTRY

from tests.support.agent_doubles import FakeTwilio, ManualClock, settle
from voice.audio.frames import FRAME_BYTES
from voice.audio.pacer import LoopClock, Pacer


def audio(ms: int, byte: int = 0x55) -> bytes:
    return bytes([byte]) * (ms * 8)


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def twilio():
    return FakeTwilio()


class HeldTwilio(FakeTwilio):
    """A Twilio whose sends wait for ``gate``: media once ``hold_media_after`` frames went out, or every clear."""

    def __init__(self, *, hold_media_after: int | None = None, hold_clears: bool = False) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self._hold_media_after = hold_media_after
        self._hold_clears = hold_clears

    async def send_media(self, payload: bytes) -> None:
        if self._hold_media_after is not None and self.frames >= self._hold_media_after:
            await self.gate.wait()
        await super().send_media(payload)

    async def send_clear(self) -> None:
        if self._hold_clears:
            await self.gate.wait()
        await super().send_clear()


def media_sizes(twilio: FakeTwilio) -> list[int]:
    """Frames per media message, in order."""
    return [len(payload) // FRAME_BYTES for kind, payload in twilio.log if kind == "media"]


async def test_sends_up_to_the_lead_at_once_then_100_ms_at_a_time(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock, batch_ms=100, max_message_ms=200)
    pacer.push(audio(2000))
    await settle()
    assert twilio.frames == 15  # 300 ms ahead of the play-out
    assert media_sizes(twilio) == [10, 5]  # the opening burst, at most 200 ms per message
    await clock.advance(0.08)
    assert twilio.frames == 15  # four frames' room is not a batch
    await clock.advance(0.02)
    assert twilio.frames == 20
    await clock.advance(0.06)
    assert twilio.frames == 20
    await clock.advance(0.04)
    assert twilio.frames == 25
    assert media_sizes(twilio)[2:] == [5, 5]
    assert (pacer.frames_sent, pacer.media_messages_sent, pacer.sent_ms) == (25, 4, 500)
    await pacer.close()


async def test_by_default_twilio_holds_400_to_600_ms_topped_up_200_ms_at_a_time(clock):
    class Watching(FakeTwilio):
        ahead: list[float] = []

        async def send_media(self, payload: bytes) -> None:
            self.ahead.append(self.audio_ms - clock.now() * 1000)  # what Twilio holds as this one comes
            await super().send_media(payload)

    twilio = Watching()
    pacer = Pacer(twilio, clock=clock)
    pacer.push(audio(4000))
    await settle()
    assert media_sizes(twilio) == [20, 10]  # the 600 ms lead at once, in messages of at most 400 ms
    for _ in range(300):
        await clock.advance(0.009)  # awkward steps: wake-ups land between batches
    assert set(media_sizes(twilio)[2:]) == {10}  # then 200 ms per message
    assert max(twilio.ahead[2:]) <= 400 + 1e-6  # topped up once a whole batch fits: never above the lead
    assert min(twilio.ahead[2:]) >= 400 - 10 - 1e-6  # the stall cushion (less a late wake-up's step)
    sent = len(media_sizes(twilio))
    await clock.stall(0.15)  # the loop was busy: what fits the lead again goes in one message
    assert len(media_sizes(twilio)) == sent + 1 and media_sizes(twilio)[-1] > 10
    await pacer.close()


async def test_in_steady_flow_the_sender_sleeps_once_per_message_a_batch_at_a_time(twilio):
    class CountingClock(ManualClock):
        def __init__(self) -> None:
            super().__init__()
            self.sleeps: list[float] = []

        async def sleep(self, seconds: float) -> None:
            self.sleeps.append(seconds)
            await super().sleep(seconds)

    clock = CountingClock()
    pacer = Pacer(twilio, clock=clock)
    pacer.push(audio(4000))
    await settle()
    clock.sleeps.clear()  # after the opening burst
    sent = len(media_sizes(twilio))
    await clock.advance(2.0)
    messages = len(media_sizes(twilio)) - sent
    assert messages == 10  # 2 s of play-out topped up 200 ms at a time
    # One timer per message: not one for the next frame's room and then one for the rest of the batch.
    assert len(clock.sleeps) == messages
    assert clock.sleeps == pytest.approx([0.2] * messages)
    await pacer.close()


async def test_batch_of_one_frame_paces_frame_by_frame(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock, batch_ms=20, max_message_ms=200)
    pacer.push(audio(2000))
    await settle()
    assert twilio.frames == 15
    await clock.advance(0.1)
    assert twilio.frames == 20
    await clock.advance(0.02)
    assert twilio.frames == 21
    assert media_sizes(twilio)[2:] == [1] * 6
    await pacer.close()


async def test_refuses_batches_that_are_not_whole_frames(twilio):
    with pytest.raises(ValueError):
        Pacer(twilio, batch_ms=30)
    with pytest.raises(ValueError):
        Pacer(twilio, batch_ms=60, max_message_ms=40)


async def test_refuses_a_batch_longer_than_the_lead_and_fits_its_own_to_a_short_lead(clock, twilio):
    with pytest.raises(ValueError, match="more than lead_ms"):
        Pacer(twilio, lead_ms=100, batch_ms=200)  # it would wait for room the lead never has
    with pytest.raises(ValueError, match="less than one frame"):
        Pacer(twilio, lead_ms=10)
    pacer = Pacer(twilio, lead_ms=150, clock=clock)
    pacer.push(audio(600))
    await settle()
    await clock.advance(0.14)
    assert media_sizes(twilio) == [7, 7]  # 140 ms at a time: the whole frames the lead holds
    await pacer.close()


async def test_schedule_does_not_drift(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock, batch_ms=100, max_message_ms=200)
    pacer.push(audio(20_000))
    await settle()
    for _ in range(769):  # 10 s in awkward steps
        await clock.advance(0.013)
    # 15 frames of lead + five per 100 ms of the 9.997 s that passed
    assert twilio.frames == 15 + 5 * int(9.997 / 0.1)
    await pacer.close()


async def test_buffered_audio_never_exceeds_the_lead(clock):
    class Watching(FakeTwilio):
        ahead: list[float] = []

        async def send_media(self, payload: bytes) -> None:
            await super().send_media(payload)
            # What Twilio holds once this message is in: sent minus played (play-out started at 0).
            self.ahead.append(self.audio_ms - clock.now() * 1000)

    twilio = Watching()
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    pacer.push(audio(3000))
    for _ in range(290):
        await clock.advance(0.007)  # awkward steps: wake-ups land between batches
    assert pacer.sent_ms == 2300
    assert max(twilio.ahead) <= 300 + 1e-6
    assert min(twilio.ahead[2:]) >= 300 - 40 - 1e-6  # after the burst it tops up by at most a batch
    await pacer.close()


async def test_a_late_wake_up_catches_up_in_one_message(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock, batch_ms=100, max_message_ms=200)
    pacer.push(audio(2000))
    await settle()
    await clock.stall(0.1)  # the loop was busy for 100 ms: the sender wakes late
    assert media_sizes(twilio) == [10, 5, 5]  # everything that fits the lead again, at once
    assert pacer.heard_ms() == 100
    await pacer.close()


async def test_marks_follow_the_audio_queued_before_them(clock, twilio):
    pacer = Pacer(twilio, clock=clock)
    pacer.push(audio(100))
    assert pacer.push_mark("t1-s1") == 100
    pacer.push(audio(60))
    assert pacer.push_mark("t1-s2") == 160
    await settle()
    assert twilio.kinds() == ["media", "mark", "media", "mark"]
    assert twilio.mark_positions == {"t1-s1": 800, "t1-s2": 1280}
    await pacer.close()


async def test_no_message_spans_a_mark(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock, batch_ms=100, max_message_ms=200)
    pacer.push(audio(420))  # 15 frames go in the burst, then 6 frames: a batch and one frame before the mark
    pacer.push_mark("t1-s1")
    pacer.push(audio(500))
    pacer.push_mark("t1-s2")
    await clock.advance(1.0)
    assert twilio.mark_positions == {"t1-s1": 420 * 8, "t1-s2": 920 * 8}
    sizes = media_sizes(twilio)
    # A batch the mark cuts goes out in two messages in the same wake-up: one frame, the mark, four frames.
    assert twilio.frames == 46 and sizes[2:5] == [5, 1, 4] and max(sizes[2:]) == 5
    # The audio before each mark ends exactly at it: a single frame goes alone rather than cross it.
    assert [kind for kind, _ in twilio.log].count("mark") == 2
    await pacer.close()


async def test_refuses_partial_frames(clock, twilio):
    pacer = Pacer(twilio, clock=clock)
    with pytest.raises(ValueError):
        pacer.push(b"\x00" * (FRAME_BYTES + 1))


async def test_heard_position_follows_play_out_and_echoed_marks(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    pacer.push(audio(1000))
    pacer.push_mark("end")
    await settle()
    assert pacer.heard_ms() == 0
    await clock.advance(0.5)
    assert pacer.heard_ms() == 500
    await clock.advance(0.3)
    assert pacer.heard_ms() == 800
    assert pacer.on_mark("end") is True  # Twilio says all of it played
    assert pacer.heard_ms() == 1000
    await pacer.close()


async def test_a_mark_that_says_the_buffer_ran_dry_sends_what_waits_at_once(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    pacer.push(audio(300))  # the whole sentence fits in the burst
    pacer.push_mark("s1")
    await settle()
    await clock.advance(0.05)
    pacer.push(audio(1000))  # the next sentence: 100 ms fit only once 100 ms of the first have played
    await settle()
    assert twilio.frames == 15
    # Twilio played faster than the estimate: the first sentence is over and its buffer is empty.
    assert pacer.on_mark("s1") is True
    await settle()
    assert twilio.frames == 30  # a whole lead at once, not a batch 100 ms later
    await pacer.close()


async def test_after_a_dry_spell_play_out_restarts_from_now(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    pacer.push(audio(100))
    await clock.advance(2.0)
    pacer.push(audio(1000))
    await settle()
    assert twilio.frames == 5 + 15
    await pacer.close()


async def test_what_played_a_moment_ago_is_read_from_the_play_out_then(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    await clock.advance(1.0)
    pacer.push(audio(500))  # plays from 1.0 s to 1.5 s
    await clock.advance(0.3)
    assert pacer.playing_ms() == 300
    assert pacer.playing_ms(at=1.1) == 100  # a frame captured 200 ms before we handle it
    assert pacer.playing_ms(at=0.9) is None  # before it started: silence
    await clock.advance(0.4)  # 1.7 s: it ran out at 1.5 s
    assert pacer.playing_ms() is None
    assert pacer.playing_ms(at=1.45) == 450
    pacer.push(audio(500))  # plays again from 1.7 s, from position 500
    await settle()
    await clock.advance(0.1)
    assert pacer.playing_ms() == 600
    assert pacer.playing_ms(at=1.6) is None  # the gap between the two
    assert pacer.playing_ms(at=1.45) == 450  # the first play-out, kept
    assert pacer.playing_ms(at=1.75) == 550
    await pacer.close()


async def test_what_plays_is_read_as_of_a_clock_reading_already_taken(clock, twilio):
    """The echo guard reads the clock once for its capture time and the play-out it asks about."""
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    await clock.advance(1.0)
    pacer.push(audio(500))  # plays from 1.0 s to 1.5 s
    await clock.advance(0.3)
    reading = clock.now()
    await clock.advance(0.1)  # the clock moves on; the answer is as of the reading
    assert pacer.playing_ms(now=reading) == 300
    assert pacer.playing_ms(at=reading, now=reading) == 300
    assert pacer.playing_ms(at=1.1, now=reading) == 100
    assert pacer.playing_ms() == 400
    await pacer.close()


async def test_what_played_is_told_with_how_long_it_carries_forward_unchanged(clock, twilio):
    """The echo guard carries the answer forward by media time until the pacer changes: each answer says for how
    many ms of ``at`` it moves on 1 ms a ms (or stays None), and one carried no further than that is what asking
    again gives."""
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    await clock.advance(1.0)
    pacer.push(audio(500))  # plays from 1.0 s to 1.5 s
    await clock.advance(0.7)  # 1.7 s: it ran out at 1.5 s
    pacer.push(audio(500))  # plays again from 1.7 s, from position 500
    await settle()
    await clock.advance(0.1)  # 1.8 s
    assert pacer.playing_span(at=0.9) == (None, pytest.approx(100))  # until the first play-out starts
    assert pacer.playing_span(at=1.1) == (100, pytest.approx(400))  # until it ends, at 500
    assert pacer.playing_span(at=1.6) == (None, pytest.approx(100))  # the gap: until the second starts
    assert pacer.sent_ms == 800  # 300 ms ahead of the play-out
    assert pacer.playing_span(at=1.75) == (550, 250)  # the one under way: until all sent has played
    assert pacer.playing_span() == (600, 200)
    assert pacer.playing_span(at=2.5) == (600, 200)  # an ``at`` not before now is now
    changes = pacer.changes
    for at_ms in range(800, 1800, 7):  # every answer, carried within its span, is the answer asked again
        position, span = pacer.playing_span(at=at_ms / 1000)
        last = 1800 - at_ms - 1 if span == math.inf else math.ceil(span) - 1
        for ahead in (0, 1, 13, last):
            if 0 <= ahead < span and at_ms + ahead < 1800:
                again = pacer.playing_ms(at=(at_ms + ahead) / 1000)
                assert again == (None if position is None else position + ahead), (at_ms, ahead)
        if span < 1800 - at_ms - 1:  # where the span ends, the answer is no longer the one carried
            carried = None if position is None else position + round(span)
            assert pacer.playing_ms(at=(at_ms + round(span) + 1) / 1000) != carried, at_ms
    assert pacer.changes == changes  # asking changes nothing
    await pacer.close()


async def test_an_answer_floored_by_a_mark_is_not_carried_and_one_before_all_kept_carries_to_the_first(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    await clock.advance(1.05)
    pacer.push(audio(200))
    pacer.push_mark("a")
    pacer.push(audio(1000))
    await settle()
    await clock.advance(0.01)
    assert pacer.on_mark("a")  # Twilio says 200 ms played, where the estimate says 10
    assert pacer.playing_span() == (200, 0)  # it stands at the mark until the estimate passes it: not carried
    assert pacer.playing_span(at=0.95) == (None, 100)  # before anything it keeps: until the first play-out starts
    await pacer.close()


async def test_the_pacer_counts_each_change_to_what_played_other_than_the_clock_moving_on(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock, batch_ms=100)
    assert pacer.changes == 0
    pacer.push(audio(1000))
    await settle()
    after_burst = pacer.changes
    assert after_burst >= 1  # audio sent (and its play-out started)
    await clock.advance(0.05)
    assert pacer.changes == after_burst  # the clock alone changes nothing
    await clock.advance(0.1)
    assert pacer.changes > after_burst  # another batch sent
    marked = pacer.changes
    name = pacer.push_mark("end")
    await clock.advance(1.0)
    settled = pacer.changes
    assert name == 1000 and settled > marked  # the rest of the audio went out meanwhile
    assert pacer.on_mark("end")
    assert pacer.changes > settled  # a mark: a floor under the estimate, and how late Twilio plays
    assert not pacer.on_mark("unknown")
    assert pacer.changes == settled + 1  # a mark it never sent changes nothing
    await pacer.close()


async def test_what_played_before_a_pause_is_what_played_not_what_will_be_sent_again(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock, resume_overlap_ms=100)
    pacer.push(audio(2000))
    await clock.advance(0.6)
    assert await pacer.pause() == 500  # sends again from 100 ms before the estimate
    await clock.advance(0.2)  # 0.8 s: paused
    assert pacer.playing_ms() is None
    assert pacer.playing_ms(at=0.55) == 550  # it had played that far when the pause came
    assert pacer.playing_ms(at=0.7) is None
    pacer.resume()
    await settle()
    await clock.advance(0.1)
    assert pacer.playing_ms() == 600  # 500 again, 100 ms in
    assert pacer.playing_ms(at=0.55) == 550
    await pacer.close()


async def test_what_played_is_told_ten_seconds_back_and_no_further(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    pacer.push(audio(200))  # 0 to 0.2 s
    await clock.advance(1.0)
    pacer.push(audio(200))  # 1.0 to 1.2 s: the first play-out is kept
    await settle()
    assert pacer.playing_ms(at=0.1) == 100
    await clock.advance(10.0)
    pacer.push(audio(200))  # 11.0 s: the first (over at 0.2 s) is forgotten, the second kept
    await settle()
    assert pacer.playing_ms(at=0.1) is None
    assert pacer.playing_ms(at=1.1) == 300
    await pacer.close()


# -- how late Twilio plays our audio, by its marks --------------------------------------------------------
async def test_a_mark_back_later_than_its_audio_ended_by_the_estimate_says_how_late_twilio_plays(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock, measure_late=True)
    twilio.handler = None
    assert (pacer.played_late.measured, pacer.played_late.seconds) == (False, 0.0)
    await clock.advance(1.0)
    pacer.push(audio(200))  # ends at 1.2 s by the estimate
    pacer.push_mark("t1-s1")
    await clock.advance(0.5)
    assert pacer.on_mark("t1-s1", at=1.5) is True  # sent by Twilio at 1.5 s, whenever we handle it
    assert pacer.played_late.seconds == pytest.approx(0.3)
    pacer.push(audio(200))  # a new play-out from 1.5 s: ends at 1.7 s
    pacer.push_mark("t1-s2")
    await clock.advance(1.0)
    assert pacer.on_mark("t1-s2") is True  # handled as it came: at 2.5 s, 0.8 s late
    assert pacer.played_late.seconds == pytest.approx(0.55)  # the median of the two
    await pacer.close()


async def played_late(pacer: Pacer, clock: ManualClock, twilio: FakeTwilio, ms: int, late_s: float) -> None:
    """``ms`` of a reply from clock time 0; Twilio echoes the probe after its first frame ``late_s`` after the
    estimate said that frame ended (at 0.02 s)."""
    twilio.handler = None
    pacer.push(audio(ms))
    await settle()
    assert twilio.marks[:1] == ["~1"]
    await clock.advance(0.02 + late_s)
    assert pacer.on_mark("~1", at=0.02 + late_s) is True
    assert pacer.played_late.seconds == pytest.approx(late_s)


async def test_what_the_caller_heard_is_behind_the_estimate_by_how_late_twilio_plays(clock, twilio):
    """Paused 700 ms into a reply that Twilio plays 300 ms late, the caller has heard 400 ms of it: the pause
    sends again from there (less the usual 100 ms), not from 600 ms, which would lose 200 ms of our words."""
    pacer = Pacer(twilio, lead_ms=300, clock=clock, measure_late=True)
    await played_late(pacer, clock, twilio, 2000, 0.3)
    await clock.advance(0.38)
    assert pacer.heard_ms() == 400
    assert await pacer.pause() == 300
    await pacer.close()


async def test_paused_then_cleared_the_caller_heard_what_the_pause_said(clock, twilio):
    """The usual talk-over: a pause, then the barge-in's clear. Both count Twilio's delay once."""
    pacer = Pacer(twilio, lead_ms=600, clock=clock, measure_late=True)
    await played_late(pacer, clock, twilio, 3000, 0.28)
    await clock.advance(1.0)  # 1.3 s: 1,300 ms sent-and-played by the estimate, 1,020 heard
    assert pacer.heard_ms() == 1020
    paused = await pacer.pause()
    assert paused == 920  # 100 ms before what was heard, as ever
    await clock.advance(0.5)
    assert await pacer.clear() == paused
    await pacer.close()


async def test_long_after_the_last_audio_played_all_of_it_was_heard(clock, twilio):
    pacer = Pacer(twilio, lead_ms=600, clock=clock, measure_late=True)
    await played_late(pacer, clock, twilio, 400, 0.28)  # no mark after it: a sentence whose synthesis stalled
    await clock.advance(5.0)
    assert pacer.heard_ms() == 400
    assert await pacer.pause() == 300  # 100 ms before the end, as ever, not 380 ms of what was heard
    await pacer.close()


async def test_a_harness_whose_marks_come_on_its_own_clock_measures_nothing(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    twilio.handler = None
    pacer.push(audio(200))
    pacer.push_mark("t1-s1")
    await settle()
    assert twilio.marks == ["t1-s1"]  # no probe
    await clock.advance(1.0)
    assert pacer.on_mark("t1-s1") is True
    assert not pacer.played_late.measured and pacer.heard_ms() == 200
    await pacer.close()


async def test_a_mark_flushed_by_a_clear_says_nothing_of_when_twilio_plays(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock, measure_late=True)
    twilio.handler = None
    pacer.push(audio(100))
    pacer.push_mark("t1-s1")  # at 100 ms, ends at 0.1 s by the estimate
    pacer.push(audio(1000))
    await clock.advance(0.3)
    assert await pacer.pause() == 200
    # Twilio echoes the marks its clear flushed: t1-s1 counts as heard (the estimate says it was) but its
    # echo came because of the clear, not when it played.
    assert pacer.on_mark("t1-s1", at=0.3) is True
    assert not pacer.played_late.measured
    pacer.resume()
    pacer.push_mark("t1-s3")
    await clock.advance(2.0)
    assert pacer.on_mark("t1-s3", at=2.0) is True  # sent after the clear: it played
    assert pacer.played_late.measured
    await pacer.close()


async def test_a_probe_mark_measures_from_a_play_outs_first_frame_until_a_mark_has(clock, twilio):
    pacer = Pacer(twilio, lead_ms=600, clock=clock, measure_late=True)
    twilio.handler = None
    pacer.push(audio(2000))
    await settle()
    # The first frame goes alone, then the pacer's own mark, then the rest of the opening burst, which still
    # ends on a whole batch (a short last message would be followed by a wait longer than its audio).
    kinds = [(kind, len(value) // FRAME_BYTES if kind == "media" else value) for kind, value in twilio.log]
    assert kinds == [("media", 1), ("mark", "~1"), ("media", 19), ("media", 10)]  # the lead: 600 ms
    await clock.advance(0.3)  # Twilio played the frame 280 ms after the estimate said it ended
    assert pacer.on_mark("~1", at=0.3) is True
    assert pacer.played_late.seconds == pytest.approx(0.28)
    assert pacer.echoed_ms == 20
    await clock.advance(3.0)
    pacer.push(audio(1000))  # a new play-out: measured already, so no probe
    await settle()
    assert [value for kind, value in twilio.log if kind == "mark"] == ["~1"]
    await pacer.close()


async def test_until_a_probe_comes_back_each_play_out_sends_one(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock, measure_late=True)
    twilio.handler = None
    pacer.push(audio(200))
    await clock.advance(1.0)  # the probe was lost
    pacer.push(audio(200))
    await settle()
    assert [value for kind, value in twilio.log if kind == "mark"] == ["~1", "~2"]
    await pacer.close()


async def test_a_probe_mark_ends_no_sentence(clock, twilio):
    """Twilio's buffer running dry right after a probe is still a gap inside a sentence."""
    pacer = Pacer(twilio, lead_ms=300, clock=clock, measure_late=True)
    twilio.handler = None
    pacer.push(audio(20))  # the probe follows this frame
    await settle()
    underruns = "agentlocator_outbound_underruns_total"
    before = REGISTRY.get_sample_value(underruns) or 0.0
    await clock.advance(0.5)
    pacer.push(audio(200))
    await settle()
    assert REGISTRY.get_sample_value(underruns) == before + 1
    await pacer.close()


async def test_clear_stops_sending_tells_twilio_and_reports_what_was_heard(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    twilio.handler = None
    pacer.push(audio(600))
    pacer.push_mark("t1-s1")
    pacer.push(audio(2000))
    pacer.push_mark("t1-s2")
    await clock.advance(0.7)
    heard = await pacer.clear()
    assert heard == 700
    assert twilio.log[-1] == ("clear", None)
    sent = twilio.frames
    await clock.advance(2.0)
    assert twilio.frames == sent  # nothing after the clear
    assert pacer.on_mark("t1-s2") is False  # echoed by the clear: flushed, not heard
    # The next utterance starts right away.
    pacer.push(audio(100))
    await settle()
    assert twilio.frames == sent + 5
    assert pacer.frames_sent == twilio.frames
    await pacer.close()


async def test_clear_waits_for_a_batch_already_being_sent(clock):
    twilio = HeldTwilio(hold_media_after=15)  # past the burst: the next batch is held mid-send
    pacer = Pacer(twilio, lead_ms=300, clock=clock, batch_ms=100, max_message_ms=200)
    pacer.push(audio(1000))
    await clock.advance(0.1)  # the first batch after the burst is now being sent
    clearing = asyncio.ensure_future(pacer.clear())
    await settle()
    assert not clearing.done()  # behind the batch in flight, never cutting it
    twilio.gate.set()
    await settle()
    assert clearing.done()
    assert [kind for kind, _ in twilio.log][-2:] == ["media", "clear"]
    assert twilio.frames == 20 and pacer.sent_ms == 400 and pacer.pushed_ms == 400
    await clock.advance(1.0)
    assert twilio.frames == 20
    await pacer.close()


async def test_a_pause_right_after_a_clear_keeps_positions(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    pacer.push(audio(300))
    await settle()
    await pacer.clear()
    assert await pacer.pause() == 300  # nothing left to send again: it resumes from where the clear left it
    pacer.resume()
    pacer.push(audio(100))
    assert pacer.push_mark("m") == 400
    await settle()
    assert pacer.sent_ms == 400 and twilio.mark_positions["m"] == 400 * 8
    await pacer.close()


async def test_a_clear_while_a_pause_awaits_its_own_clear_waits_for_it(clock):
    twilio = HeldTwilio(hold_clears=True)
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    pacer.push(audio(1000))
    await clock.advance(0.2)
    pausing = asyncio.ensure_future(pacer.pause())
    await settle()
    clearing = asyncio.ensure_future(pacer.clear())
    await settle()
    assert not pausing.done() and not clearing.done()
    twilio.gate.set()
    await settle()
    assert pausing.done() and clearing.done()
    # Nothing is left to send and the positions still match what Twilio was sent.
    assert pacer.pushed_ms == pacer.sent_ms
    pacer.resume()
    pacer.push(audio(100))
    position = pacer.push_mark("m")
    await settle()
    assert "m" in twilio.marks and pacer.sent_ms == position == pacer.pushed_ms
    await pacer.close()


async def test_wait_played_returns_when_the_last_mark_is_echoed(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    pacer.push(audio(200))
    pacer.push_mark("done")
    waiter = asyncio.ensure_future(pacer.wait_played())
    await settle()
    assert not waiter.done()
    pacer.on_mark("done")
    await settle()
    assert waiter.done() and waiter.result() is True  # at once: no clock time passed
    await pacer.close()


async def test_wait_played_sleeps_until_something_changes_not_on_a_poll(twilio):
    class CountingClock(ManualClock):
        sleeps = 0

        async def sleep(self, seconds: float) -> None:
            self.sleeps += 1
            await super().sleep(seconds)

    clock = CountingClock()
    pacer = Pacer(twilio, lead_ms=300, clock=clock, play_grace_ms=1000)
    pacer.push(audio(200))
    pacer.push_mark("lost")
    waiter = asyncio.ensure_future(pacer.wait_played())
    await clock.advance(1.0)
    assert not waiter.done()
    assert clock.sleeps == 1  # one wait for the estimate's deadline, not one every 20 ms
    await clock.advance(0.3)
    assert waiter.done() and waiter.result() is True
    await pacer.close()


async def test_wait_played_says_false_when_a_clear_cuts_the_audio(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    pacer.push(audio(1000))
    pacer.push_mark("end")
    waiter = asyncio.ensure_future(pacer.wait_played())
    await clock.advance(0.2)
    await pacer.clear()
    await settle()
    assert waiter.done() and waiter.result() is False
    await pacer.close()


async def test_wait_played_gives_up_on_marks_after_a_grace_period(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock, play_grace_ms=500)
    pacer.push(audio(200))
    pacer.push_mark("lost")
    waiter = asyncio.ensure_future(pacer.wait_played())
    await clock.advance(0.6)
    assert not waiter.done()
    await clock.advance(0.2)
    assert waiter.done() and waiter.result() is True
    await pacer.close()


async def test_wait_sent(clock, twilio):
    pacer = Pacer(twilio, lead_ms=100, clock=clock, batch_ms=100, max_message_ms=200)
    pacer.push(audio(500))
    waiter = asyncio.ensure_future(pacer.wait_sent(200))
    await settle()
    assert not waiter.done()
    await clock.advance(0.12)
    assert waiter.done()
    await pacer.close()


async def test_one_sender_task_per_call(clock, twilio):
    pacer = Pacer(twilio, clock=clock)
    before = len(asyncio.all_tasks())
    for _ in range(20):
        pacer.push(audio(200))
        pacer.push_mark("m")
    await clock.advance(1.0)
    assert len(asyncio.all_tasks()) == before + 1
    await pacer.close()
    assert len(asyncio.all_tasks()) == before


async def test_real_clock_paces_in_real_time_scaled():
    twilio = FakeTwilio()
    pacer = Pacer(twilio, lead_ms=300, clock=LoopClock(speed=10))
    loop = asyncio.get_running_loop()
    start = loop.time()
    pacer.push(audio(1300))
    pacer.push_mark("end")
    await asyncio.wait_for(pacer.wait_sent(1300), 2)
    elapsed = loop.time() - start
    assert twilio.frames == 65
    assert 0.09 <= elapsed < 0.5  # (1300 - 300) ms / 10
    await pacer.close()


def numbered_audio(ms: int) -> bytes:
    """Frames whose every byte is the frame's number (mod 256): which frame is which stays visible."""
    return b"".join(bytes([n % 256]) * FRAME_BYTES for n in range(ms // 20))


def sent_frames(twilio: FakeTwilio) -> list[int]:
    """The number of every frame sent, in order (see ``numbered_audio``)."""
    out: list[int] = []
    for kind, payload in twilio.log:
        if kind == "media":
            out.extend(payload[i] for i in range(0, len(payload), FRAME_BYTES))
    return out


async def test_pause_clears_twilio_and_resume_sends_the_unheard_audio_again(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    twilio.handler = None
    pacer.push(numbered_audio(2000))
    await clock.advance(0.5)  # 500 ms heard by the estimate, 300 ms more in Twilio's buffer
    heard = await pacer.pause()
    assert heard == 400  # 100 ms are sent again: Twilio plays a network latency behind the estimate
    assert pacer.paused and pacer.held_ms() == 2000 - 500  # new to the caller, even by the estimate
    assert twilio.log[-1] == ("clear", None)
    assert pacer.playing_ms() is None  # the caller hears nothing of ours while we pause
    sent = sent_frames(twilio)
    await clock.advance(2.0)
    assert sent_frames(twilio) == sent  # nothing goes out while paused
    pacer.resume()
    await clock.advance(0.5)
    resent = sent_frames(twilio)[len(sent) :]
    assert resent[:30] == list(range(20, 50))  # from the first frame not surely heard, nothing skipped
    assert pacer.pushed_ms == 2000  # positions are the audio's own: nothing counted twice
    await clock.advance(3.0)
    assert sorted(set(sent_frames(twilio))) == list(range(100))
    await pacer.close()


async def test_marks_flushed_by_a_pause_are_sent_again_under_new_names(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    twilio.handler = None
    pacer.push(audio(100))
    pacer.push_mark("t1-s1")  # at 100: heard before the pause
    pacer.push(audio(200))
    pacer.push_mark("t1-s2")  # at 300: sent, not heard
    pacer.push(audio(1000))
    await clock.advance(0.3)
    assert await pacer.pause() == 200
    assert pacer.on_mark("t1-s1") is True  # heard before the pause: its echo still counts
    assert pacer.on_mark("t1-s2") is False  # Twilio's echo of the flushed mark: not heard
    assert pacer.heard_ms() == 200
    pacer.resume()
    await clock.advance(0.1)
    names = [name for kind, name in twilio.log if kind == "mark"]
    assert names[-1].startswith("t1-s2.")
    assert pacer.on_mark(names[-1]) is True
    assert pacer.heard_ms() >= 300
    await pacer.close()


async def test_clear_after_a_pause_drops_everything_without_a_second_clear(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    twilio.handler = None
    pacer.push(audio(2000))
    await clock.advance(0.5)
    assert await pacer.pause() == 400
    assert await pacer.clear() == 400
    assert [kind for kind, _ in twilio.log].count("clear") == 1
    assert not pacer.paused
    assert pacer.pushed_ms == 400  # the unheard audio is gone
    sent = twilio.frames
    pacer.push(audio(100))
    await settle()
    assert twilio.frames == sent + 5  # the next utterance goes out at once
    await pacer.close()


async def test_pause_twice_and_resume_when_not_paused_change_nothing(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    pacer.push(audio(1000))
    await clock.advance(0.3)
    pacer.resume()  # not paused: nothing happens
    assert await pacer.pause() == 200
    assert await pacer.pause() == 200
    assert [kind for kind, _ in twilio.log].count("clear") == 1
    await pacer.close()


async def test_a_pause_sends_again_no_earlier_than_what_a_mark_says_was_heard(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    twilio.handler = None
    pacer.push(audio(460))
    pacer.push_mark("t1-s1")
    pacer.push(audio(1000))
    await clock.advance(0.5)
    assert pacer.on_mark("t1-s1") is True  # Twilio: the first 460 ms played
    assert await pacer.pause() == 460  # not 400: the mark is the caller's ear
    await pacer.close()


async def test_a_resume_while_the_pause_awaits_its_clear_waits_for_the_pause(clock):
    twilio = HeldTwilio(hold_clears=True)
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    twilio.handler = None
    pacer.push(numbered_audio(2000))
    await clock.advance(0.5)
    pausing = asyncio.ensure_future(pacer.pause())
    await settle()
    sent = sent_frames(twilio)
    pacer.resume()  # the words check answered before Twilio took the clear
    await clock.advance(0.2)
    assert sent_frames(twilio) == sent  # nothing goes out before the clear it would land behind
    twilio.gate.set()
    await settle()
    assert await pausing == 400
    assert not pacer.paused  # the resume was not lost: it applies once the pause is done
    await clock.advance(0.1)
    resent = sent_frames(twilio)[len(sent) :]
    assert resent[:10] == list(range(20, 30))  # from the first frame not surely heard, as after any pause
    await clock.advance(3.0)
    assert sorted(set(sent_frames(twilio))) == list(range(100)) and pacer.sent_ms == 2000
    await pacer.close()


async def test_wait_played_says_false_when_the_pacer_closes_with_audio_unsent(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    pacer.push(audio(2000))
    pacer.push_mark("end")
    waiter = asyncio.ensure_future(pacer.wait_played())
    await clock.advance(0.2)
    await pacer.close()
    await settle()
    assert waiter.done() and waiter.result() is False


async def test_wait_played_after_close_does_not_wait(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    pacer.push(audio(2000))
    await pacer.close()
    assert await asyncio.wait_for(pacer.wait_played(), 1.0) is False


async def test_a_pause_cancelled_while_a_resume_waits_leaves_no_resume_for_the_next_pause(clock):
    twilio = HeldTwilio(hold_clears=True)
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    pacer.push(audio(2000))
    await clock.advance(0.5)
    pausing = asyncio.ensure_future(pacer.pause())
    await settle()
    pacer.resume()
    pausing.cancel()  # the call's task ended mid-pause
    await settle()
    pacer.resume()
    twilio.gate.set()
    await pacer.pause()
    assert pacer.paused  # the next pause stays a pause: the agent does not talk over the caller
    await pacer.close()


async def test_a_mark_echoed_while_the_pause_awaits_its_clear_is_not_sent_again(clock):
    twilio = HeldTwilio(hold_clears=True)
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    twilio.handler = None
    pacer.push(numbered_audio(400))
    pacer.push_mark("s1")  # at 400
    pacer.push(numbered_audio(1000))
    await clock.advance(0.2)  # heard by the estimate: 200; sent: 500
    pausing = asyncio.ensure_future(pacer.pause())
    await settle()
    assert pacer.on_mark("s1") is True  # Twilio had played up to the mark before it took the clear
    twilio.gate.set()
    assert await pausing == 400
    sent = sent_frames(twilio)
    pacer.resume()
    await clock.advance(0.1)
    assert sent_frames(twilio)[len(sent)] == 0  # the second piece's first frame, not the first's again
    assert pacer.sent_ms <= pacer.pushed_ms == 1400
    await pacer.close()


async def test_audio_pushed_while_a_clear_awaits_twilio_keeps_within_the_lead(clock):
    class Watching(HeldTwilio):
        most = 0.0  # the most audio Twilio held at once, by its own play-out (s)

        def __init__(self) -> None:
            super().__init__(hold_clears=True)
            self.play_end = 0.0

        async def send_clear(self) -> None:
            await super().send_clear()
            self.play_end = clock.now()

        async def send_media(self, payload: bytes) -> None:
            await super().send_media(payload)
            self.play_end = max(self.play_end, clock.now()) + len(payload) // FRAME_BYTES * 0.02
            self.most = max(self.most, self.play_end - clock.now())

    twilio = Watching()
    pacer = Pacer(twilio, lead_ms=200, clock=clock)
    pacer.push(audio(20))
    await settle()
    clearing = asyncio.ensure_future(pacer.clear())
    await settle()
    pacer.push(audio(340))  # the next reply starts before Twilio took the clear
    await settle()
    twilio.gate.set()
    await clearing
    await clock.advance(0.05)
    assert twilio.most <= 0.2 + 1e-9  # what went out after the clear counted from it: never past the lead
    await pacer.close()


async def test_wait_sent_after_close_does_not_wait(clock, twilio):
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    pacer.push(audio(2000))
    await pacer.close()
    await asyncio.wait_for(pacer.wait_sent(2000), 1.0)


async def test_a_resume_while_the_pause_waits_its_turn_applies_after_it(clock):
    twilio = HeldTwilio(hold_clears=True)
    pacer = Pacer(twilio, lead_ms=300, clock=clock)
    pacer.push(audio(1000))
    await clock.advance(0.2)
    clearing = asyncio.ensure_future(pacer.clear())
    await settle()
    pacer.push(audio(2000))  # the next reply
    pausing = asyncio.ensure_future(pacer.pause())  # the caller talks over it: behind the clear
    await settle()
    pacer.resume()  # and it was nothing: the pause that has not run yet is undone once it has
    twilio.gate.set()
    await asyncio.gather(clearing, pausing)
    assert not pacer.paused
    await clock.advance(0.5)
    assert pacer.sent_ms > 0 and pacer.sent_ms <= pacer.pushed_ms
    await pacer.close()


def test_the_loop_clock_reads_the_loop_it_runs_on_even_when_carried_to_another():
    """It keeps the loop it read from; carried to a later loop (the first one closed), it reads that loop's
    time."""
    uvloop = pytest.importorskip("uvloop")  # not on Windows (requirements.txt)
    clock = LoopClock(speed=2)

    async def reading() -> tuple[float, float]:
        return clock.now(), asyncio.get_running_loop().time() * 2

    for _ in range(2):
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # production's loop
            now, loop_now = runner.run(reading())
        assert now == pytest.approx(loop_now, abs=0.01)
        time.sleep(0.05)
