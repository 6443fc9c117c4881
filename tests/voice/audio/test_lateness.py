"""How late the caller's audio is handled: frames come 20 ms apart as Twilio captures them, and a busy
loop handles them later, in bursts."""

from tests.support.agent_doubles import ManualClock
from voice.audio.clock import MediaClock
from voice.audio.lateness import Lateness

FRAME = b"\xff" * 160


async def on_time(clock: ManualClock, media: MediaClock, lateness: Lateness, frames: int) -> None:
    for _ in range(frames):
        await clock.advance(0.02)
        media.advance(FRAME)
        assert abs(lateness.captured_at() - clock.now()) < 1e-9


async def test_frames_handled_as_they_come_were_captured_as_they_were_handled():
    clock, media = ManualClock(), MediaClock()
    lateness = Lateness(media, clock)
    await clock.advance(5.0)  # the stream starts five seconds into the clock
    await on_time(clock, media, lateness, 100)


async def test_a_burst_after_a_stall_was_captured_before_the_stall():
    clock, media = ManualClock(), MediaClock()
    lateness = Lateness(media, clock)
    await on_time(clock, media, lateness, 50)  # a second handled on time: the line's own delay is known
    await clock.advance(0.3)  # the loop is busy for 300 ms: 15 frames wait in the socket
    captured = []
    for _ in range(15):  # then handled all at once
        media.advance(FRAME)
        captured.append(round(lateness.captured_at(), 3))
    assert captured == [round(1.02 + 0.02 * i, 3) for i in range(15)]
    await on_time(clock, media, lateness, 5)  # caught up: handled as captured again


async def test_the_least_delay_is_the_lines_so_a_late_start_does_not_count_as_lateness_later():
    clock, media = ManualClock(), MediaClock()
    lateness = Lateness(media, clock)
    await clock.advance(1.0)
    media.advance(FRAME)  # the first frame was handled late (the call's set-up)
    lateness.captured_at()
    for _ in range(10):  # then a burst brings the loop level with the line
        media.advance(FRAME)
        lateness.captured_at()
    assert round(lateness.captured_at(), 3) == 1.0  # the latest frame: handled as captured
    await clock.advance(0.5)  # and now it falls behind
    media.advance(FRAME)
    assert round(lateness.captured_at(), 3) == round(clock.now() - 0.48, 3)


async def test_the_capture_time_can_be_asked_as_of_a_clock_reading_already_taken():
    clock, media = ManualClock(), MediaClock()
    lateness = Lateness(media, clock)
    await clock.advance(0.1)
    await on_time(clock, media, lateness, 50)  # handled 100 ms after the clock's start: the line's delay so far
    media.advance(FRAME)
    media.advance(FRAME)  # two frames at once: the second came 40 ms sooner than the line's delay said
    reading = clock.now()  # read once for everything asked about the frame
    await clock.advance(0.5)  # read again now, the clock would not show the shorter delay
    assert abs(lateness.captured_at(reading) - reading) < 1e-9
    assert abs(lateness.captured_at() - reading) < 1e-9  # and the shorter delay is the line's from now on
