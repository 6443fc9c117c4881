"""Our own voice taken out of the caller's line: found to the sample, cancelled into the noise, trusted only
where it really cancels."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

from bench.turn_corpus import room_response
from voice.agent.echo_canceller import EchoCanceller
from voice.audio import mulaw
from voice.audio.frames import FRAME_BYTES, FRAME_MS

SECONDS = 4
VOICE_RMS = 3000  # our voice at about -20 dBFS, as the TTS sends it
NOISE_RMS = 60  # an ordinary line's hiss, about -55 dBFS (the corpus's)
DELAY_MS = 125  # the echo's delay after the play-out estimate: off the 20 ms frame grid


def voice_like(seconds: float, seed: int) -> np.ndarray:
    """Speech-shaped test audio: band-limited noise under a syllable-rate envelope (int16, 8 kHz)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 8000)
    noise = np.convolve(rng.standard_normal(n), np.hanning(9), "same")
    t = np.arange(n) / 8000
    envelope = np.clip(np.sin(2 * np.pi * 3.5 * t + rng.uniform(0, 6)), 0, None) ** 2
    samples = noise * envelope
    return np.clip(samples / np.sqrt(np.mean(samples**2)) * VOICE_RMS, -32768, 32767).astype(np.int16)


def room(ms: int, seed: int = 1) -> np.ndarray:
    return room_response(ms, np.random.default_rng(seed))


