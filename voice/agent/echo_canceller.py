"""Our own voice taken out of the caller's line, once we know where it comes back.

The ``EchoGuard`` can only mask a frame whole: on a line that echoes, a caller's quiet first syllables under
our loud ones are taken for echo, and the agent stops 300-900 ms late. But the echo is our own audio, which
we hold sample for sample, coming back through a short, slowly changing path (the caller's phone, the
network). Once the guard has found the delay to the nearest frame (the loudness correlation that tells it
the line echoes), this module:

1. **locates** the echo to the sample: the cross-correlation of the inbound samples with ours, over the
   frames the guard took for echo, within a frame either side of the guard's delay;
2. **fits** the path around that delay: ``taps`` weights (4 ms), by least squares over those frames, and
   fits again every ``refit_frames`` frames of echo so it follows the line;
3. **cancels**: each inbound frame minus our audio through that path. What is left is the caller and the
   line's noise, and whatever of our voice the fit could not explain.

It is trusted only when it takes our echo down into the line's noise, even where our voice is loudest
(``max_excess_db``): a longer path than ``taps`` (a room's reverberation on a speakerphone) leaves an echo
that the VAD would hear as a voice, and then the guard masks as it did without a canceller. If a refit finds
it no longer cancels (the play-out estimate moved, the caller moved the phone), it stops until it has
located the echo again. A fixed path between fits, fitted only on frames found to be echo, is why no
double-talk detector is needed: a caller talking over us never bends the filter.

Cost, on a line that echoes only (a clean line pays one copy of what we send): ~15 µs a frame to cancel,
~2 ms a fit, ~3 ms to locate. Least squares and one ``np.convolve`` per frame, not a per-sample NLMS loop,
because Python pays per call, not per multiply.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from voice.audio.frames import FRAME_BYTES, FRAME_MS, SAMPLE_RATE

_SLOTS = 512  # ~10 s of our audio, by outbound frame position
_SAMPLES_PER_MS = SAMPLE_RATE // 1000
_MULAW_FLOOR = 10 ** (-35 / 10)  # the share of an echo's energy that mu-law's rounding leaves, at least


class EchoCanceller:
    def __init__(
        self,
        *,
        taps: int = 32,  # the path's length: 4 ms
        lead: int = 8,  # taps before the located delay (1 ms): the peak is not always the path's start
        fit_frames: int = 50,  # the frames of echo a fit uses: one second
        refit_frames: int = 250,  # a path in use is fitted again after this many more (5 s)
        min_erle_db: float = 6.0,  # cancels less than this: not trusted (a wrong delay cancels ~0 dB)
        max_excess_db: float = 1.5,  # what it may leave of our loudest frames' echo, over the line's noise
        ridge: float = 1e-3,
    ) -> None:
        self._taps, self._lead = taps, lead
        self._min_erle_db = min_erle_db
        self._max_excess_db = max_excess_db
        self._ridge = ridge
        self._ours = np.zeros((_SLOTS, FRAME_BYTES), dtype=np.int16)  # our audio, by outbound frame position
        self._position = np.full(_SLOTS, -1, dtype=np.int64)  # which outbound frame each slot holds
        # Frames taken for echo: the inbound samples, and our sample playing as they came.
        self._echo_frames: deque[tuple[np.ndarray, int]] = deque(maxlen=fit_frames)
        self._fresh = 0  # echo frames since the last fit
        self._refit_frames = refit_frames
        self.delay: int | None = None  # located delay, in samples after the play-out estimate
        self._weights: np.ndarray | None = None
        self.erle_db: float | None = None  # how much the latest fit cancelled, on the frames it was fitted on
        self.noise = 1.0  # the line's noise (mean square), as the latest fit found it
        self.missed = 1.0  # the share of the echo's energy the latest fit leaves
        self.excess_db = 0.0  # what the latest fit left of our loudest frames, over the line's noise (dB)

    @property
    def active(self) -> bool:
        """The latest fit cancels our echo: what it leaves of a frame is what the caller's line carries."""
        return self._weights is not None

    def sent(self, pcm: np.ndarray, position_ms: int) -> None:
        """Whole frames of ours (int16 samples), queued at outbound ``position_ms``."""
        first = position_ms // FRAME_MS
        count = len(pcm) // FRAME_BYTES
        index = np.arange(first, first + count)
        self._ours[index % _SLOTS] = pcm[: count * FRAME_BYTES].reshape(count, FRAME_BYTES)
        self._position[index % _SLOTS] = index

    def echo_frame(self, pcm: np.ndarray, playing_ms: int) -> None:
        """An inbound frame (int16) found to be our echo, heard while ``playing_ms`` of ours played."""
        self._echo_frames.append((pcm.copy(), playing_ms * _SAMPLES_PER_MS))
        self._fresh += 1

    def forget(self) -> None:
        """The line does not echo: let go of the frames kept to find the echo."""
        self._echo_frames.clear()

    def locate(self, lag_frames: int) -> None:
        """Find the echo to the sample near the guard's delay (in frames), and fit the path there."""
        if len(self._echo_frames) < self._echo_frames.maxlen // 2:  # type: ignore[operator]
            return
        low, high = (lag_frames - 1) * FRAME_BYTES, (lag_frames + 1) * FRAME_BYTES
        span = FRAME_BYTES + high - low
        score = np.zeros(high - low + 1)
        power = np.zeros(high - low + 1)
        for y, start in self._echo_frames:
            ours = self._ours_samples(start - high, span)
            # Entry r pairs the frame with our samples ``high - r`` before it.
            score += np.correlate(ours, y.astype(np.float64), "valid")
            running = np.concatenate(([0.0], np.cumsum(ours * ours)))
            power += running[FRAME_BYTES:] - running[:-FRAME_BYTES]
        if not power.any():
            return
        self.delay = int(high - np.argmax(np.abs(score) / np.sqrt(np.maximum(power, 1.0))))
        self._fit()

    def cancel(self, pcm: np.ndarray, playing_ms: int, heard_until_ms: int | None = None) -> tuple[np.ndarray, float]:
        """``pcm`` (an inbound frame heard while ``playing_ms`` of ours played; none of ours from
        ``heard_until_ms`` on, when our audio was cut there) minus our echo (float samples), and the energy
        (mean square) of the echo the fit misses in it. Only while ``active``; ``pcm`` itself when a refit
        finds it no longer is."""
        if self._fresh >= self._refit_frames:
            self._fit()
        if self._weights is None:
            return pcm, 0.0
        until = None if heard_until_ms is None else heard_until_ms * _SAMPLES_PER_MS
        echo = np.convolve(self._window(playing_ms * _SAMPLES_PER_MS, until), self._weights, "valid")
        return pcm - echo, self.missed * float(np.dot(echo, echo)) / FRAME_BYTES

    # -- the path ------------------------------------------------------------------------------------------
    def _fit(self) -> None:
        """Least squares over the frames taken for echo: the weights that best turn our audio into them. A
        refit that cancels less than the path in use (a caller's frame among them) keeps the one in use."""
        self._fresh = 0
        if self.delay is None or not self._echo_frames:
            return
        # Row n, column k: our sample that tap k (delay - lead + k) puts at inbound sample n.
        rows = [sliding_window_view(self._window(start), self._taps)[:, ::-1] for _, start in self._echo_frames]
        a = np.concatenate(rows)
        y = np.concatenate([frame for frame, _ in self._echo_frames]).astype(np.float64)
        gram = a.T @ a
        gram += self._ridge * max(float(np.trace(gram)), 1.0) / self._taps * np.eye(self._taps)
        candidates = [np.linalg.solve(gram, a.T @ y)]
        if self._weights is not None:
            candidates.append(self._weights)
        # Judged where our echo is loudest (the loudest quarter of the frames, by our audio through the path):
        # elsewhere a weak echo is lost in the line's noise, cancelled or not.
        y = y.reshape(-1, FRAME_BYTES)
        judged = []
        for weights in candidates:
            echo = (a @ weights).reshape(-1, FRAME_BYTES)
            loudest = np.mean(echo**2, axis=1) >= np.percentile(np.mean(echo**2, axis=1), 75)
            judged.append((_erle_db(y[loudest], echo[loudest]), weights, echo))
        self.erle_db, weights, echo = max(judged, key=lambda j: j[0])
        # What is left of an echo frame: the line's noise, plus a share of the echo the fit misses.
        power = np.mean(echo**2, axis=1)
        left = np.mean((y - echo) ** 2, axis=1)
        self.noise = max(float(np.percentile(left, 20)), 1.0)  # the quietest frames: the line alone
        # What it leaves beyond the noise where our echo is loudest, as a share of that echo; never less than
        # the line's own rounding (mu-law keeps a loud echo only ~38 dB over it).
        loudest = power >= np.percentile(power, 75)
        above = float(np.sum(np.maximum(left[loudest] - self.noise, 0.0)))
        self.missed = min(max(above / max(float(np.sum(power[loudest])), 1.0), _MULAW_FLOOR), 1.0)
        # Trusted only when our echo is down in the line's noise where our voice is loudest: on the corpus, a
        # path it covers leaves those frames 0-1.2 dB above the noise; a 30 ms room 1-24 dB, a 5 ms one
        # 2.3 dB, and then the VAD heard what was left. (So on a line with almost no noise, where what is
        # left of a loud echo stands above it, it declines too.)
        self.excess_db = float(10 * np.log10(max(float(np.median(left[loudest])), 1.0) / self.noise))
        trusted = self.erle_db >= self._min_erle_db and self.excess_db <= self._max_excess_db
        self._weights = weights if trusted else None

    def _window(self, start: int, until: int | None = None) -> np.ndarray:
        """Our samples that the path's taps see over the inbound frame whose first sample came while our
        sample ``start`` played: ``160 + taps - 1`` of them, oldest first."""
        assert self.delay is not None
        back = self._taps - 1 - self._lead  # the longest delay is ``delay + back``
        return self._ours_samples(start - self.delay - back, FRAME_BYTES + self._taps - 1, until)

    def _ours_samples(self, first: int, count: int, until: int | None = None) -> np.ndarray:
        """Our samples ``first`` .. ``first + count`` (outbound sample positions, float); silence where we
        have none, and from ``until`` on."""
        out = np.zeros(count)
        end = first + count if until is None else min(first + count, until)
        for frame in range(max(first, 0) // FRAME_BYTES, (end - 1) // FRAME_BYTES + 1 if end > first else 0):
            if self._position[frame % _SLOTS] != frame:
                continue
            base = frame * FRAME_BYTES
            lo, hi = max(first, base), min(end, base + FRAME_BYTES)
            out[lo - first : hi - first] = self._ours[frame % _SLOTS, lo - base : hi - base]
        return out


def _erle_db(y: np.ndarray, echo: np.ndarray) -> float:
    """How much quieter ``y`` is once ``echo`` is taken out of it (dB)."""
    left = y - echo
    return float(10 * np.log10(max(float(np.sum(y * y)), 1.0) / max(float(np.sum(left * left)), 1.0)))
