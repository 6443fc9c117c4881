"""Our own voice coming back on the line is not the caller; the caller talking over us is."""

from __future__ import annotations

import numpy as np
import pytest

from bench.turn_corpus import room_response
from tests.support.caller_audio import HAVE_ESPEAK, espeak_hebrew, frames, silence
from voice.agent.echo_canceller import EchoCanceller
from voice.agent.echo_guard import EchoGuard
from voice.audio import mulaw
from voice.audio.frames import FRAME_BYTES, FRAME_MS

pytestmark = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed")


def scaled(audio: bytes, db: float) -> np.ndarray:
    return mulaw.decode(audio).astype(np.float64) * 10 ** (db / 20)


def frame_peaks(pcm: np.ndarray, count: int) -> np.ndarray:
    padded = np.zeros(count * FRAME_BYTES)
    padded[: min(len(pcm), len(padded))] = np.abs(pcm[: len(padded)])
    return padded.reshape(count, FRAME_BYTES).max(axis=1)


def room(ms: int) -> np.ndarray:
    """A speakerphone's room: the direct sound, then reflections dying away over ``ms``."""
    return room_response(ms, np.random.default_rng(7))


class Line:
    """Our reply playing from media time 0, coming back ``delay_ms`` late at ``echo_db`` (through a room
    ``room_ms`` long, if given)."""

    def __init__(
        self,
        ours: bytes,
        *,
        echo_db: float | None,
        delay_ms: int = 120,
        room_ms: int = 0,
        cancel: bool | EchoCanceller = True,
        noise_rms: float = 20.0,
    ) -> None:
        self.ours = ours
        self.now_ms = 0
        self.playing: int | None = None  # the position the pacer estimates is playing (None: nothing is)
        self.guard = EchoGuard(lambda: self.playing, cancel=cancel)
        self.guard.sent(ours, 0)
        self.echo = np.zeros(len(ours) + delay_ms * 8)
        if echo_db is not None:
            echo = scaled(ours, echo_db)
            if room_ms:
                echo = np.convolve(echo, room(room_ms))[: len(echo)]
            self.echo[delay_ms * 8 :] = echo
        self.heard: list[np.ndarray] = []  # the frames the VAD got, on the latest pass
        self.noise_rms = noise_rms
        self.delay_ms = delay_ms

    def inbound(
        self,
        caller: np.ndarray | None = None,
        *,
        cut_ms: int | None = None,
        estimate_error_ms: int = 0,
        plays_late_ms: int = 0,
        seed: int = 0,
    ) -> list[bool]:
        """Each inbound frame over our reply: taken for echo? ``cut_ms``: our audio stops there (a pause or a
        clear; what we queued after it never plays). ``estimate_error_ms``: the pacer's estimate of where we
        are playing is off by up to that much, anchored once per reply and read anew at each frame.
        ``plays_late_ms``: Twilio plays our audio that much later than the estimate says."""
        verdicts = []
        self.heard = []
        rng = np.random.default_rng(seed)
        anchor = int(rng.integers(-estimate_error_ms, estimate_error_ms + 1))
        coming_back = self.echo.copy()
        if cut_ms is not None:
            coming_back[(cut_ms + self.delay_ms) * 8 :] = 0.0
        coming_back = np.concatenate([np.zeros(plays_late_ms * 8), coming_back])
        for i in range(len(self.ours) // FRAME_BYTES):
            self.now_ms = (i + 1) * FRAME_MS
            self.playing = None
            if self.now_ms < len(self.ours) // 8 + 300 and (cut_ms is None or self.now_ms <= cut_ms):
                jitter = int(rng.integers(-estimate_error_ms // 3, estimate_error_ms // 3 + 1))
                self.playing = max(0, self.now_ms + anchor + jitter)
            pcm = coming_back[i * FRAME_BYTES : (i + 1) * FRAME_BYTES].copy()
            if caller is not None and i * FRAME_BYTES < len(caller):
                part = caller[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]
                pcm[: len(part)] += part
            pcm += np.random.default_rng(i).normal(0, self.noise_rms, FRAME_BYTES)  # line noise
            heard, echo = self.guard.hear(np.clip(pcm, -32768, 32767).astype(np.int16))
            verdicts.append(echo)
            self.heard.append(heard)
        return verdicts


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    d = tmp_path_factory.mktemp("v")
    ours = b"".join(
        frames(espeak_hebrew("תודה שהתקשרתם, אנחנו פתוחים מחר משמונה בבוקר ועד שש בערב, ואפשר גם להשאיר הודעה", d))
    )
    caller = espeak_hebrew("רגע, רגע, יש לי שאלה על המחיר", d)
    return ours, caller


LINE_NOISE_RMS = 60.0  # about -55 dBFS: an ordinary line's hiss (the turn-taking corpus's)


def db(pcm: np.ndarray) -> float:
    return float(10 * np.log10(max(np.mean(pcm.astype(np.float64) ** 2), 1.0)))


def reached(line: Line, verdicts: list[bool]) -> list[int]:
    """Frames that carried our echo and reached the VAD louder than the line's noise (by 6 dB: a VAD could
    hear it) and than what a working canceller leaves (20 dB under the echo; this line's worst frame is 25)."""
    loud = frame_peaks(line.echo, len(verdicts)) > 300
    return [
        i
        for i, e in enumerate(loud)
        if e
        and not verdicts[i]
        and db(line.heard[i]) > 20 * np.log10(line.noise_rms) + 6
        and db(line.heard[i]) > db(line.echo[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]) - 20
    ]


@pytest.mark.parametrize("echo_db", [-15, -25, -35])
def test_our_echo_is_taken_for_echo_from_the_first_frame(voices, echo_db):
    ours, _ = voices
    line = Line(ours, echo_db=echo_db, cancel=False)
    for _ in range(2):
        verdicts = line.inbound()
        loud = [v for v, e in zip(verdicts, frame_peaks(line.echo, len(verdicts)) > 300, strict=True) if e]
        assert all(loud), f"{loud.count(False)} echo frames let through"


@pytest.mark.parametrize("echo_db", [-15, -25, -35])
def test_once_it_is_taken_out_our_echo_still_never_reaches_the_vad(voices, echo_db):
    ours, _ = voices
    line = Line(ours, echo_db=echo_db, noise_rms=LINE_NOISE_RMS)
    assert not reached(line, line.inbound())  # masked while the canceller learns the line
    assert not reached(line, line.inbound())  # then masked, or cancelled into the noise


@pytest.mark.parametrize("echo_db", [None, -15])
def test_a_caller_at_our_level_is_not_echo(voices, echo_db):
    ours, caller = voices
    line = Line(ours, echo_db=echo_db)
    line.inbound()  # the guard has heard the line during the first part of our reply
    verdicts = line.inbound(scaled(caller, 0))
    voiced = frame_peaks(scaled(caller, 0), len(verdicts)) > 3000
    heard = [not v for v, loud in zip(verdicts, voiced, strict=False) if loud]
    assert np.mean(heard) > 0.8


def test_on_a_line_with_no_echo_even_a_quiet_caller_counts_from_the_first_syllable(voices):
    ours, caller = voices
    line = Line(ours, echo_db=None)
    line.inbound()
    assert line.guard.line_echoes is False  # nothing on the line follows our voice
    verdicts = line.inbound(scaled(caller, -30))
    assert not any(verdicts)


@pytest.mark.parametrize("echo_db", [-15, -25, -35])
def test_a_line_that_echoes_is_known_for_one_after_a_second_of_our_speech(voices, echo_db):
    ours, caller = voices
    line = Line(ours, echo_db=echo_db)
    line.inbound()
    assert line.guard.line_echoes is True
    line.inbound(scaled(caller, 0))  # a caller talking over us hides the echo, which is still there
    assert line.guard.line_echoes is True


def test_a_line_found_clean_that_starts_to_echo_is_found_out_within_six_seconds(voices):
    # The caller put us on a speakerphone mid-call. A clean line is judged again every 5 s of our speech
    # (our own silences not counted), on the frames it kept meanwhile without measuring them.
    ours, _ = voices
    line = Line(ours, echo_db=None)
    line.inbound()
    line.inbound()
    assert line.guard.line_echoes is False
    line.echo = Line(ours, echo_db=-15).echo
    verdicts = line.inbound() + line.inbound()
    assert line.guard.line_echoes is True
    found_at = next(i for i, v in enumerate(verdicts) if v)
    assert found_at * FRAME_MS <= 6000


@pytest.mark.parametrize("noise_rms", [5.0, 20.0, LINE_NOISE_RMS])
def test_from_the_frame_that_finds_the_line_clean_nothing_is_masked(voices, noise_rms):
    ours, _ = voices
    line = Line(ours, echo_db=None, noise_rms=noise_rms)
    known: list[bool | None] = []
    hear = line.guard.hear

    def watched(pcm: np.ndarray) -> tuple[np.ndarray, bool]:
        result = hear(pcm)
        known.append(line.guard.line_echoes)  # what the guard knew once it had heard this frame
        return result

    line.guard.hear = watched  # type: ignore[method-assign]
    verdicts = line.inbound()
    found_clean = known.index(False)
    assert any(verdicts[:found_clean])  # the line's noise under our loud voice, masked while unknown
    assert not any(verdicts[found_clean:])


def test_before_it_knows_the_line_the_guard_masks_as_if_it_echoed(voices):
    ours, _ = voices
    line = Line(ours, echo_db=None)
    assert line.guard.line_echoes is None
    assert line.guard.echo_correlation() == 0.0  # nothing heard yet


def test_where_twilio_plays_our_audio_later_than_the_estimate_our_echo_is_still_echo(voices):
    """A busy server, or a slow network to Twilio: each reply plays 300 ms later than the pacer estimates,
    so its echo comes back 420 ms after the estimate says it played. The first frames of the reply are
    compared with our voice before its echo is back, and taught the guard a level 20 dB too low: then our
    echo stood above it and reached the VAD (95, 72 and 18 loud frames in three replies, before the level
    found with the delay set a floor)."""
    ours, _ = voices
    line = Line(ours, echo_db=-20, cancel=False, noise_rms=LINE_NOISE_RMS)
    let_through = []
    for reply in range(3):
        verdicts = line.inbound(plays_late_ms=300, seed=reply)
        loud = frame_peaks(np.concatenate([np.zeros(300 * 8), line.echo]), len(verdicts)) > 300
        let_through.append(sum(1 for echo, e in zip(verdicts, loud, strict=True) if e and not echo))
    assert let_through[0] <= 20 and let_through[1:] == [0, 0], let_through
    assert line.guard.line_echoes and line.guard.echo_lag_frames in (21, 22)  # 420 ms
    assert line.guard.found_level_db == pytest.approx(-20, abs=1.5)


@pytest.mark.parametrize("late_ms", [700, 1000])
def test_once_the_marks_say_how_late_twilio_plays_what_was_learned_lined_up_the_old_way_goes(voices, late_ms):
    """Twilio plays our reply 700 ms (or a second) later than the pacer's estimate, beyond the delays the guard
    looks at, and no mark has said so yet: on frames lined up that way the line looked clean (our echo out of
    its reach), and the level it learned was the hiss against our voice. Moved by the marks' reading, it starts
    over, and on frames lined up by that reading finds the echo 120 ms late."""
    ours, _ = voices
    line = Line(ours, echo_db=-20, noise_rms=LINE_NOISE_RMS)
    line.inbound(plays_late_ms=late_ms)
    assert line.guard.line_echoes is False and line.guard.echo_level_db() < -25
    assert line.guard.moved(late_ms) is True
    assert line.guard.line_echoes is None and line.guard.echo_level_db() == -15.0  # assumed until it learns
    verdicts = line.inbound()  # the session now reads the pacer that much earlier
    assert line.guard.line_echoes is True and line.guard.echo_lag_frames in (6, 7)
    assert line.guard.echo_level_db() == pytest.approx(-20, abs=1.5)
    assert reached(line, verdicts) == []


def test_a_move_within_the_estimates_slack_or_on_a_line_found_to_echo_keeps_what_was_learned(voices):
    ours, _ = voices
    clean = Line(ours, echo_db=None)
    clean.inbound()
    clean.inbound()
    assert clean.guard.line_echoes is False
    assert not clean.guard.moved(60)  # a frame or two either way: what the estimate allows for anyway
    assert not clean.guard.moved(-60)
    assert clean.guard.line_echoes is False
    echoing = Line(ours, echo_db=-20, noise_rms=LINE_NOISE_RMS)
    echoing.inbound()
    level = echoing.guard.echo_level_db()
    assert echoing.guard.line_echoes is True
    assert not echoing.guard.moved(300)  # its echo was within reach: still there, at the level learned
    assert echoing.guard.line_echoes is True and echoing.guard.echo_level_db() == level


@pytest.mark.parametrize("caller_db", [0, 6])
def test_a_caller_who_talks_over_us_before_the_line_is_known_does_not_get_it_judged_clean(voices, caller_db):
    """The caller asks a question over our first words, twice, on a speakerphone that brings our voice back
    at -25 dB: the frames louder than our echo can be are left out of the judgement, which finds the echo from
    the rest. (Judged on all of them, the line was found clean, and nothing of our echo was masked.)"""
    ours, caller = voices
    line = Line(ours, echo_db=-25)
    question = scaled(caller, caller_db)
    line.inbound(np.concatenate([question, question]))
    assert line.guard.line_echoes is True


def test_nothing_is_echo_while_we_are_silent():
    guard = EchoGuard(lambda: None)
    guard.sent(silence(1000), 0)
    assert not any(guard.hear(mulaw.decode(f))[1] for f in frames(silence(200)))


# -- with our echo taken out ----------------------------------------------------------------------------
@pytest.mark.parametrize("echo_db", [-15, -25])
def test_once_our_echo_is_taken_out_a_quiet_caller_under_our_voice_is_heard(voices, echo_db):
    ours, caller = voices
    quiet = scaled(caller, -25)  # at or under our echo
    voiced = frame_peaks(quiet, len(ours) // FRAME_BYTES) > 300
    heard = {}
    for cancel in (False, True):
        line = Line(ours, echo_db=echo_db, cancel=cancel, noise_rms=LINE_NOISE_RMS)
        line.inbound()  # the guard learns the line over our first reply
        verdicts = line.inbound(quiet)
        heard[cancel] = np.mean([not v for v, loud in zip(verdicts, voiced, strict=False) if loud])
    assert line.guard.canceller is not None and line.guard.canceller.active
    assert heard[True] > 0.9
    assert heard[False] < heard[True] - 0.2  # masking whole frames took much of them for our echo


def test_the_vad_hears_the_line_without_our_voice(voices):
    ours, _ = voices
    line = Line(ours, echo_db=-15, noise_rms=LINE_NOISE_RMS)
    line.inbound()
    verdicts = line.inbound()
    echo = frame_peaks(line.echo, len(verdicts)) > 300
    unmasked = [i for i, e in enumerate(echo) if e and not verdicts[i]]
    assert len(unmasked) > 0.6 * echo.sum()  # most of our echo is now cancelled, not masked
    assert not reached(line, verdicts)


def test_through_a_room_it_cannot_cancel_our_echo_is_masked_as_before(voices):
    ours, _ = voices
    line = Line(ours, echo_db=-15, room_ms=30, noise_rms=LINE_NOISE_RMS)
    line.inbound()
    verdicts = line.inbound()
    assert line.guard.canceller is not None and not line.guard.canceller.active
    loud = [v for v, e in zip(verdicts, frame_peaks(line.echo, len(verdicts)) > 300, strict=True) if e]
    assert all(loud), f"{loud.count(False)} echo frames let through"


def test_a_pacer_estimate_that_wanders_and_reanchors_each_reply_changes_nothing(voices):
    """In a call, where our audio plays is the pacer's wall-clock estimate, read as each inbound frame arrives
    and anchored anew at each reply: the canceller counts in media time and aligns each reply again."""
    ours, caller = voices
    line = Line(ours, echo_db=-15, noise_rms=LINE_NOISE_RMS)
    quiet = scaled(caller, -25)
    voiced = frame_peaks(quiet, len(ours) // FRAME_BYTES) > 300
    for reply in range(4):  # each reply anchored up to 15 ms off, each frame read up to 5 ms off
        verdicts = line.inbound(estimate_error_ms=15, seed=reply)
        assert not reached(line, verdicts), f"reply {reply}"
    verdicts = line.inbound(quiet, estimate_error_ms=15, seed=9)
    assert line.guard.canceller is not None and line.guard.canceller.active
    assert np.mean([not v for v, loud in zip(verdicts, voiced, strict=False) if loud]) > 0.9


def test_after_a_cut_what_was_queued_and_never_played_is_neither_subtracted_nor_learned(voices):
    ours, _ = voices
    refitting = EchoCanceller(refit_frames=20)  # fitted again often, so what the tails taught would show
    line = Line(ours, echo_db=-15, noise_rms=LINE_NOISE_RMS, cancel=refitting)
    line.inbound()
    assert refitting.active
    for cut_ms in (1500, 2500, 3500, 4500, 1700, 2700, 3700):  # a pause, then the reply again from the start
        verdicts = line.inbound(cut_ms=cut_ms)
        after_cut = range(cut_ms // FRAME_MS, len(verdicts))
        loud_left = [i for i in after_cut if db(line.heard[i]) > 20 * np.log10(LINE_NOISE_RMS) + 6]
        assert not loud_left, f"cut at {cut_ms} ms: our queued audio subtracted in frames {loud_left}"
        assert not reached(line, verdicts)
        assert refitting.active, f"cut at {cut_ms} ms: the tail taught it our unplayed audio"


def test_a_tail_with_no_run_of_ours_counted_before_it_is_judged_by_loudness_alone():
    """Our audio was silent where it played, then the queue under that position filled (a pause sent it
    again): the tail that follows has no run to count from, and must not stop the call."""
    playing: list[int | None] = [0]
    guard = EchoGuard(lambda: playing[0])
    guard.sent(silence(1000), 0)
    quiet = np.zeros(FRAME_BYTES, dtype=np.int16)
    assert guard.hear(quiet) == (quiet, False)  # silent where it plays: nothing could echo
    guard.sent(mulaw.encode(np.full(8000, 8000, dtype=np.int16)), 0)
    playing[0] = None  # the tail
    loud = np.full(FRAME_BYTES, 500, dtype=np.int16)
    heard, echo = guard.hear(loud)
    assert heard is loud and echo  # masked by loudness, as without a canceller


def play_with_a_gap(guard_line: Line, gap_ms: int, gap_at_ms: int = 2000) -> list[int]:
    """One more reply on ``guard_line``, during which Twilio's buffer ran dry for ``gap_ms`` (a slow TTS
    sentence): play-out stops there and goes on later. Returns the echo frames that reached the VAD."""
    ours = mulaw.decode(guard_line.ours).astype(np.float64)
    frames_ours = len(ours) // FRAME_BYTES
    total = frames_ours + gap_ms // FRAME_MS + 15
    played, position = np.zeros(total * FRAME_BYTES), [None] * total
    source = 0
    for f in range(total):
        if gap_at_ms <= f * FRAME_MS < gap_at_ms + gap_ms - gap_ms % FRAME_MS or source >= frames_ours:
            continue
        played[f * FRAME_BYTES : (f + 1) * FRAME_BYTES] = ours[source * FRAME_BYTES : (source + 1) * FRAME_BYTES]
        source += 1
        position[f] = source * FRAME_MS
    if gap_ms % FRAME_MS:  # shorter than a frame: the pacer's estimate never shows it, only the echo does
        played = np.concatenate([played[: gap_at_ms * 8], np.zeros(gap_ms * 8), played[gap_at_ms * 8 :]])
    delay = guard_line.delay_ms * 8
    echo = np.concatenate([np.zeros(delay), played[:-delay]]) * 10 ** (-15 / 20)
    noise_db = 20 * np.log10(guard_line.noise_rms)
    reached_vad = []
    for f in range(total):
        guard_line.playing = position[f]
        frame = echo[f * FRAME_BYTES : (f + 1) * FRAME_BYTES]
        noisy = frame + np.random.default_rng(f).normal(0, guard_line.noise_rms, FRAME_BYTES)
        heard, masked = guard_line.guard.hear(np.clip(noisy, -32768, 32767).astype(np.int16))
        if not masked and db(heard) > max(noise_db + 6, db(frame) - 20):  # as ``reached``
            reached_vad.append(f)
    return reached_vad


@pytest.mark.parametrize("gap_ms", [5, 10, 20, 40, 60, 100])
def test_a_gap_in_our_play_out_starts_a_new_run_and_our_echo_stays_out(voices, gap_ms):
    ours, _ = voices
    line = Line(ours, echo_db=-15, noise_rms=LINE_NOISE_RMS)
    line.inbound()
    line.inbound()
    assert line.guard.canceller is not None and line.guard.canceller.active
    assert not play_with_a_gap(line, gap_ms)


def test_the_reference_is_the_loudest_of_ours_that_can_echo_at_each_position_however_it_was_queued():
    """Queued in pieces, queued again over positions a clear dropped, wrapped round the ring: at every
    position the reference is the loudest of our frames that played from ``window_ms`` before it to
    ``ahead_ms`` after it, as queued last."""
    rng = np.random.default_rng(3)
    playing: list[int | None] = [None]
    guard = EchoGuard(lambda: playing[0], cancel=False, window_ms=480, ahead_ms=60)
    truth: dict[int, float] = {}  # frame index -> energy of what is queued there now
    position = 0
    for _ in range(300):
        if rng.random() < 0.1:
            position = max(0, position - int(rng.integers(1, 40)) * FRAME_MS)  # a clear: queued again from here
        count = int(rng.integers(1, 11))
        levels = rng.integers(0, 8000, count)
        pcm = np.concatenate([rng.normal(0, level, FRAME_BYTES) for level in levels]).clip(-32000, 32000)
        queued = mulaw.encode(pcm.astype(np.int16))
        guard.sent(queued, position)
        samples = mulaw.decode(queued).astype(np.float64).reshape(count, FRAME_BYTES)
        for offset, frame in enumerate(samples):
            truth[position // FRAME_MS + offset] = float(np.mean(frame**2))
        position += count * FRAME_MS
        for probe in rng.integers(max(0, position // FRAME_MS - 60), position // FRAME_MS + 10, 5).tolist():
            playing[0] = probe * FRAME_MS
            window = [truth.get(i, 0.0) for i in range(max(0, probe - 24), probe + 4)]
            assert guard.reference_energy() == pytest.approx(max(window))


def test_our_frames_are_kept_as_they_were_queued_even_when_the_buffer_is_then_reused():
    """The guard measures our frames only when it next reads them: a buffer the pacer's caller fills again
    afterwards must not change what it reads."""
    playing: list[int | None] = [0]
    guard = EchoGuard(lambda: playing[0], cancel=False)
    loud = mulaw.encode(np.full(FRAME_BYTES * 10, 8000, dtype=np.int16))
    buffer = bytearray(loud)
    guard.sent(buffer, 0)
    buffer[:] = silence(len(buffer) // 8)
    assert guard.reference_energy() == pytest.approx(float(np.mean(mulaw.decode(loud).astype(np.float64) ** 2)))
