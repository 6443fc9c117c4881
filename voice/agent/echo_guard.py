"""Our own voice coming back on the caller's line is not the caller talking.

On a speakerphone, or a line with poor echo cancellation, the agent's reply returns on the inbound channel
15-35 dB quieter and 60-200 ms late, and any VAD hears it as speech: the agent would interrupt itself. We
know exactly what we sent, and (from the pacer's play-out estimate and Twilio's marks) roughly when it
played, so the guard compares each inbound frame with the loudest of our own frames that could be echoing
in it (those that played within ``window_ms`` before now).

How loud our echo comes back is a property of the line, so the guard learns it from the frames it takes
for echo: the 90th percentile of their ratio to the reference over the last few seconds of our speech is
the echo's level (or, on a line with no echo, the line's noise). A frame no louder than that level plus
``margin_db`` is echo. Frames above it (the caller) never teach it, so a caller talking over us cannot
raise the bar against themselves. Until it has heard a second of the line while we spoke (an echo can
take half of that to come back: frames before it would teach it the line's noise), the guard assumes an
echo 15 dB below our voice. On a line with no echo it masks only frames within ``margin_db`` of the line's
noise, relative to our voice: a caller's quietest sounds over our loudest (which is why a barge-in can
come later than without the guard; bench/README.md has the figures, and how WebRTC's echo canceller
compared on the same scenarios: more false barge-ins than this guard).

Where our audio was playing is asked for the moment each inbound frame was captured, not the moment it is
handled (``voice.audio.playing_at_capture`` reads the pacer at ``voice.audio.lateness``'s capture time): a busy
server handles the caller's frames a few hundred ms late, in bursts, and read as they were handled the
estimate ran that far ahead of the echo in them. Each burst then moved where the guard counted our audio
from, and the canceller, aligned again on every move, took out our voice at the wrong delay and left it for
the caller's (at 30 hissy speakerphone calls on two cores it paused on our own voice 10 to 108 times a run;
with this and the level's floor, 0 to 2). And it is asked as late as Twilio's marks say Twilio plays our audio
(``Pacer.played_late``, the network both ways and Twilio's buffer): played 700 ms late, our echo came back
beyond the delays the guard looks at, and the agent paused on its own voice three times in a greeting. Until
the first mark says so (the greeting's first frame carries one), frames are lined up as estimated, and
``moved`` forgets what was learned from them.

So the guard first asks whether our voice comes back on this line at all: an echo follows our voice's
loudness envelope, a line's noise and a caller do not. Once it has heard ``min_samples`` frames of our
speech (one second: the greeting decides it on most calls), it correlates the inbound frames' loudness with
ours at every delay it allows for, over the frames no louder than our echo can be (a caller talking over
the greeting would have the line judged clean on their words). On the corpus every echo line, −35 dB
included, scores 0.56-0.98 and every clean line 0.41 or less. A line that scores ``echo_correlation`` or
more has an echo for the rest of the call (a caller talking over us lowers the score; the echo is still
there), and how loud it came back at the delay found sets a floor under the level learned (``echo_level_db``
says why). A clean line
(below ``clean_correlation``, over at least ``min_samples`` frames paired at the best delay: an echo 420 ms
late, with fewer, scored 0.44) masks nothing, so a caller is heard from their first quiet syllable; in
between, or before it knows, the guard masks as above.

On a line that echoes, masking whole frames still hides a caller's quiet first syllables under our loud
ones (the agent stopped up to 930 ms after them). So once the line is known to echo, the guard hands the
delay it found to an ``EchoCanceller``, which takes our voice out of each inbound frame sample by sample.
While the canceller is trusted (it has brought our echo down into the line's noise), the listener's VAD
hears each frame without our voice, and a frame is masked only when what is left of it is no louder than
the canceller says an echo frame leaves *and* that leftover echo could be heard over the noise. Otherwise
(a room's long echo path, or until the canceller has found the echo) the guard masks as above.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Callable

import numpy as np

from voice.agent.echo_canceller import EchoCanceller
from voice.agent.quantiles import median, percentile
from voice.audio import mulaw
from voice.audio.frames import FRAME_BYTES, FRAME_MS

_SLOTS = 1024  # ~20 s of our audio kept, by outbound position
# The learned level moves slowly (a property of the line); its percentile is taken again after this many new
# echo frames (200 ms), not on every inbound frame: per frame it was a third of a busy event loop's time.
_RELEARN_EVERY = 10
_SETTLE_FRAMES = 10  # 200 ms: Silero's memory of a loud voice
_MISSED_SPREAD = 10.0  # 10 dB
_REANCHOR_MS = 60  # the pacer's estimate this far from the media-time count: a new run
_MISALIGNED_FRAMES = 2  # frames in a row the canceller made louder: it is not aligned on this run
# The learned level's floor sits this far under the level found with the delay: the found level is taken
# against the frame that echoes, the learned one against the loudest in the window (a few dB louder). Closer,
# the turn-taking corpus's room echoes masked a caller's interruption 440 ms longer; 6 dB under, our echo
# was heard as a caller's utterance once more.
_FOUND_SLACK_DB = 3.0
_SILENCE = b"\xff\x7f"  # the two mu-law codes of a zero sample
_MEASURE_AFTER = 64  # pushes kept unmeasured at most (~13 s of our audio, within the slots' 20)


class EchoGuard:
    def __init__(
        self,
        playing_ms: Callable[[], int | None],  # outbound position playing now; None: we are silent
        *,
        margin_db: float = 5.0,
        assumed_level_db: float = -15.0,  # before we have measured the line
        history_frames: int = 250,  # 5 s of our speech
        min_history_frames: int = 50,  # a second: longer than the echo can take to come back
        window_ms: int = 480,  # echo delay up to ~200 ms, plus the play-out estimate's error
        ahead_ms: int = 60,  # the estimate may run behind what really played
        tail_ms: int = 300,  # our last words' echo is still on its way back after they played
        echo_correlation: float = 0.55,
        clean_correlation: float = 0.45,
        min_samples: int = 50,
        sample_window: int = 150,  # 3 s of our speech
        judge_every: int = 50,  # once a second of our speech: ~130 µs each
        cancel: bool | EchoCanceller = True,  # take our echo out of a line that echoes (False: mask only)
        left_margin_db: float = 6.0,  # a frame leaving this much more than an echo frame would: the caller
    ) -> None:
        self._playing_ms = playing_ms
        self._tail_frames = tail_ms // FRAME_MS
        self._tail_left = 0  # inbound frames of tail still to come (counted in media time)
        self._last_playing = 0
        self._margin_db = margin_db
        self._assumed_db = assumed_level_db
        self._ratios: deque[float] = deque(maxlen=history_frames)  # of frames taken for echo (dB)
        self._level_db: float | None = None  # the 90th percentile of ``_ratios`` when last taken
        # How loud our voice came back when the line was found to echo, measured at the delay found (the median,
        # over our loudest frames, of the heard frame's loudness over ours): a floor under ``echo_level_db``.
        self.found_level_db: float | None = None
        self._new_ratios = 0  # frames taken for echo since then
        self._min_history = min_history_frames
        self._behind = window_ms // FRAME_MS
        self._ahead = ahead_ms // FRAME_MS
        # Mean square of our frame at each slot, and which outbound frame each slot holds. Python arrays, not
        # numpy's: every inbound frame looks up ~28 of them, and a numpy call per step costs more than the step
        # (the judgement, once a second at most, reads them as numpy arrays without a copy). Not lists: 2,048
        # number objects a call, scattered over the heap, cost a busy server more than their lookups.
        self._energy = array("d", [0.0]) * _SLOTS
        self._position = array("q", [-1]) * _SLOTS
        # Whether our frame at each slot has any sound (not mu-law's silence): all a clean line asks of our
        # frames on most of its frames, so it is kept as they come, and their energies only when next read.
        self._sound = array("b", [0]) * _SLOTS
        self._unmeasured: list[tuple[int, bytes]] = []  # pushes of ours (first frame, frames) not yet measured
        self._voice_found = -1  # the latest of our frames ``_any_voice`` found sound in
        # Does our voice come back on this line? None: not known yet.
        self.line_echoes: bool | None = None
        self._now_playing: int | None = None  # the position playing at the latest frame (no tail)
        self._echo_corr, self._clean_corr = echo_correlation, clean_correlation
        self._min_samples, self._judge_every = min_samples, judge_every
        self._sample_window = sample_window
        # The latest inbound frames while we played, and the frame of ours playing then: a ring, each frame
        # copied in, so the frame's own array is freed with the rest of the frame's work (150 arrays kept a
        # call also cost a busy server more than the copies).
        self._heard = np.zeros((sample_window, FRAME_BYTES), dtype=np.int16)
        self._heard_at = np.zeros(sample_window, dtype=np.int64)
        self._kept = 0  # frames in the ring (at most ``sample_window``)
        self._next_kept = 0  # the ring's slot for the next frame: its oldest, once it is full
        self._unjudged = 0
        self._clean_streak = 0  # judgements in a row that found a clean line (then it judges 5x less often)
        self._lags = np.arange(-self._ahead, self._behind + 1)
        self.echo_lag_frames: int | None = None  # the delay, in frames, of the best correlation
        self._level_found = assumed_level_db  # our echo's level at that delay (dB)
        self._paired_at_best = 0  # frames of ours and the caller's the best correlation paired
        self.canceller = cancel if isinstance(cancel, EchoCanceller) else EchoCanceller() if cancel else None
        self._left_margin_db = left_margin_db
        self._settling = _SETTLE_FRAMES  # frames the loudness rule still decides once the canceller is trusted
        self._since_locate = judge_every  # frames of our speech since the canceller last looked for the echo
        self._locate_every = judge_every
        self._media_ms = 0  # inbound frames heard, in ms: Twilio's clock
        self._run_offset: int | None = None  # our position minus media time in this run of our audio
        self._run_playing = 0  # our position playing at the latest frame, by this run's count
        self._was_playing = False  # the latest frame came while our audio played (not in a tail)
        self._misaligned = 0  # frames in a row where the canceller left more than it was given
        self.speaking = False  # the latest frame came while our voice (or its tail) could be echoing

    @property
    def compared_with_ms(self) -> int | None:
        """Our position that was playing as the latest inbound frame was captured, which the frame was
        compared with (None: we were silent, or only our last words' echo could still be in it)."""
        return self._now_playing

    def moved(self, by_ms: int) -> bool:
        """Where the caller's frames line up with ours moved ``by_ms`` (Twilio's marks say it plays our audio
        that much later, or earlier, than the reading ``playing_ms`` gave until now). More than the estimate's
        slack (``ahead_ms``), on a line not found to echo, and what the guard learned from frames lined up the old
        way goes: the level (the frames it took for echo may have been the line's noise against our voice before
        its echo came back) and the frames kept to judge the line by, with a verdict that the line is clean (our
        echo may have come back beyond the delays it looks at). A line found to echo keeps all: its echo was
        within reach, and the window and the canceller, aligned again on each run, follow the move. Returns
        whether it forgot (a smaller move is taken as part of the next, counted from the same place)."""
        if abs(by_ms) <= self._ahead * FRAME_MS or self.line_echoes:
            return False
        self._ratios.clear()
        self._level_db, self._new_ratios = None, 0
        self._kept = self._next_kept = self._unjudged = 0
        self.line_echoes, self._clean_streak = None, 0
        return True

    def sent(self, frames: bytes, position_ms: int) -> None:
        """Whole 160-byte frames of ours, queued at outbound ``position_ms``. Kept as they are, with where they
        sit and which have sound; their energies are taken when next read (``_measure``): measured push by
        push, this cost ~50 µs a push in a busy server, on every line, for judgements that read them once
        every few seconds on a clean one."""
        first = position_ms // FRAME_MS
        count = len(frames) // FRAME_BYTES
        frames = bytes(frames[: count * FRAME_BYTES])  # the same object when it is whole ``bytes``
        sound = [len(frames[at : at + FRAME_BYTES].strip(_SILENCE)) > 0 for at in range(0, len(frames), FRAME_BYTES)]
        start = first % _SLOTS
        if start + count <= _SLOTS:  # one stretch of slots (a push is ~10 frames, the slots 1024)
            self._sound[start : start + count] = array("b", sound)
            self._position[start : start + count] = array("q", range(first, first + count))
        else:
            for index, has_sound in enumerate(sound, start=first):
                self._sound[index % _SLOTS], self._position[index % _SLOTS] = has_sound, index
        self._unmeasured.append((first, frames))
        if len(self._unmeasured) >= _MEASURE_AFTER:
            self._measure()
        if self.canceller is not None:
            self.canceller.sent(frames, position_ms, self._last_playing)

    def _measure(self) -> None:
        """The energies of our frames pushed since they were last read, in one pass."""
        pushes, self._unmeasured = self._unmeasured, []
        codes = np.frombuffer(b"".join(frames for _, frames in pushes), dtype=np.uint8).reshape(-1, FRAME_BYTES)
        energies = mulaw.frame_energies(codes).tolist()
        at = 0
        for first, frames in pushes:  # in the order pushed: a later push at the same slot overwrites
            count = len(frames) // FRAME_BYTES
            start = first % _SLOTS
            if start + count <= _SLOTS:
                self._energy[start : start + count] = array("d", energies[at : at + count])
            else:
                for index, energy in enumerate(energies[at : at + count], start=first):
                    self._energy[index % _SLOTS] = energy
            at += count

    def reference_energy(self) -> float:
        """The loudest of our frames that could be echoing now (0 when we are silent)."""
        now = self._playing_frame()
        return 0.0 if now is None else self._loudest(now)

    def _playing_frame(self) -> int | None:
        """Our frame playing now (during the tail: the last one that played); None when we are silent."""
        playing = self._now_playing = self._playing_ms()
        if playing is not None:
            self._last_playing, self._tail_left = playing, self._tail_frames
        elif self._tail_left > 0:
            playing = self._last_playing
        else:
            return None
        return playing // FRAME_MS

    def _loudest(self, now: int) -> float:
        """The loudest of our frames that could be echoing while frame ``now`` plays."""
        if self._unmeasured:
            self._measure()
        energy, position, loudest = self._energy, self._position, 0.0
        for index in range(max(0, now - self._behind), now + self._ahead + 1):
            slot = index % _SLOTS
            if position[slot] == index and energy[slot] > loudest:
                loudest = energy[slot]
        return loudest

    def _any_voice(self, now: int) -> bool:
        """Whether any of our frames that could be echoing while frame ``now`` plays has sound in it: the
        loudest's only question on a clean line, answered at the first one found, newest first (and, while
        we speak, by the one found last time: the newest stays in the window for ``window_ms``, where the
        oldest left it on the next frame)."""
        low, high = now - self._behind, now + self._ahead
        sound, position, found = self._sound, self._position, self._voice_found
        if low <= found <= high and position[found % _SLOTS] == found and sound[found % _SLOTS]:
            return True
        for index in range(high, max(0, low) - 1, -1):
            slot = index % _SLOTS
            if position[slot] == index and sound[slot]:
                self._voice_found = index
                return True
        return False

    def echo_level_db(self) -> float:
        """How loud our voice comes back on this line, relative to the reference (dB): what the frames taken
        for echo say, and never more than ``_FOUND_SLACK_DB`` under the level found with the delay (nor,
        for that floor, over the level assumed at first).

        The frames taken for echo alone can teach it a level far too low, for good. The reference is the
        loudest of our frames over ``window_ms``, and where Twilio plays our audio later than the estimate
        (a busy server, a slow network) the first frames of each reply are compared with our voice before
        its echo has come back: on a hissy speakerphone line at 40 calls it learned -35 dB on echo lines of
        -20 dB. Then the echo itself stood above the level, never taught it again, and paused the agent."""
        if len(self._ratios) < self._min_history:
            return self._assumed_db
        if self._level_db is None or self._new_ratios >= _RELEARN_EVERY:
            self._level_db = percentile(np.fromiter(self._ratios, dtype=np.float64, count=len(self._ratios)), 90)
            if self.found_level_db is not None:
                self._level_db = max(self._level_db, min(self.found_level_db - _FOUND_SLACK_DB, self._assumed_db))
            self._new_ratios = 0
        return self._level_db

    def hear(self, pcm: np.ndarray) -> tuple[np.ndarray, bool]:
        """One inbound frame: the frame for the VAD (our echo taken out once the canceller is trusted), and
        whether it is still only our own voice coming back."""
        self._media_ms += FRAME_MS
        now = self._playing_frame()
        if self._tail_left:
            self._tail_left -= 1  # one inbound frame of the tail has passed
        reference: float | None = None
        unknown = self.line_echoes is None  # as the frame came: a clean line judged again has already heard it
        if self.line_echoes is False:
            # On a line found clean (most lines) nothing is masked: whether we are speaking is all this frame
            # needs, and the frame is kept, unmeasured, if the next judgement will see it. Our audio's run is not
            # counted (the canceller has let go of the line): should the line start to echo, a new run starts.
            self._run_offset = None
            self.speaking = now is not None and self._any_voice(now)
            if not self.speaking or self._now_playing is None:
                return pcm, False
            if self._listen_for_echo(pcm, self._now_playing // FRAME_MS) is False:  # still clean: nothing masked
                return pcm, False
        else:
            reference = 0.0 if now is None else self._loudest(now)
            self.speaking = reference > 0.0
            if not self.speaking or now is None:
                self._run_offset = None  # the next of our audio to play starts a new run
                return pcm, False
        assert now is not None  # speaking
        if reference is None:  # a clean line judged again on this frame: it no longer looks clean
            reference = self._loudest(now)
        self._count_the_run()
        samples = pcm.astype(np.float64)
        energy = float(np.dot(samples, samples)) / max(len(samples), 1)
        ratio_db = 10 * math.log10(max(energy, 1.0) / reference)
        level = self.echo_level_db()
        echo = ratio_db < level + self._margin_db
        # Until the line is known, a frame louder than our echo can be (the caller talking over us) is left out
        # of the judgement: a caller who asked a question over the greeting, on a speakerphone, had the line
        # judged clean on their words, and then our reply's echo was theirs. "Can be": by the level assumed at
        # first when the one learned is lower (it may have been learned too low, which the judgement repairs).
        playing = self._now_playing
        if (
            unknown
            and playing is not None
            and ratio_db < max(level, self._assumed_db) + self._margin_db
            and self._listen_for_echo(pcm, playing // FRAME_MS) is False  # kept, and judged if due: clean
        ):
            return pcm, False  # found clean on this very frame: nothing is masked
        if echo:  # frames above the level (the caller) never teach it
            self._ratios.append(ratio_db)
            self._new_ratios += 1
        if self.canceller is None:
            return pcm, echo
        return self._cancelled(pcm, echo, energy)

    # -- our voice taken out -------------------------------------------------------------------------------
    def _cancelled(self, pcm: np.ndarray, echo: bool, heard: float) -> tuple[np.ndarray, bool]:
        """The loudness rule's verdict ``echo``; or, once the canceller is trusted, the verdict on what it
        leaves of the frame (louder than the line's noise and the echo it misses: the caller), with that
        frame (``heard``: its energy). Only frames found to be echo teach the canceller, so a caller never
        bends its path."""
        canceller = self.canceller
        assert canceller is not None
        counted = self._run_position()
        if counted is None:
            return pcm, echo
        playing_ms, heard_until = counted
        teach = echo and heard_until is None  # not in the tail: what we queued after the cut never played
        if self.line_echoes is True and self.echo_lag_frames is not None and not canceller.has_path:
            self._since_locate += 1
            if self._since_locate >= self._locate_every and canceller.locate(self.echo_lag_frames):
                self._since_locate = 0
                # A path it cannot cover (a room) stays so: look again less and less often, up to 10 s.
                self._locate_every = self._judge_every if canceller.active else min(self._locate_every * 2, 500)
        if not canceller.active:
            if teach:
                canceller.echo_frame(pcm, playing_ms)
            self._settling = _SETTLE_FRAMES
            return pcm, echo
        cancelled = canceller.cancel(pcm, playing_ms, heard_until)
        if cancelled is None:  # a refit found it no longer cancels, or it no longer holds what played
            return pcm, echo
        left, taken, missed = cancelled
        left_energy = float(np.dot(left, left)) / len(left)
        if taken > heard / 4 and left_energy > heard:
            # It took out a good part of the frame and left more than was there: what it took out is not
            # what played (a gap in Twilio's play-out too short to show in the estimate). Align again.
            self._misaligned += 1
            if self._misaligned >= _MISALIGNED_FRAMES:
                canceller.new_run()
                self._misaligned = 0
            return pcm, echo
        self._misaligned = 0
        cleaned = np.rint(left)  # np.clip(np.round(left), ...) without np.clip's Python wrapper (half the cost)
        np.minimum(np.maximum(cleaned, -32768.0, out=cleaned), 32767.0, out=cleaned)
        cleaned = cleaned.astype(np.int16)
        if self._settling > 0:
            # The VAD heard our echo until now, and its memory of it fades over a few frames: the loudness
            # rule still decides meanwhile, or that memory would start an utterance.
            self._settling -= 1
            if teach:
                canceller.echo_frame(pcm, playing_ms)
            return cleaned, echo
        # By the fit's own account, an echo frame leaves the line's noise and the echo it misses; a caller
        # leaves more. A frame that leaves no more is echo only while what is left of our echo may be heard
        # over the line's noise: below it, the VAD hears the line as it would with no echo at all.
        expected = canceller.noise + missed
        louder = 10 * math.log10(max(left_energy, 1.0) / expected) >= self._left_margin_db
        if not louder and heard_until is None:
            canceller.echo_frame(pcm, playing_ms)
        # ``missed`` is the fit's estimate; a frame's own can be ~10 dB above it (in-sample fits flatter).
        audible = missed * _MISSED_SPREAD > canceller.noise
        return cleaned, not louder and audible

    def _count_the_run(self) -> None:
        """Count where our audio playing now sits in media time from the start of this run of it. The
        pacer's estimate is wall-clock and moves with when the inbound frames arrive; the inbound frames
        carry Twilio's clock, which plays our audio. A new run (or an estimate that moved away from the
        count: Twilio's buffer ran dry) anchors the count again, and the canceller aligns on it."""
        was_playing, self._was_playing = self._was_playing, self._now_playing is not None
        if self._now_playing is None:
            return  # the tail: the count goes on from the run's anchor
        counted = None if self._run_offset is None else self._media_ms + self._run_offset
        # After a tail (Twilio's buffer ran dry, however briefly) play-out restarts on a new anchor.
        if counted is None or not was_playing or abs(self._now_playing - counted) > _REANCHOR_MS:
            self._run_offset = self._now_playing - self._media_ms
            counted = self._now_playing
            if self.canceller is not None:
                self.canceller.new_run()
        self._run_playing = counted

    def _run_position(self) -> tuple[int, int | None] | None:
        """This frame's position in the run's count, and where our audio was cut (None while it plays);
        None when no run was counted (a tail with no frame of ours before it)."""
        if self._run_offset is None:
            return None
        position = self._media_ms + self._run_offset
        if self._now_playing is None:  # the tail: time goes on past the last position that played
            return position, self._run_playing  # it had played up to there
        return position, None

    # -- does our voice come back at all? ----------------------------------------------------------------
    def _listen_for_echo(self, pcm: np.ndarray, playing_frame: int) -> bool | None:
        """Keep the frame for the next judgement, and judge the line when it is due. Returns whether the line
        echoes, as now known (None: not known)."""
        self._unjudged += 1
        every = self._judge_every * (5 if self._clean_streak >= 3 else 1)  # an echo may still appear later
        # A judgement sees only the latest ``sample_window`` frames: judged less often than that (a line found
        # clean), the frames before them are never seen, and keeping them costs a busy server (~2 µs a frame).
        if self._unjudged > every - self._sample_window:
            slot = self._next_kept  # measured when judged, not as it comes
            self._heard[slot], self._heard_at[slot] = pcm, playing_frame
            self._next_kept = (slot + 1) % self._sample_window
            self._kept = min(self._kept + 1, self._sample_window)
        if self._kept < self._min_samples or self._unjudged < every:
            return self.line_echoes
        self._unjudged = 0
        score = self.echo_correlation()
        if score >= self._echo_corr:
            self.line_echoes = True  # for the rest of the call
            self.found_level_db = self._level_found
            self._level_db = None  # taken again with it
        elif score < self._clean_corr and self._paired_at_best >= self._min_samples:
            self.line_echoes = False
            if self.canceller is not None:
                self.canceller.forget(self._last_playing)
            self._clean_streak += 1
        else:
            self.line_echoes = None
            self._clean_streak = 0
        return self.line_echoes

    def echo_correlation(self) -> float:
        """The best correlation, over the delays the guard allows for, between the inbound frames'
        loudness (dB) and the loudness of our frames that played that much earlier."""
        if not self._kept:
            return 0.0
        if self._unmeasured:
            self._measure()
        # The ring's frames oldest first (the order the sums below were always taken in).
        order = np.arange(self._next_kept - self._kept, self._next_kept) % self._sample_window
        samples = self._heard[order].astype(np.float64)
        heard = 10 * np.log10(np.maximum(np.einsum("ij,ij->i", samples, samples) / samples.shape[1], 1.0))
        index = self._heard_at[order][:, None] - self._lags[None, :]
        slots = index & (_SLOTS - 1)  # ``% _SLOTS`` (a power of two), without the division
        position = np.frombuffer(self._position, dtype=np.int64)
        weight = ((index >= 0) & (position[slots] == index)).astype(np.float64)
        # Each slot's loudness once (1,024 logarithms), then looked up for every frame and delay (~4,000).
        ours = (10 * np.log10(np.maximum(np.frombuffer(self._energy, dtype=np.float64), 1.0)))[slots]
        count = weight.sum(axis=0)
        usable = count >= self._min_samples // 2  # the longest delays have fewer of our frames to pair with
        if not usable.any():
            return 0.0
        count = np.maximum(count, 1.0)
        ours_d = (ours - (ours * weight).sum(axis=0) / count) * weight
        heard_d = (heard[:, None] - (heard[:, None] * weight).sum(axis=0) / count) * weight
        spread = np.sqrt((ours_d**2).sum(axis=0) * (heard_d**2).sum(axis=0))
        r = np.where(usable & (spread > 0), (ours_d * heard_d).sum(axis=0) / np.maximum(spread, 1e-12), 0.0)
        best = int(np.argmax(r))
        self.echo_lag_frames = int(self._lags[best])
        paired = weight[:, best] > 0
        self._paired_at_best = int(paired.sum())
        if paired.any():
            ours_at, heard_at = ours[paired, best], heard[paired]
            loudest = ours_at >= percentile(ours_at.copy(), 75)
            self._level_found = median(heard_at[loudest] - ours_at[loudest])
        return float(r[best])
