"""Which of our audio was playing as the caller's latest frame was captured, asked of the pacer only when the
answer carried forward by media time may no longer hold: on every frame, what asking in full gives."""

import random

from tests.support.agent_doubles import FakeTwilio, ManualClock, settle
from voice.audio.clock import MediaClock
from voice.audio.lateness import Lateness
from voice.audio.pacer import Pacer
from voice.audio.playing_at_capture import PlayingAtCapture

FRAME = b"\xff" * 160


def audio(ms: int) -> bytes:
    return b"\x55" * (ms * 8)


class Line:
    """A call's clocks and pacer, the question carried forward, and the same question asked in full on every frame."""

    def __init__(self) -> None:
        self.clock, self.media = ManualClock(), MediaClock()
        self.pacer = Pacer(FakeTwilio(), lead_ms=300, clock=self.clock)
        self.playing = PlayingAtCapture(self.pacer, Lateness(self.media, self.clock), self.media, self.clock)
        self._asked_in_full = Lateness(self.media, self.clock)

    def in_full(self) -> int | None:
        now = self.clock.now()
        at = self._asked_in_full.captured_at(now) - self.pacer.played_late.seconds
        return self.pacer.playing_ms(at=at, now=now)

    async def on_time(self, frames: int) -> list[tuple[int | None, int | None]]:
        """Frames handled as they are captured: (carried, asked in full) for each."""
        answers = []
        for _ in range(frames):
            await self.clock.advance(0.02)
            self.media.advance(FRAME)
            answers.append((self.playing(), self.in_full()))
        return answers

    async def burst(self, frames: int) -> list[tuple[int | None, int | None]]:
        """The loop is busy for ``frames`` frames' time, then handles them all at once."""
        await self.clock.advance(0.02 * frames)
        answers = []
        for _ in range(frames):
            self.media.advance(FRAME)
            answers.append((self.playing(), self.in_full()))
        return answers


async def test_the_answer_carried_forward_is_the_answer_asked_in_full_on_every_frame():
    line = Line()
    answers = await line.on_time(25)  # silence: the line's own delay is known
    line.pacer.push(audio(1500))
    await settle()
    answers += await line.on_time(30)
    answers += await line.burst(15)  # handled 300 ms late, at once
    answers += await line.on_time(60)  # the play-out runs out; silence; the tail of the burst's lateness
    line.pacer.push(audio(400))  # a new play-out, after a gap
    await settle()
    answers += await line.burst(10)
    answers += await line.on_time(40)
    assert [carried for carried, _ in answers] == [in_full for _, in_full in answers]
    assert {in_full is None for _, in_full in answers} == {True, False}  # both silence and our audio were asked
    assert line.playing.asked < len(answers) / 3  # and most answers were carried
    await line.pacer.close()


async def test_audio_sent_is_seen_on_the_next_frame_however_long_the_carry():
    line = Line()
    assert {carried for carried, _ in await line.on_time(20)} == {None}
    asked = line.playing.asked
    line.pacer.push(audio(500))
    await settle()
    (carried, in_full), *_ = await line.on_time(3)
    assert carried == in_full == 20  # 20 ms into the play-out that started as the frame came
    assert line.playing.asked == asked + 1


async def test_a_silence_between_two_play_outs_is_carried_only_until_the_next_one_started():
    """A frame handled late asks about a moment before a play-out that has since started: None until then."""
    line = Line()
    await line.on_time(10)
    line.pacer.push(audio(200))  # plays for 200 ms
    await settle()
    await line.on_time(20)  # and has run out
    await line.clock.advance(0.1)  # the loop is busy: five frames wait
    line.pacer.push(audio(400))  # a new play-out starts now
    await settle()
    await line.clock.advance(0.1)  # five more wait
    answers = []
    for _ in range(10):  # then all ten are handled at once
        line.media.advance(FRAME)
        answers.append((line.playing(), line.in_full()))
    assert [carried for carried, _ in answers] == [in_full for _, in_full in answers]
    assert [carried is None for carried, _ in answers] == [True] * 5 + [False] * 5


async def test_a_frame_handled_sooner_after_its_capture_than_any_before_is_asked_about_in_full():
    """It lowers the line's delay, and so every capture time from then on: a carried answer would run ahead."""
    line = Line()
    line.pacer.push(audio(3000))
    await settle()
    await line.clock.advance(0.2)  # the call's first frames are handled 200 ms after they were captured
    answers = await line.on_time(20)
    asked = line.playing.asked
    for _ in range(10):  # then the loop catches up: each of ten frames handled at once was captured 20 ms later
        line.media.advance(FRAME)
        answers.append((line.playing(), line.in_full()))
    assert line.playing.asked == asked + 10  # each lowered the line's delay
    answers += await line.on_time(20)
    assert [carried for carried, _ in answers] == [in_full for _, in_full in answers]
    await line.pacer.close()


async def test_bursts_of_any_length_from_the_call_s_start_give_the_answers_asked_in_full():
    rng = random.Random(7)
    line = Line()
    line.pacer.push(audio(8000))
    await settle()
    answers = []
    for _ in range(60):  # the loop falls behind by 1 to 15 frames, then handles them at once
        answers += await line.burst(rng.randint(1, 15))
    assert [carried for carried, _ in answers] == [in_full for _, in_full in answers]
    assert line.playing.asked < len(answers) / 2
    await line.pacer.close()


async def test_a_pause_a_resume_and_a_clear_are_seen_on_the_next_frame():
    line = Line()
    answers = await line.on_time(5)
    line.pacer.push(audio(3000))
    await settle()
    answers += await line.on_time(20)
    await line.pacer.pause()
    answers += await line.on_time(5)
    line.pacer.resume()
    await settle()
    answers += await line.on_time(5)
    await line.pacer.clear()
    answers += await line.on_time(5)
    assert [carried for carried, _ in answers] == [in_full for _, in_full in answers]
    await line.pacer.close()
