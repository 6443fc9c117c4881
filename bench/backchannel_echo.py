"""Back-channels over our echo, wider than the corpus: 3 words x 3 voices x echo at -15/-20/-25 dB x a pure
delay or a room of 30/60/150 ms x 60/120/200 ms of delay (324 scenarios), through the call's listener.

The corpus (``bench.turn_corpus``) keeps 18 of these, which hold; this finds where the guard still lets our
echo cut the agent off (rooms longer than its canceller covers).

    .venv/bin/python -m bench.backchannel_echo
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from bench.turn_corpus import BACKCHANNELS, CALLER_VOICES, Scenario, backchannel, corpus_sounds
from bench.turn_taking import run_corpus
from voice.agent.config import AgentConfig

GAINS_DB = (-15, -20, -25)
ROOMS_MS = (0, 30, 60, 150)
DELAYS_MS = (60, 120, 200)


def lines() -> list[tuple[int, int, int]]:
    """Every (echo gain dB, room ms, delay ms) of the set."""
    return [(gain, room_ms, delay) for gain in GAINS_DB for room_ms in ROOMS_MS for delay in DELAYS_MS]


def scenarios(on: Iterable[tuple[int, int, int]] | None = None) -> Iterator[Scenario]:
    """The three words in the three voices over each line in ``on`` (default: all of ``lines()``), made as the
    corpus makes its back-channels."""
    sounds = corpus_sounds()
    for gain, room_ms, delay in lines() if on is None else on:
        for label in BACKCHANNELS:
            for v, voice in enumerate(CALLER_VOICES):
                name = f"backchannel-{label}-echo{gain}dB-room{room_ms}ms-delay{delay}ms-{v}"
                yield backchannel(
                    sounds, name, f"room {room_ms} ms", label, voice, v % 2, gain=gain, room_ms=room_ms, delay_ms=delay
                )


def main() -> None:
    made = list(scenarios())
    run = run_corpus(made, mode="after", config=AgentConfig())
    count, cut, spurious = Counter[str](), Counter[str](), Counter[str]()
    for r in run.results:
        count[r.group] += 1
        cut[r.group] += r.barge_in_ms is not None
        spurious[r.group] += r.spurious
    print(f"{len(made)} back-channels over our echo | cut the agent off | our echo heard as an utterance")
    for group in sorted(count, key=lambda g: int(g.split()[1])):
        print(f"{group:>12s} ({count[group]:3d}) | {cut[group]:17d} | {spurious[group]:d}")
    print(f"{'all':>12s} ({len(made):3d}) | {sum(cut.values()):17d} | {sum(spurious.values()):d}")


if __name__ == "__main__":
    main()
