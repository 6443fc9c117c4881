"""Our own voice taken out of the caller's line, once we know where it comes back.

The ``EchoGuard`` can only mask a frame whole: on a line that echoes, a caller's quiet first syllables under
our loud ones are taken for echo, and the agent stops 300-900 ms late. But the echo is our own audio, which
we hold sample for sample, coming back through a short, slowly changing path (the caller's phone, the
network). Once the guard has found the delay to the nearest frame (the loudness correlation that tells it
the line echoes), this module:

1. **locates** the echo to the sample: the cross-correlation of the inbound samples with ours, over the
   frames the guard took for echo, within a frame (and ``realign_ms``) either side of the guard's delay;
2. **fits** the path: ``taps`` weights (4 ms), by least squares over the frames of echo, and fits again
   every ``refit_frames`` frames of echo so it follows the line;
3. **cancels**: each inbound frame minus our audio through that path. What is left is the caller and the
   line's noise, and whatever of our voice the fit could not explain.

Where our audio plays is known only as well as the pacer's estimate (wall-clock, re-anchored when Twilio's
buffer runs dry). So the guard counts a *run* of our audio in media time (the inbound frames, which carry
Twilio's clock) from one anchor, and every new run is **aligned** again: the path stays, and the delay is
searched within ``realign_ms`` of the last one over the run's first frames of echo. Until then, and
whenever a run cannot be aligned, the guard masks as it did without a canceller. Frames of echo are kept by
the sample of ours their echo starts from, so runs with different anchors fit one path together. Within a
run, Twilio's playout can still **slip** by a few samples (its buffer ran dry for a moment), which no
estimate sees and which a path as sharp as a digital line's leaves most of our voice for: a loud frame it
cancels far worse than its fit says is tried a couple of ms either side, and a slip that the next such frame
agrees on moves the run's delay (``_slipped``).

It is trusted only when it takes our echo down into the line's noise, even where our voice is loudest
(``max_excess_db``), and what it leaves does not rise and fall with our voice (``max_follow``): a longer path
than ``taps`` (a room's reverberation on a speakerphone) leaves an echo that the VAD would hear as a voice,
and that leftover follows our voice's loudness (0.53-0.92 on the corpus's rooms) where the line's noise does
not (-0.5 to 0.33). That second test is what lets it be trusted on a faint echo too: at -30 dB our echo is
only ~5 dB over an ordinary line's noise, so no fit can take out the 6 dB it was once asked for.

If a refit finds it no longer cancels (the caller moved the phone), it stops until it has located the echo
again. A fixed path between fits, fitted only on frames found to be echo, is why no double-talk detector is
needed: a caller talking over us never bends the filter.

Cost, on a line that echoes only: ~13 µs a frame to cancel (a slip looked for: ~0.15 ms more, on such frames
only), ~2 ms a fit, ~3 ms to locate (~1 ms more to judge whether the run's frames were heard over our loud
voice, and while they were not, once every 10 frames of echo), ~1 ms to align a run. Least squares and one
``np.convolve`` per frame, not a per-sample NLMS loop, because Python pays per call, not per multiply.

Memory: 20 s of our audio is 168 kB a call, most of what the turn-taking stack adds to one, and it is read
only once the guard has found the line echoes. Until then the canceller *sleeps*: it keeps our pushes as the
pacer queued them (by reference), only from a second before what plays, or before the oldest frame of echo
it holds, on (``_KEEP_PLAYED_MS``: its search reaches ~550 ms back from a frame). The first read of our audio
wakes it, and those pushes are copied in as they would have been: everything it reads is held as if it had
copied all along. A line found clean (most lines) puts it back to sleep (``forget``).
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from voice.agent.quantiles import median, percentile
from voice.audio.frames import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
from voice.audio.mulaw import DECODE_TABLE, frame_energies

_SLOTS = 1024  # ~20 s of our audio, by outbound frame position (the guard keeps as much)
_SAMPLES_PER_MS = SAMPLE_RATE // 1000
_MULAW_FLOOR = 10 ** (-35 / 10)  # the share of an echo's energy that mu-law's rounding leaves, at least
_ALIGN_PEAKS = 5  # cross-correlation peaks a new run's alignment tries the path at
_ALIGN_SLACK_DB = 6.0
_KEEP_PLAYED_MS = 1000  # asleep: our audio kept this long after it played (a search reaches ~550 ms back)
# A slip of our audio within a run (``EchoCanceller._slipped``): looked for on a frame whose echo stands this
# much over the line's noise (10 dB) and that the path leaves this much more of than its fit says (6 dB),
# within this many samples either side (2 ms).
_SLIP_LOUD = 10.0
_SLIP_POOR = 4.0
_SLIP_SAMPLES = 16
# The echo is located only on frames heard while our voice was loud: their loudest quarter within this much
# (10 dB) of our voice's loud frames (``_loud_enough``). A run heard over a quieter stretch is looked at again
# after this many more of its frames (200 ms).
_QUIET_SET = 10.0
_QUIET_RECHECK_FRAMES = 10
_QUIET_SPAN_FRAMES = 250  # our voice's loud frames are taken within 5 s of the run's (one reply, not a louder one)


class EchoCanceller:
    def __init__(
        self,
        *,
        taps: int = 32,  # the path's length: 4 ms
        lead: int = 8,  # taps before the located delay (1 ms): the peak is not always the path's start
        fit_frames: int = 50,  # the frames of echo a fit uses: one second
        refit_frames: int = 250,  # a path in use is fitted again after this many more (5 s)
        align_frames: int = 15,  # a run's frames of echo to align it on (300 ms)
        realign_ms: int = 30,  # how far a run's anchor may be from the last one's, beyond the path
        min_erle_db: float = 4.0,  # cancels less than this: not trusted (a wrong delay cancels little)
        max_excess_db: float = 1.5,  # what it may leave of our loudest frames' echo, over the line's noise
        max_follow: float = 0.45,  # how closely what it leaves may follow our voice's loudness (a room's tail)
        ridge: float = 1e-3,
    ) -> None:
        self._taps, self._lead = taps, lead
        self._min_erle_db = min_erle_db
        self._max_excess_db = max_excess_db
        self._max_follow = max_follow
        self._ridge = ridge
        # Our audio (mu-law) by frame position, and which outbound frame each slot holds: made on first use,
        # let go of while asleep.
        self._ours: np.ndarray | None = None
        self._position: np.ndarray | None = None
        self._asleep = True  # our audio not read yet (or the line was found clean): pushes kept, not copied in
        self._pushes: deque[tuple[int, bytes]] = deque()  # asleep: (first frame, frames), oldest first
        self._pushed_frames = 0  # in ``_pushes``
        # Frames of echo, by the sample of ours their echo starts from (the run's delay taken off).
        self._fitted: deque[tuple[np.ndarray, int]] = deque(maxlen=fit_frames)
        # This run's frames of echo until it is aligned, by the sample of ours playing as they came.
        self._run: deque[tuple[np.ndarray, int]] = deque(maxlen=fit_frames)
        self._fresh = 0  # frames of echo since the last fit
        self._refit_frames = refit_frames
        self._align_frames = align_frames
        self._realign = realign_ms * _SAMPLES_PER_MS
        self.delay: int | None = None  # this run's: samples from the sample playing to the echo's source
        self._aligned = False  # ``delay`` holds for this run
        self._weights: np.ndarray | None = None
        self.erle_db: float | None = None  # how much the path cancelled where the latest fit's frames are loudest
        self.noise = 1.0  # the line's noise (mean square), as the latest fit found it
        self.missed = 1.0  # the share of the echo's energy the latest fit leaves
        self.excess_db = 0.0  # what the latest fit left of our loudest frames, over the line's noise (dB)
        self.follow = 0.0  # how closely what the latest fit left follows our voice's loudness (correlation)
        self._slip: int | None = None  # the slip the latest frame found (``_slipped``), to be confirmed
        self._quiet_wait = 0  # frames of echo until a run found too quiet to locate the echo on is judged again

    @property
    def active(self) -> bool:
        """A trusted path, aligned on this run: what it leaves of a frame is what the caller's line carries."""
        return self._weights is not None and self._aligned

    @property
    def has_path(self) -> bool:
        """A trusted path, which a new run only needs aligning for (no need to locate the echo again)."""
        return self._weights is not None

    def sent(self, frames: bytes, position_ms: int, playing_ms: int = 0) -> None:
        """Whole 160-byte frames of ours (mu-law), queued at outbound ``position_ms`` while ``playing_ms`` of
        ours played (or last played)."""
        first = position_ms // FRAME_MS
        if not self._asleep:
            self._store(first, frames)
            return
        pushes = self._pushes
        pushes.append((first, bytes(frames)))  # the same object when it is ``bytes`` (a copy of a mutable buffer)
        self._pushed_frames += len(frames) // FRAME_BYTES
        reached = playing_ms if not self._run else min(playing_ms, self._run[0][1] // _SAMPLES_PER_MS)
        needed = (reached - _KEEP_PLAYED_MS) // FRAME_MS  # frames before this one will not be read
        # Never more than the copy would hold (20 s: a reply queued that far ahead overwrites its own start).
        while pushes:
            start, push = pushes[0]
            count = len(push) // FRAME_BYTES
            if start + count > needed and self._pushed_frames - count < _SLOTS:
                break
            pushes.popleft()
            self._pushed_frames -= count

    def _store(self, first: int, frames: bytes) -> None:
        ours, position = self._held()
        count = len(frames) // FRAME_BYTES
        index = np.arange(first, first + count)
        data = np.frombuffer(frames, dtype=np.uint8, count=count * FRAME_BYTES)
        ours[index % _SLOTS] = data.reshape(count, FRAME_BYTES)
        position[index % _SLOTS] = index

    def _held(self) -> tuple[np.ndarray, np.ndarray]:
        """Our audio by frame position, and which frame each slot holds (made, or woken up, when needed)."""
        if self._asleep:
            self._wake()
        if self._ours is None or self._position is None:
            self._ours = np.zeros((_SLOTS, FRAME_BYTES), dtype=np.uint8)
            self._position = np.full(_SLOTS, -1, dtype=np.int64)
        return self._ours, self._position

    def _wake(self) -> None:
        """Our audio is read: the pushes kept while asleep are copied in, in the order they came."""
        self._asleep = False
        pushes, self._pushes, self._pushed_frames = self._pushes, deque(), 0
        for first, frames in pushes:
            self._store(first, frames)

    def new_run(self) -> None:
        """Our audio starts playing from a new anchor: where the echo falls must be found again."""
        self._aligned = False
        self._run.clear()
        self._slip = None
        self._quiet_wait = 0

    def echo_frame(self, pcm: np.ndarray, playing_ms: int) -> None:
        """An inbound frame (int16) found to be our echo, heard while ``playing_ms`` of ours played (by this
        run's anchor)."""
        start = playing_ms * _SAMPLES_PER_MS
        if self._aligned and self.delay is not None:
            delay = self.delay if self._slip is None else self.delay - self._slip  # cancelled at a slip found
            self._fitted.append((pcm.copy(), start - delay))
            self._fresh += 1
            return
        self._run.append((pcm.copy(), start))
        if self._weights is None:
            self._quiet_wait = max(self._quiet_wait - 1, 0)
            return
        if len(self._run) % self._align_frames == 0:
            self._align()
        elif len(self._run) == self._run.maxlen:  # no delay near the last one fits: find the echo afresh
            self._weights = None

    def forget(self, playing_ms: int = 0) -> None:
        """The line does not echo (``playing_ms`` of ours plays, or last played): let go of the frames kept to
        find the echo, and sleep (see the module's note on memory)."""
        self._fitted.clear()
        self._run.clear()
        if self._asleep:
            return
        self._asleep = True
        ours, position, self._ours, self._position = self._ours, self._position, None, None
        if ours is None or position is None:
            return
        # What it holds from a second before ``playing_ms`` on, as pushes of consecutive frames, oldest first.
        kept = np.sort(position[position >= (playing_ms - _KEEP_PLAYED_MS) // FRAME_MS])
        for run in np.split(kept, np.flatnonzero(np.diff(kept) != 1) + 1) if len(kept) else []:
            self._pushes.append((int(run[0]), ours[run % _SLOTS].tobytes()))
            self._pushed_frames += len(run)

    def locate(self, lag_frames: int) -> bool:
        """Find the echo to the sample near the guard's delay (in frames), and fit the path there. False when
        it has not heard enough of this run's echo to look yet, or heard it only over a quiet stretch of our
        voice (``_loud_enough``: judged again after ``_QUIET_RECHECK_FRAMES`` more frames of echo)."""
        if not self._run or len(self._run) < self._run.maxlen // 2 or self._quiet_wait:  # type: ignore[operator]
            return False
        if not self._loud_enough(lag_frames):
            self._quiet_wait = _QUIET_RECHECK_FRAMES
            return False
        # The guard's delay is to the frame, and this run's anchor may be ``realign_ms`` off the estimate's.
        delays = self._search(lag_frames * FRAME_BYTES, FRAME_BYTES + self._realign)
        if delays:
            self._adopt(delays[0])
            self._fit()
        return True

    def _loud_enough(self, lag_frames: int) -> bool:
        """This run's frames were heard while our voice was loud: the loudest quarter of our frames they echo
        (``lag_frames`` back, a frame either side) within ``_QUIET_SET`` of the loud tenth of ours held within
        5 s of them (the reply they echo: another, louder one, such as a stored greeting, does not count).

        A set heard over a quiet stretch (a reply's murmured end, our echo a few dB over the line's hiss)
        cannot tell a right path from a wrong one: a wrong delay found there cancelled 5.5 dB of it, passed the
        4 dB a faint echo needs, and let our loud syllables through whole on the real server (bench/README.md,
        twenty-third session); and a path fitted there on the right delay knows only the tones the murmur had,
        and takes 15-18 dB off our loud echo instead of ~32 (twenty-fourth session). A louder stretch of our
        voice comes within a second or two."""
        ours, position = self._held()
        sources = np.array([start // FRAME_BYTES for _, start in self._run]) - lag_frames
        low, high = max(int(sources.min()) - _QUIET_SPAN_FRAMES, 0), int(sources.max()) + _QUIET_SPAN_FRAMES
        span = (position >= low) & (position <= high)  # held slots only: an empty one's zeros are mu-law's loudest
        energy = np.zeros(_SLOTS)
        energy[span] = frame_energies(ours[span])
        if not energy.any():
            return False
        loud = percentile(energy[energy > 0.0], 90)
        near = sources[:, None] + np.arange(-1, 2)  # the frame the guard's delay points to, and one either side
        held = (near >= 0) & (position[near % _SLOTS] == near)
        heard = np.where(held, energy[near % _SLOTS], 0.0).max(axis=1)
        return percentile(heard, 75) >= loud * 10 ** (-_QUIET_SET / 10)

    def cancel(
        self, pcm: np.ndarray, playing_ms: int, heard_until_ms: int | None = None
    ) -> tuple[np.ndarray, float, float] | None:
        """``pcm`` (an inbound frame heard while ``playing_ms`` of ours played; none of ours from
        ``heard_until_ms`` on, when our audio was cut there) minus our echo (float samples), the energy (mean
        square) of the echo it took out, and of the echo the fit misses in it. None when it cannot say: not
        ``active`` (a refit found it no longer cancels), or what played there is no longer held (queued
        more than 20 s ahead of it)."""
        if self._fresh >= self._refit_frames:
            self._fit()
        if self._weights is None or self.delay is None:
            return None
        until = None if heard_until_ms is None else heard_until_ms * _SAMPLES_PER_MS
        source = playing_ms * _SAMPLES_PER_MS - self.delay
        if not self._holds(source):
            return None
        echo = np.convolve(self._window(source, until), self._weights, "valid")
        power = float(np.dot(echo, echo)) / FRAME_BYTES
        left = pcm - echo
        if until is None and power > self.noise * _SLIP_LOUD:
            left_power = float(np.dot(left, left)) / FRAME_BYTES
            if left_power > (self.noise + self.missed * power) * _SLIP_POOR:
                echo, left = self._slipped(pcm, source, echo, left, left_power)
                power = float(np.dot(echo, echo)) / FRAME_BYTES
            else:
                self._slip = None
        return left, power, self.missed * power

    def _slipped(
        self, pcm: np.ndarray, source: int, echo: np.ndarray, left: np.ndarray, left_power: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """A loud echo this path leaves far more of than it should: our audio may play a few samples later (or
        earlier) than this run was aligned on. Twilio's playout slips so when its buffer runs dry for a moment,
        which the pacer's estimate cannot see, and a path fitted to a sharp echo then takes almost nothing: one
        sample off left 7 dB more of our voice, two left nearly all (bench/README.md, twenty-third session).
        The path is tried ``_SLIP_SAMPLES`` either side; a slip that takes the frame clearly further down is
        used for it (and the frame is kept to fit by it), and once the next frame tried agrees, it is this run's
        delay from then on; a loud frame the path cancels well, a refit or a new run forget it. A caller
        talking over us cannot fake one: no shift of our audio takes their voice out."""
        assert self._weights is not None  # called only from ``cancel``, with a path
        reach = _SLIP_SAMPLES
        wide = self._window(source, reach=reach)
        shifted = sliding_window_view(np.convolve(wide, self._weights, "valid"), FRAME_BYTES)
        remains = np.einsum("ij,ij->i", pcm - shifted, pcm - shifted) / FRAME_BYTES
        best = int(np.argmin(remains))
        if remains[best] * _SLIP_POOR > left_power:  # not clearly better: a caller, or a line that changed
            self._slip = None
            return echo, left
        slip = best - reach  # the echo comes from ``slip`` samples further on in our audio (Twilio played late: < 0)
        if self._slip == slip and self.delay is not None:
            self.delay -= slip
            self._slip = None
        else:
            self._slip = slip
        return shifted[best], pcm - shifted[best]

    # -- where the echo falls --------------------------------------------------------------------------------
    def _search(self, centre: int, radius: int, count: int = 1) -> list[int]:
        """The delays (samples) within ``radius`` of ``centre`` at which this run's frames best match ours,
        best first: ``count`` peaks of the normalised cross-correlation (a voice's pitch makes several)."""
        low, high = centre - radius, centre + radius
        span = FRAME_BYTES + high - low
        score = np.zeros(high - low + 1)
        power = np.zeros(high - low + 1)
        for y, start in self._run:
            ours = self._ours_samples(start - high, span)
            # Entry r pairs the frame with our samples ``high - r`` before it.
            score += np.correlate(ours, y.astype(np.float64), "valid")
            running = np.concatenate(([0.0], np.cumsum(ours * ours)))
            power += running[FRAME_BYTES:] - running[:-FRAME_BYTES]
        if not power.any():
            return []
        match = np.abs(score) / np.sqrt(np.maximum(power, 1.0))
        peaks = np.flatnonzero((match[1:-1] >= match[:-2]) & (match[1:-1] >= match[2:])) + 1
        best = peaks[np.argsort(match[peaks])[::-1][:count]] if len(peaks) else [int(np.argmax(match))]
        return [int(high - r) for r in best]

    def _align(self) -> None:
        """A new run, with the path kept: the delay near the last one at which the path still cancels."""
        assert self._weights is not None and self.delay is not None
        frames = list(self._run)
        y = np.stack([frame for frame, _ in frames]).astype(np.float64)
        judged = []
        for delay in self._search(self.delay, self._realign, count=_ALIGN_PEAKS):
            a = np.concatenate([self._matrix(start - delay) for _, start in frames])
            judged.append((self._judge(y, (a @ self._weights).reshape(-1, FRAME_BYTES)), delay))
        if not judged:
            return
        (erle, *_), delay = max(judged, key=lambda j: j[0][0])
        # The path was trusted when fitted; here only the delay is in question. A wrong one cancels little,
        # the right one about what the fit did (a few frames of other words: within 6 dB of it). (What is
        # left is not asked to stay off our voice here: a caller under it is among the run's frames.)
        if erle >= max(self._min_erle_db, (self.erle_db or 0.0) - _ALIGN_SLACK_DB):
            self._adopt(delay)

    def _adopt(self, delay: int) -> None:
        """This run's echo falls ``delay`` samples back: its frames join the ones the path is fitted on."""
        self.delay, self._aligned = delay, True
        for frame, start in self._run:
            self._fitted.append((frame, start - delay))
        self._run.clear()

    # -- the path ------------------------------------------------------------------------------------------
    def _fit(self) -> None:
        """Least squares over the frames of echo: the weights that best turn our audio into them. A refit
        that cancels less than the path in use (a caller's frame among them) keeps the one in use, and so
        does one on frames the path in use still cancels into the line's noise."""
        self._fresh = 0
        if not self._fitted:
            return
        a = np.concatenate([self._matrix(source) for _, source in self._fitted])
        y = np.stack([frame for frame, _ in self._fitted]).astype(np.float64)
        if self._weights is not None:
            # The path in use leaves nothing of these frames' echo but the line's noise: there is no change in
            # the line to follow, and these frames cannot tell a better path from a worse one. Often they are
            # a reply's quiet end, our echo a few dB over the hiss; a path fitted on them matched them as well
            # (8.2-8.8 dB, all they showed) and replaced one that took 19 dB off a loud echo. On the real
            # server its successors left a reply's loudest syllable 10 dB over the hiss, and the agent paused
            # on it (bench/README.md, twenty-second session).
            # What it showed on them is what they could show: a new run, which may start as quietly, is aligned
            # against that (``_align``), not against what a louder second once showed.
            erle, excess, noise, missed, follow = self._judge(y, (a @ self._weights).reshape(-1, FRAME_BYTES))
            if excess <= self._max_excess_db and follow <= self._max_follow:
                self.erle_db, self.excess_db, self.noise, self.missed, self.follow = erle, excess, noise, missed, follow
                return
        self._slip = None  # found with the path in use: the path may change here
        gram = a.T @ a
        gram += self._ridge * max(float(np.trace(gram)), 1.0) / self._taps * np.eye(self._taps)
        candidates = [np.linalg.solve(gram, a.T @ y.ravel())]
        if self._weights is not None:
            candidates.append(self._weights)
        judged = [(self._judge(y, (a @ w).reshape(-1, FRAME_BYTES)), w) for w in candidates]
        (erle, excess, noise, missed, follow), weights = max(judged, key=lambda j: j[0][0])
        self.erle_db, self.excess_db, self.noise, self.missed, self.follow = erle, excess, noise, missed, follow
        if erle >= self._min_erle_db and excess <= self._max_excess_db and follow <= self._max_follow:
            self._weights = weights
        else:  # no longer cancels: look for the echo afresh, on frames heard from now on
            self._weights = None
            self._aligned = False
            self._fitted.clear()

    @staticmethod
    def _judge(y: np.ndarray, echo: np.ndarray) -> tuple[float, float, float, float, float]:
        """How well ``echo`` (frames of our audio through a path) explains the frames ``y``, where our echo
        is loudest (the loudest quarter): there a weak echo is not lost in the noise. Returns how much it
        cancels there (dB), how far above the line's noise it leaves those frames (dB), the line's noise,
        the share of the echo it leaves, and, over all the frames, how closely what it leaves follows the
        echo's loudness (the correlation of the two in dB: an echo it does not cover follows it, noise does
        not).

        Trusted paths leave our loudest frames within 0-1.2 dB of the noise on the corpus; a 30 ms room 1-24
        dB, a 5 ms one 2.3 dB, and then the VAD heard what was left. (So on a line with almost no noise, where
        what is left of a loud echo stands above it, it is not trusted.)"""
        power = np.mean(echo**2, axis=1)
        heard = np.mean(y**2, axis=1)
        left = np.mean((y - echo) ** 2, axis=1)
        loudest = power >= percentile(power.copy(), 75)
        erle = float(10 * np.log10(max(float(np.sum(heard[loudest])), 1.0) / max(float(np.sum(left[loudest])), 1.0)))
        noise = max(percentile(left.copy(), 20), 1.0)  # the quietest frames: the line alone
        excess = float(10 * np.log10(max(median(left[loudest]), 1.0) / noise))
        # What it leaves beyond the noise, as a share of that echo; never less than the line's own rounding
        # (mu-law keeps a loud echo only ~38 dB over it).
        above = float(np.sum(np.maximum(left[loudest] - noise, 0.0)))
        missed = min(max(above / max(float(np.sum(power[loudest])), 1.0), _MULAW_FLOOR), 1.0)
        left_db, echo_db = 10 * np.log10(np.maximum(left, 1.0)), 10 * np.log10(np.maximum(power, 1.0))
        spread = float(left_db.std() * echo_db.std())
        follow = float(np.mean((left_db - left_db.mean()) * (echo_db - echo_db.mean()))) / spread if spread else 0.0
        return erle, excess, noise, missed, follow

    def _matrix(self, source: int) -> np.ndarray:
        """160 x ``taps``: row n, column k holds our sample that tap k (``lead`` before the source, onward)
        puts at inbound sample n."""
        return sliding_window_view(self._window(source), self._taps)[:, ::-1]

    def _window(self, source: int, until: int | None = None, *, reach: int = 0) -> np.ndarray:
        """Our samples that the path's taps see over an inbound frame whose echo starts from our sample
        ``source``: ``160 + taps - 1`` of them, oldest first (``reach`` more either side: for every source
        within ``reach`` of it)."""
        back = self._taps - 1 - self._lead  # the longest delay is ``back`` beyond the source
        return self._ours_samples(source - back - reach, FRAME_BYTES + self._taps - 1 + 2 * reach, until)

    def _holds(self, source: int) -> bool:
        """Our audio around ``source`` (an outbound sample position) is still held, not overwritten."""
        frame = max(source, 0) // FRAME_BYTES
        return bool(self._held()[1][frame % _SLOTS] == frame)

    def _ours_samples(self, first: int, count: int, until: int | None = None) -> np.ndarray:
        """Our samples ``first`` .. ``first + count`` (outbound sample positions, float); silence where we
        have none, and from ``until`` on."""
        ours, position = self._held()
        out = np.zeros(count)
        end = first + count if until is None else min(first + count, until)
        for frame in range(max(first, 0) // FRAME_BYTES, (end - 1) // FRAME_BYTES + 1 if end > first else 0):
            if position[frame % _SLOTS] != frame:
                continue
            base = frame * FRAME_BYTES
            lo, hi = max(first, base), min(end, base + FRAME_BYTES)
            out[lo - first : hi - first] = DECODE_TABLE[ours[frame % _SLOTS, lo - base : hi - base]]
        return out