class Line:
    """Our audio (through mu-law) playing from position 0; the inbound line is its echo ``DELAY_MS`` late
    at ``echo_db`` (through ``path``), the line's noise, and the caller, if any."""

    def __init__(
        self,
        *,
        echo_db: float = -15.0,
        path: np.ndarray | None = None,
        caller_db: float | None = None,
        noise_rms: float = NOISE_RMS,
        second_half_db: float = 0.0,  # our voice this much quieter over the second half
        second_half_muffled: bool = False,  # and only its low tones there (a murmured end of a sentence)
    ):
        voice = voice_like(SECONDS, seed=1).astype(np.float64)
        half = len(voice) // 2
        if second_half_muffled:
            voice[half:] = np.convolve(voice[half:], np.ones(16) / 4, "same")
        voice[half:] *= 10 ** (second_half_db / 20)
        self.sent = mulaw.encode(voice.astype(np.int16))  # what we send, and so what the canceller holds
        self.ours = mulaw.decode(self.sent)
        echo = self.ours.astype(np.float64)
        if path is not None:
            echo = np.convolve(echo, path)[: len(echo)]
        echo *= 10 ** (echo_db / 20)
        self.echo = np.concatenate([np.zeros(DELAY_MS * 8), echo])[: len(self.ours)]
        self.noise = np.random.default_rng(2).normal(0, noise_rms, len(self.ours))
        self.caller = np.zeros(len(self.ours))
        if caller_db is not None:
            self.caller = voice_like(SECONDS, seed=3).astype(np.float64) * 10 ** (caller_db / 20)
        mixed = self.echo + self.noise + self.caller
        self.inbound = mulaw.decode(mulaw.encode(np.clip(np.round(mixed), -32768, 32767).astype(np.int16)))

    def frame(self, i: int) -> np.ndarray:
        return self.inbound[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]

    def frames(self) -> range:
        return range(len(self.inbound) // FRAME_BYTES)


def trained(line: Line, *, lag_frames: int = DELAY_MS // FRAME_MS, frames: range | None = None) -> EchoCanceller:
    """A canceller that was sent our audio and shown the first second of the line as echo, then located."""
    canceller = EchoCanceller()
    canceller.sent(line.sent, 0)
    for i in frames or range(50):
        canceller.echo_frame(line.frame(i), i * FRAME_MS)
    canceller.locate(lag_frames)
    return canceller


def cancelled(canceller: EchoCanceller, pcm: np.ndarray, playing_ms: int, **kwargs: int) -> tuple:
    result = canceller.cancel(pcm, playing_ms, **kwargs)
    assert result is not None
    return result


def db(x: np.ndarray) -> float:
    return float(10 * np.log10(max(float(np.mean(np.asarray(x, dtype=np.float64) ** 2)), 1e-9)))


def test_it_finds_our_echo_to_the_sample_and_cancels_it_into_the_line_noise():
    line = Line(echo_db=-15)
    canceller = trained(line)
    assert canceller.active
    assert canceller.delay is not None and abs(canceller.delay - DELAY_MS * 8) <= 8  # the path's taps cover it
    assert canceller.erle_db is not None and canceller.erle_db > 20
    left_echo = []
    for i in range(60, 180):
        left, *_ = cancelled(canceller, line.frame(i), i * FRAME_MS)
        left_echo.append(left - line.noise[i * FRAME_BYTES : (i + 1) * FRAME_BYTES])
    echo = line.echo[60 * FRAME_BYTES : 180 * FRAME_BYTES]
    assert db(np.concatenate(left_echo)) < db(echo) - 15
    assert db(np.concatenate(left_echo)) < db(line.noise) - 3  # below the line's own noise


@pytest.mark.parametrize("caller_db", [-30, -15])
def test_a_caller_talking_over_our_echo_comes_through_whole(caller_db):
    """A caller 30 dB under our voice (15 dB under its echo), or as loud as our echo: what the path leaves is
    the caller. Every loud frame of the louder one is left far over what the path should leave, so slips are
    tried on it; none takes a caller's voice out, and the delay stays."""
    line = Line(echo_db=-15, caller_db=caller_db)
    canceller = trained(Line(echo_db=-15))  # fitted where the caller was silent
    delay = canceller.delay
    heard = np.concatenate([cancelled(canceller, line.frame(i), i * FRAME_MS)[0] for i in range(60, 180)])
    caller = line.caller[60 * FRAME_BYTES : 180 * FRAME_BYTES]
    noise = line.noise[60 * FRAME_BYTES : 180 * FRAME_BYTES]
    assert db(heard - caller - noise) < db(caller) - 10
    assert canceller.delay == delay


def test_a_refit_on_frames_that_held_the_caller_keeps_the_path_that_cancels():
    line = Line(echo_db=-15, caller_db=-10)  # the caller loud over everything: no path explains it
    canceller = trained(Line(echo_db=-15))
    before = canceller.erle_db
    for i in range(60, 60 + 250):  # a refit's worth of frames wrongly taken for echo
        canceller.echo_frame(line.frame(i % 200), (i % 200) * FRAME_MS)
    canceller.cancel(line.frame(0), 0)  # the refit happens here
    assert canceller.active and canceller.erle_db is not None and before is not None
    clean = Line(echo_db=-15)
    left = np.concatenate([cancelled(canceller, clean.frame(i), i * FRAME_MS)[0] for i in range(60, 180)])
    assert db(left) < db(clean.inbound[60 * FRAME_BYTES : 180 * FRAME_BYTES]) - 15


def test_a_refit_on_a_quiet_stretch_of_our_voice_keeps_the_path_that_cancels_our_loudest():
    """A reply's murmured end comes back a few dB over the line's hiss: the path in use cancels it into the hiss,
    and a path fitted on it would match it as well and cancel a loud echo less (here 31.7 dB instead of 34.3;
    on the real server, with espeak's voice, ~12 dB instead of 19)."""
    line = Line(echo_db=-15, second_half_db=-14, second_half_muffled=True)  # its echo ~11 dB over the hiss
    canceller = trained(line)  # on the first second: loud
    for i in range(250):  # a refit's worth of the quiet half
        frame = 100 + i % 100
        canceller.echo_frame(line.frame(frame), frame * FRAME_MS)
    canceller.cancel(line.frame(100), 100 * FRAME_MS)  # the refit happens here
    assert canceller.active
    left = np.concatenate([cancelled(canceller, line.frame(i), i * FRAME_MS)[0] for i in range(60, 100)])
    noise = line.noise[60 * FRAME_BYTES : 100 * FRAME_BYTES]
    assert db(left - noise) < db(line.echo[60 * FRAME_BYTES : 100 * FRAME_BYTES]) - 33


def test_after_keeping_its_path_on_a_quiet_stretch_a_run_that_starts_quietly_is_aligned():
    """The refit kept the path on frames that showed ~17 dB of it; a new run over such frames is aligned against
    that, not against the 24 dB a loud second once showed (then it would drop the path and look afresh)."""
    line = Line(echo_db=-15, second_half_db=-14, second_half_muffled=True)
    canceller = trained(line)
    for i in range(250):
        frame = 100 + i % 100
        canceller.echo_frame(line.frame(frame), frame * FRAME_MS)
    canceller.cancel(line.frame(100), 100 * FRAME_MS)  # the refit keeps the path
    delay = canceller.delay
    canceller.new_run()
    for frame in range(120, 170):  # the run's first second, quiet all through
        canceller.echo_frame(line.frame(frame), frame * FRAME_MS)
    assert canceller.active and canceller.delay == delay


def test_the_echo_is_not_located_on_a_murmured_stretch_of_our_voice_but_on_the_next_loud_one():
    """Our echo 20 dB down, over a murmured stretch 20 dB quieter still: a few dB over the hiss. A path fitted
    there knows only the murmur's low tones and passes the tests a faint echo is trusted on, then takes 15-18 dB
    off our loud echo instead of ~32; at a wrong delay, which such a set cannot rule out either, it took
    nothing off it. So the canceller waits for a run heard over our loud voice."""
    line = Line(echo_db=-20, second_half_db=-20, second_half_muffled=True)
    canceller = EchoCanceller()
    canceller.sent(line.sent, 0)
    for i in range(110, 160):  # the murmur
        canceller.echo_frame(line.frame(i), i * FRAME_MS)
    assert not canceller.locate(DELAY_MS // FRAME_MS) and not canceller.has_path
    for i in range(10, 60):  # our voice loud again
        canceller.echo_frame(line.frame(i), i * FRAME_MS)
        canceller.locate(DELAY_MS // FRAME_MS)
    assert canceller.active
    assert left_of_the_echo(canceller, line, line.inbound, range(60, 100)) < db(line.echo[60 * 160 : 100 * 160]) - 25


def slipped(line: Line, at_frame: int, samples: int) -> np.ndarray:
    """``line``'s inbound audio with our echo ``samples`` later from frame ``at_frame`` on (earlier when
    negative): Twilio's buffer ran dry for a moment, and everything after played that much late."""
    start = at_frame * FRAME_BYTES
    echo = line.echo.copy()
    echo[start:] = np.roll(line.echo, samples)[start:]
    mixed = np.clip(np.round(echo + line.noise), -32768, 32767).astype(np.int16)
    return mulaw.decode(mulaw.encode(mixed))


def left_of_the_echo(canceller: EchoCanceller, line: Line, inbound: np.ndarray, frames: range) -> float:
    """What the canceller leaves of our echo over ``frames`` of ``inbound`` (the line's noise taken off), dB."""
    left = []
    for i in frames:
        part = slice(i * FRAME_BYTES, (i + 1) * FRAME_BYTES)
        left.append(cancelled(canceller, inbound[part], i * FRAME_MS)[0] - line.noise[part])
    return db(np.concatenate(left))


def test_our_echo_slipping_a_sample_or_two_within_a_run_is_followed():
    """The path is one sharp tap on a digital line: one sample off it leaves our echo 7 dB under itself, two
    samples leave nearly all of it, and what is left stands 10-20 dB over the hiss, for the VAD to hear as a
    voice. The canceller finds the slip on the frames it cancels badly, and follows it."""
    for samples in (1, 2, -3, 16):
        line = Line(echo_db=-15)
        canceller = trained(line)
        delay = canceller.delay
        assert delay is not None
        inbound = slipped(line, 100, samples)
        echo_db = db(line.echo[110 * FRAME_BYTES : 180 * FRAME_BYTES])
        assert left_of_the_echo(canceller, line, inbound, range(100, 180)) < echo_db - 30, samples
        assert canceller.delay == delay + samples


def test_one_frame_that_looks_slipped_does_not_move_the_delay():
    """A frame it cancels better at a shift is cancelled so, but the run's delay moves only when the next frame
    it tries agrees: one odd frame (a click of the line) leaves it where it was."""
    line = Line(echo_db=-15)
    canceller = trained(line)
    delay = canceller.delay
    loudest = max(range(100, 180), key=lambda i: db(line.echo[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]))
    inbound = line.inbound.copy()
    odd = slipped(line, loudest, 2)
    inbound[loudest * FRAME_BYTES : (loudest + 1) * FRAME_BYTES] = odd[
        loudest * FRAME_BYTES : (loudest + 1) * FRAME_BYTES
    ]
    echo_db = db(line.echo[loudest * FRAME_BYTES : (loudest + 1) * FRAME_BYTES])
    assert left_of_the_echo(canceller, line, inbound, range(loudest, loudest + 1)) < echo_db - 20
    assert canceller.delay == delay
    assert left_of_the_echo(canceller, line, inbound, range(loudest + 1, 180)) < echo_db - 30
    assert canceller.delay == delay


def test_a_slip_beyond_its_reach_is_left_to_a_new_run():
    """Further than 2 ms (a frame: Twilio's buffer ran dry for 20 ms) the frames it leaves are louder than what
    came in, and the guard aligns a new run (``EchoGuard``'s misaligned frames)."""
    line = Line(echo_db=-15)
    canceller = trained(line)
    delay = canceller.delay
    inbound = slipped(line, 100, FRAME_BYTES)
    assert left_of_the_echo(canceller, line, inbound, range(110, 180)) > db(
        line.echo[110 * FRAME_BYTES : 180 * FRAME_BYTES]
    )
    assert canceller.delay == delay


def test_looking_in_the_wrong_place_finds_nothing_to_trust():
    line = Line(echo_db=-15)
    canceller = trained(line, lag_frames=DELAY_MS // FRAME_MS + 5)  # 100 ms off: outside its search
    assert not canceller.active


def test_a_faint_echo_barely_over_the_line_noise_is_trusted_once_cancelled_into_it():
    """At -35 dB our echo is ~4 dB over an ordinary line's hiss: no fit can take out 6 dB of it, but what it
    leaves is the hiss alone, and it does not follow our voice."""
    line = Line(echo_db=-35)
    canceller = trained(line)
    assert canceller.active
    assert canceller.erle_db is not None and canceller.erle_db < 6
    assert canceller.excess_db < 1.5 and canceller.follow < 0.45


def test_a_room_longer_than_its_path_is_not_trusted():
    line = Line(echo_db=-15, path=room(30))
    canceller = trained(line)
    assert not canceller.active
    assert canceller.excess_db > 1.5  # our loudest frames' echo is left well above the line's noise
    assert canceller.follow > 0.45  # and what is left rises and falls with our voice


def test_on_a_line_with_almost_no_noise_what_is_left_of_a_loud_echo_stands_out_so_it_declines():
    line = Line(echo_db=-15, noise_rms=3)  # -80 dBFS: mu-law's rounding of our echo is louder than that
    canceller = trained(line)
    assert not canceller.active and canceller.erle_db is not None and canceller.erle_db > 20


def test_a_short_path_is_cancelled_like_a_wire():
    line = Line(echo_db=-15, path=room(2))
    assert trained(line).active


def test_nothing_is_trusted_before_half_a_second_of_echo():
    line = Line(echo_db=-15)
    canceller = trained(line, frames=range(20))
    assert not canceller.active and canceller.delay is None


def test_audio_of_ours_that_was_never_heard_is_not_subtracted():
    line = Line(echo_db=-15)
    canceller = trained(line)
    cut_ms = 2000  # a pause or a clear stopped our audio here; the queue after it never played
    after = (cut_ms + DELAY_MS + 200) // FRAME_MS  # the cut's echo has died away by then
    loudness = [db(line.echo[j * FRAME_BYTES : (j + 1) * FRAME_BYTES]) for j in range(after, after + 25)]
    i = after + int(np.argmax(loudness))  # where our queued audio would have been loud
    left, taken, missed = cancelled(canceller, line.noise[:FRAME_BYTES], i * FRAME_MS, heard_until_ms=cut_ms)
    assert np.array_equal(left, line.noise[:FRAME_BYTES]) and taken == missed == 0.0
    uncut, *_ = cancelled(canceller, line.noise[:FRAME_BYTES], i * FRAME_MS)
    assert db(uncut - line.noise[:FRAME_BYTES]) > 40  # without the cut, our queued audio would be taken out


def test_where_it_no_longer_holds_what_played_it_says_it_cannot_tell():
    line = Line(echo_db=-15)
    canceller = trained(line)
    assert canceller.cancel(line.noise[:FRAME_BYTES], 60_000) is None  # beyond what it holds of our audio
    canceller.sent(line.sent, 21_000)  # queued 20 s ahead: it takes the slots of what plays now
    assert canceller.cancel(line.frame(100), 100 * FRAME_MS) is None


def test_a_clean_line_lets_go_of_what_it_kept():
    line = Line(echo_db=-15)
    canceller = EchoCanceller()
    canceller.sent(line.sent, 0)
    for i in range(50):
        canceller.echo_frame(line.frame(i), i * FRAME_MS)
    canceller.forget()
    canceller.locate(DELAY_MS // FRAME_MS)
    assert not canceller.active and canceller.delay is None


def held(steps):
    """What is left allocated (bytes, by tracemalloc) after each of ``steps``, from before the first. Garbage in
    reference cycles is collected before each count: left to the collector's own schedule, what an earlier test
    or step left behind was counted or not (a bound of 30,000 bytes, once, by 886)."""
    gc.collect()
    tracemalloc.start()
    try:
        before, after = tracemalloc.get_traced_memory()[0], []
        for step in steps:
            step()
            gc.collect()
            after.append(tracemalloc.get_traced_memory()[0] - before)
        return after
    finally:
        tracemalloc.stop()


def pushed_as_it_plays(canceller: EchoCanceller, sent: bytes, frame: int, *, playing: bool = True) -> None:
    """At inbound frame ``frame`` (every tenth), the pacer queues our next 200 ms, 400 ms before it plays (or,
    ``playing`` False, with nothing of ours played yet: all of it may yet be read)."""
    if frame % 10 == 0:
        position = frame * FRAME_MS + 400
        start = position // FRAME_MS * FRAME_BYTES
        if start < len(sent):
            push = sent[start : start + 10 * FRAME_BYTES]
            canceller.sent(push, position, playing_ms=frame * FRAME_MS if playing else 0)


def test_our_audio_is_copied_only_once_the_echo_is_looked_for():
    line = Line(echo_db=-15)
    canceller = EchoCanceller()
    canceller.sent(line.sent[: 20 * FRAME_BYTES], 0)

    def a_second_of_echo() -> None:
        for i in range(50):
            pushed_as_it_plays(canceller, line.sent, i)
            canceller.echo_frame(line.frame(i), i * FRAME_MS)

    kept, located = held([a_second_of_echo, lambda: canceller.locate(DELAY_MS // FRAME_MS)])
    assert kept < 60_000  # the frames of echo (16 kB) and our pushes around them, not 20 s of our audio
    assert located > 160_000 and canceller.active  # now it holds 20 s of it (168 kB), as it always did


def test_keeping_only_what_it_may_read_it_finds_the_echo_as_one_that_kept_everything():
    line = Line(echo_db=-25)
    lean, everything = EchoCanceller(), EchoCanceller()
    for canceller in (lean, everything):
        canceller.sent(line.sent[: 400 // FRAME_MS * FRAME_BYTES], 0)
    for i in line.frames():
        pushed_as_it_plays(lean, line.sent, i)
        pushed_as_it_plays(everything, line.sent, i, playing=False)
        if i == 50:  # the guard found the line clean a second in
            lean.forget(i * FRAME_MS)
        if 75 <= i < 175 and i % 2:  # and took every other frame for our echo after all, for two seconds
            for canceller in (lean, everything):
                canceller.echo_frame(line.frame(i), i * FRAME_MS)
        if i == 175:
            assert lean.locate(DELAY_MS // FRAME_MS) and everything.locate(DELAY_MS // FRAME_MS)
            assert lean.active and (lean.delay, lean.erle_db) == (everything.delay, everything.erle_db)
        if i > 175:
            left, *_ = cancelled(lean, line.frame(i), i * FRAME_MS)
            assert np.array_equal(left, cancelled(everything, line.frame(i), i * FRAME_MS)[0])


def test_a_line_found_clean_lets_go_of_the_copy_of_our_audio():
    line = Line(echo_db=-15)
    trained(line).forget(playing_ms=4000)  # the first canceller a process makes warms numpy's own caches up
    cancellers = []
    awake, asleep = held(
        [
            lambda: cancellers.append(trained(line)),  # located: it holds our audio (4 s of it)
            lambda: cancellers[0].forget(playing_ms=4000),  # found clean once all of it played
        ]
    )
    assert awake > 160_000
    assert asleep < 30_000  # the last second of ours that played (8 kB), should an echo yet appear


def test_asleep_it_keeps_no_more_than_the_copy_would_hold():
    line = Line(echo_db=-15)
    canceller = EchoCanceller()
    pushes = [line.sent[start : start + 10 * FRAME_BYTES] for start in range(0, len(line.sent), 10 * FRAME_BYTES)]
    minute = pushes * 15

    def pushed(playing: bool) -> None:
        for n, push in enumerate(minute):
            canceller.sent(bytes(bytearray(push)), n * 200, playing_ms=n * 200 - 400 if playing else 0)

    [kept_playing] = held([lambda: pushed(True)])
    assert kept_playing < 40_000  # what is queued, and a second of what played: not a minute of our audio
    [kept_unplayed] = held([lambda: pushed(False)])  # queued and never played (the pacer was stopped)
    assert 160_000 < kept_unplayed < 200_000  # the 20 s the copy would hold (168 kB), not a minute (480 kB)
