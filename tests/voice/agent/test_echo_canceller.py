"""Our own voice taken out of the caller's line: found to the sample, cancelled into the noise, trusted only
where it really cancels."""

from __future__ import annotations

import numpy as np

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
    ):
        self.sent = mulaw.encode(voice_like(SECONDS, seed=1))  # what we send, and so what the canceller holds
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


def test_a_caller_talking_over_our_echo_comes_through_whole():
    quiet = -30  # a caller 30 dB under our voice: 15 dB under its echo
    line = Line(echo_db=-15, caller_db=quiet)
    canceller = trained(Line(echo_db=-15))  # fitted where the caller was silent
    heard = np.concatenate([cancelled(canceller, line.frame(i), i * FRAME_MS)[0] for i in range(60, 180)])
    caller = line.caller[60 * FRAME_BYTES : 180 * FRAME_BYTES]
    noise = line.noise[60 * FRAME_BYTES : 180 * FRAME_BYTES]
    assert db(heard - caller - noise) < db(caller) - 10


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
