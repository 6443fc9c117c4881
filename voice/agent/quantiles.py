"""``np.percentile`` and ``np.median`` of a small float64 array with no NaN, to the last bit, by a partial sort.

numpy's own functions go through machinery (argument checks, a copy, a general ``quantile`` path) that cost
more than the arithmetic on the arrays the echo guard and canceller ask about (tens to a few hundred values):
~10 µs a frame where the guard's learned level is taken every 10 frames, and most of a judgement of the
line. Both reorder ``values`` in place: pass a copy when its order still matters.
"""

from __future__ import annotations

import numpy as np


def percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear between the two nearest); ``values`` is reordered."""
    if not len(values):
        raise ValueError("the percentile of no values")
    position = q / 100 * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    values.partition((low, high))
    below, above, t = float(values[low]), float(values[high]), position - low
    return above - (above - below) * (1 - t) if t >= 0.5 else below + (above - below) * t  # numpy's own lerp


def median(values: np.ndarray) -> float:
    """``np.median(values)``: the middle value, or the mean of the two middle ones; ``values`` is reordered."""
    if not len(values):
        raise ValueError("the median of no values")
    middle = len(values) // 2
    if len(values) % 2:
        values.partition(middle)
        return float(values[middle])
    values.partition((middle - 1, middle))
    return float((values[middle - 1] + values[middle]) / 2)
