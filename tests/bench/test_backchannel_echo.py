"""A speakerphone caller's "כן", "אהה", "אוקיי" over our echo pauses the agent and never cuts it off, on the
lines of ``bench.backchannel_echo`` where a back-channel with our echo running on after it once outlasted
the length at which the paused agent stops without waiting for the words (1 s then; 1.5 s now)."""

from __future__ import annotations

import pytest

from bench.backchannel_echo import scenarios
from bench.turn_corpus import missing_tools
from bench.turn_taking import run_corpus
from voice.agent.config import AgentConfig

MISSING = missing_tools()
pytestmark = [
    pytest.mark.skipif(bool(MISSING), reason=f"the turn-taking corpus needs {', '.join(MISSING)}"),
    pytest.mark.timeout(120),
]

# (echo gain dB, room ms, delay ms): each had a back-channel that stopped the agent for good at 1 s.
LINES = [(-15, 150, 200), (-20, 0, 200), (-20, 60, 120), (-25, 30, 60), (-25, 60, 120)]


def test_back_channels_over_our_echo_never_cut_the_agent_off():
    run = run_corpus(list(scenarios(LINES)), mode="after", config=AgentConfig())
    assert len(run.results) == len(LINES) * 9
    cut = [f"{r.name} at {r.barge_in_ms} ms" for r in run.results if r.barge_in_ms is not None]
    assert not cut, f"a back-channel over our echo cut the agent off: {cut}"
