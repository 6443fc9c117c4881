"""Used at random, as a call would and with everything at once, the pacer keeps Twilio's audio in order,
at its positions and within the lead, and leaves nothing waiting (``tests/support/pacer_fuzz.py``)."""

from __future__ import annotations

import pytest

from tests.support.pacer_fuzz import run_one

SEEDS = range(400)
STEPS = 60


@pytest.mark.parametrize("mode", ["serial", "free"])
def test_random_use_keeps_what_twilio_gets_in_order_and_leaves_nothing_waiting(mode):
    failures = {}
    for seed in SEEDS:
        run = run_one(seed, STEPS, mode)
        for failure in run.failures:
            failures.setdefault(failure.cls, f"seed {seed}: {failure.detail}")
    assert not failures, failures  # replay one with run_one(seed, STEPS, mode, trace=True)
