"""Sample-rate conversion of int16 mono audio with soxr (TTS gives 16/24 kHz, Twilio wants 8 kHz)."""

from __future__ import annotations

import numpy as np
import soxr  # no type hints: what it returns is annotated where we return it


def resample(pcm: np.ndarray, from_rate: int, to_rate: int, *, quality: str = "HQ") -> np.ndarray:
    """Resample a whole int16 mono signal."""
    samples = np.ascontiguousarray(pcm, dtype=np.int16)
    if from_rate == to_rate or samples.size == 0:
        return samples.copy()
    resampled: np.ndarray = soxr.resample(samples, from_rate, to_rate, quality=quality)
    return resampled


class StreamResampler:
    """Resample int16 audio arriving in chunks (streamed TTS) without clicks at chunk borders.

    soxr keeps filter state between chunks; ``flush`` returns the samples it still holds.
    """

    def __init__(self, from_rate: int, to_rate: int, *, quality: str = "HQ") -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._passthrough = from_rate == to_rate
        self._stream = None
        if not self._passthrough:
            self._stream = soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16", quality=quality)

    def push(self, pcm: np.ndarray) -> np.ndarray:
        samples = np.ascontiguousarray(pcm, dtype=np.int16)
        if self._stream is None:
            return samples.copy()
        chunk: np.ndarray = self._stream.resample_chunk(samples, last=False)
        return chunk

    def flush(self) -> np.ndarray:
        if self._stream is None:
            return np.zeros(0, dtype=np.int16)
        rest: np.ndarray = self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        return rest
