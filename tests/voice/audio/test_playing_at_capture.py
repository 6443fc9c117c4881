"""Which of our audio was playing as the caller's latest frame was captured, asked of the pacer only when the
answer carried forward by media time may no longer hold."""

import pytest

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

    def __init__(self, *, ask_every_ms: int = 200) -> None:
        self.clock, self.media = ManualClock(), MediaClock()
        self.pacer = Pacer(FakeTwilio(), lead_ms=300, clock=self.clock)
        self.playing = PlayingAtCapture(
            self.pacer, Lateness(self.media, self.clock), self.media, self.clock, ask_every_ms=ask_every_ms
        )
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
    line = Line(ask_every_ms=60_000)
    assert {carried for carried, _ in await line.on_time(20)} == {None}
    asked = line.playing.asked
    line.pacer.push(audio(500))
    await settle()
    (carried, in_full), *_ = await line.on_time(3)
    assert carried == in_full == 20  # 20 ms into the play-out that started as the frame came
    assert line.playing.asked == asked + 1


async def test_a_silence_between_two_play_outs_is_carried_only_until_the_next_one_started():
    """A frame handled late asks about a moment before a play-out that has since started: None until then."""
    line = Line(ask_every_ms=60_000)
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


async def test_a_capture_time_that_moves_earlier_is_followed_within_the_time_between_questions():
    line = Line(ask_every_ms=200)
    line.pacer.push(audio(3000))
    await settle()
    await line.clock.advance(0.2)  # the call's first frames are handled 200 ms after they were captured
    await line.on_time(20)
    answers = []
    for _ in range(10):  # then the loop catches up: each of ten frames handled at once was captured 20 ms later
        line.media.advance(FRAME)
        answers.append((line.playing(), line.in_full()))
    answers += await line.on_time(20)
    late = [i for i, (carried, in_full) in enumerate(answers) if carried != in_full]
    assert late  # a carried answer does not see the frames that were handled sooner
    assert max(late) < 10  # the next question, within 200 ms of media time, does
    assert all(carried == in_full for carried, in_full in answers[10:])


async def test_asked_on_every_frame_when_nothing_may_be_carried():
    line = Line(ask_every_ms=0)
    line.pacer.push(audio(1000))
    await settle()
    answers = await line.on_time(20)
    assert [carried for carried, _ in answers] == [in_full for _, in_full in answers]
    assert line.playing.asked == 20


def test_a_negative_time_between_questions_is_refused():
    clock, media = ManualClock(), MediaClock()
    pacer = Pacer(FakeTwilio(), clock=clock)
    with pytest.raises(ValueError, match="ask_every_ms"):
        PlayingAtCapture(pacer, Lateness(media, clock), media, clock, ask_every_ms=-1)
