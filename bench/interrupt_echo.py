"""Interruptions over our echo, wider than the corpus: the corpus's six sentences (long and short) over our
echo at -20/-25/-30/-35 dB, 60/120/200 ms late, three draws each (216 scenarios), through the call's listener.

The corpus (``bench.turn_taking``) has one draw of each sentence per echo level (three per set), too few to
say how often a faint echo makes the agent late: this counts how many of the 216 stop it more than the
barge-in setting + 100 ms after the caller began, and any it missed or stopped for before the caller spoke.

    .venv/bin/python -m bench.interrupt_echo
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from bench.turn_corpus import INTERRUPTIONS, SHORT_INTERRUPTIONS, Scenario, corpus_sounds, interruption
from bench.turn_taking import ScenarioResult, barge_in_limit_ms, run_corpus
from voice.agent.config import AgentConfig

GAINS_DB = (-20, -25, -30, -35)
DELAYS_MS = (60, 120, 200)
DRAWS = 3


def scenarios(gains: Iterable[int] = GAINS_DB) -> Iterator[Scenario]:
    """Each sentence of both sets at each echo level and delay, ``DRAWS`` times (other timing, noise and
    reply each draw, from its name)."""
    sounds = corpus_sounds()
    for group, texts in (("interrupt", INTERRUPTIONS), ("short interrupt", SHORT_INTERRUPTIONS)):
        for gain in gains:
            for delay in DELAYS_MS:
                for draw in range(DRAWS):
                    for i, (text, voice) in enumerate(texts):
                        slug = group.replace(" ", "-")
                        name = f"{slug}-echo{gain}dB-delay{delay}ms-{i}-draw{draw}"
                        yield interruption(
                            sounds, name, f"{group} {gain} dB", text, voice, i + draw, gain=gain, delay_ms=delay
                        )


def summary(results: list[ScenarioResult], limit_ms: int) -> str:
    reactions = [ms for r in results for ms in r.reactions_ms]
    late = sum(ms > limit_ms for ms in reactions)
    missed = sum(r.missed_barge_ins for r in results)
    early = sum(r.false_barge_in for r in results)
    p50, p95 = (np.percentile(reactions, q) for q in (50, 95)) if reactions else (0.0, 0.0)
    worst = max(reactions, default=0)
    return f"{late:4d} | {missed:6d} | {early:5d} | {p50:4.0f} / {p95:4.0f} / {worst:4d}"


def main() -> None:
    config = AgentConfig()
    made = list(scenarios())
    run = run_corpus(made, mode="after", config=config)
    limit = barge_in_limit_ms(config)
    groups: dict[str, list[ScenarioResult]] = {}
    for r in run.results:
        groups.setdefault(r.group, []).append(r)
    print(f"{len(made)} interruptions over our echo | over {limit} ms | missed | early | stopped after p50 / p95 / max")
    for group, results in groups.items():
        print(f"{group:>22s} ({len(results):3d}) | {summary(results, limit)}")
    print(f"{'all':>22s} ({len(made):3d}) | {summary(run.results, limit)}")


if __name__ == "__main__":
    main()
