import numpy as np
import pytest

from voice.agent.quantiles import median, percentile


@pytest.mark.parametrize("length", [1, 2, 3, 10, 149, 150])
def test_the_partial_sort_percentiles_are_numpys_to_the_last_bit(length):
    """The echo guard's and canceller's percentiles skip numpy's machinery, not its arithmetic."""
    rng = np.random.default_rng(length)
    for values in (rng.normal(-30, 8, length), np.round(rng.normal(-30, 8, length))):  # with ties
        for q in (0, 20, 75, 90, 100):
            assert percentile(values.copy(), q) == np.percentile(values, q)
        assert median(values.copy()) == np.median(values)


def test_the_values_are_reordered_not_copied():
    values = np.array([5.0, 1.0, 4.0, 2.0, 3.0])
    assert median(values) == 3.0
    assert sorted(values.tolist()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert values[2] == 3.0  # the middle one is in its sorted place


@pytest.mark.parametrize("quantile", [lambda values: percentile(values, 90), median])
def test_no_values_is_a_clear_error(quantile):
    with pytest.raises(ValueError, match="of no values"):
        quantile(np.array([], dtype=np.float64))
