"""One Silero VAD model per process, run on the windows of all live calls at once.

Silero scores 32 ms windows (256 samples at 8 kHz, plus 32 samples of the previous window as context) and
carries a recurrent state from one window to the next. Run one window at a time it costs ~90 µs; run as a
batch of 40 or 100 windows it costs ~30 µs a window, because the model's fixed overhead is paid once per
run. So every call's due window waits for the next *tick* (``tick_ms``), and one ONNX run scores them all,
each call keeping its own state (a column of the batched state tensor). A window never waits longer than
one tick; when every call that has been active lately has a window waiting, the run starts at once (a lone
call, as in tests and small businesses, never waits at all).

The model file ships inside the ``silero-vad`` package (installed without its PyTorch dependency, which
serves an API we do not use): nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import math
import time
from pathlib import Path

import numpy as np

from voice import metrics

WINDOW_SAMPLES = 256  # 32 ms at 8 kHz: the window Silero is trained on at this rate
CONTEXT_SAMPLES = 32  # the end of the previous window, prepended to each window
_STATE_SHAPE = (2, 1, 128)
_ACTIVE_S = 0.1  # a stream that submitted within this long is expected to submit again this tick


def model_path() -> Path:
    """The ONNX model inside the installed ``silero-vad`` distribution (found without importing the
    package, whose ``__init__`` imports PyTorch)."""
    try:
        path = Path(str(importlib.metadata.distribution("silero-vad").locate_file("silero_vad/data/silero_vad.onnx")))
    except importlib.metadata.PackageNotFoundError as exc:
        raise RuntimeError("the silero-vad package is not installed (see requirements-models.txt)") from exc
    if not path.is_file():
        raise RuntimeError(f"the Silero model is missing from the silero-vad package: {path}")
    return path


class SileroBatch:
    """The process's Silero model and the windows waiting for its next run."""

    def __init__(self, path: Path | None = None, *, tick_ms: int = 20) -> None:
        import onnxruntime  # imported here: a process that never scores with Silero does not load it

        options = onnxruntime.SessionOptions()
        # One thread: a call server runs one event loop per process; ONNX's own thread pool would fight
        # the other processes (and daphne's loop) for the same cores.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._model = onnxruntime.InferenceSession(
            str(path or model_path()), options, providers=["CPUExecutionProvider"]
        )
        self._rate = np.array(8000, dtype=np.int64)
        self._tick_s = tick_ms / 1000
        self._pending: list[tuple[SileroStream, np.ndarray, asyncio.Future[float]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_seen: dict[int, float] = {}  # stream id -> loop time of its latest window
        # The earliest time in ``_last_seen`` (or earlier): the roll is pruned only once that is older than
        # ``_ACTIVE_S``, not by a pass over it on every window (40 calls: 40 x 40 a tick).
        self._oldest = math.inf
        self.runs = 0  # ONNX runs so far
        self.windows = 0  # windows scored so far
        self.cpu_s = 0.0  # CPU the runs took (this thread's)

    def stream(self) -> SileroStream:
        """A call's own recurrent state in this batch."""
        return SileroStream(self)

    def score(self, stream: SileroStream, window: np.ndarray) -> asyncio.Future[float]:
        """The speech probability of one window (float32 samples in -1..1), scored with the next run: a future
        to await, not a coroutine, so that the window is in the batch at once and a caller that waits for
        it resumes with one frame fewer (this runs for every window of every call that speaks)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests): windows of a finished loop are void
            self._drop_pending()
            self._loop = loop
        future: asyncio.Future[float] = loop.create_future()
        self._pending.append((stream, window, future))
        now = loop.time()
        if now - self._oldest > _ACTIVE_S:  # a call in the roll may have gone quiet
            self._prune(now)
        self._last_seen[id(stream)] = now
        self._oldest = min(self._oldest, now)
        if len(self._pending) >= len(self._last_seen):  # every call active lately has a window waiting
            self._run()
        elif self._timer is None:
            self._timer = loop.call_later(self._tick_s, self._run)
        return future

    def forget(self, stream: SileroStream) -> None:
        self._last_seen.pop(id(stream), None)

    def _run(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        streams = [stream for stream, _, _ in batch]
        inputs = np.empty((len(batch), CONTEXT_SAMPLES + WINDOW_SAMPLES), dtype=np.float32)
        for row, (stream, window, _) in zip(inputs, batch, strict=True):
            row[:CONTEXT_SAMPLES] = stream.context
            row[CONTEXT_SAMPLES:] = window
        state = np.concatenate([stream.state for stream in streams], axis=1)
        started = time.thread_time()  # CPU, not wall time: what the operator's budget is counted in
        try:
            probabilities, new_state = self._model.run(None, {"input": inputs, "state": state, "sr": self._rate})
        except Exception as exc:  # the callers fall back to webrtcvad
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        cpu_s = time.thread_time() - started
        metrics.vad_run(len(batch), cpu_s)
        self.runs += 1
        self.windows += len(batch)
        self.cpu_s += cpu_s
        scores = probabilities[:, 0].tolist()
        for i, ((stream, window, future), probability) in enumerate(zip(batch, scores, strict=True)):
            stream.state = new_state[:, i : i + 1, :]
            stream.context = window[-CONTEXT_SAMPLES:]
            if not future.done():
                future.set_result(probability)

    def _prune(self, now: float) -> None:
        """The roll of active streams: streams of calls gone quiet or ended drop out."""
        self._last_seen = {key: seen for key, seen in self._last_seen.items() if now - seen <= _ACTIVE_S}
        self._oldest = min(self._last_seen.values(), default=math.inf)

    def _drop_pending(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for _, _, future in self._pending:
            future.cancel()
        self._pending = []
        self._last_seen.clear()
        self._oldest = math.inf


class SileroStream:
    """One call's place in the batch: its recurrent state and the context carried between windows."""

    def __init__(self, batch: SileroBatch) -> None:
        self._batch = batch
        self.reset()

    def reset(self) -> None:
        """Start afresh (after a long stretch with no window scored, the old state describes other audio)."""
        self.state = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self.context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)

    def score(self, window: np.ndarray) -> asyncio.Future[float]:
        """This window's speech probability, to await (``SileroBatch.score``)."""
        return self._batch.score(self, window)

    def skip(self, window: np.ndarray) -> None:
        """A window not scored: it still is the next window's context."""
        self.context = window[-CONTEXT_SAMPLES:]

    def close(self) -> None:
        self._batch.forget(self)
