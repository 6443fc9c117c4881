"""Back-channels over our echo, wider than the corpus: 3 words x 3 voices x echo at -15/-20/-25 dB x a pure
delay or a room of 30/60/150 ms x 60/120/200 ms of delay (324 scenarios), through the call's listener.

The corpus (``bench.turn_corpus``) keeps 18 of these, which hold; this finds where the guard still lets our
echo cut the agent off (rooms longer than its canceller covers).

    .venv/bin/python -m bench.backchannel_echo
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

# The corpus's own building blocks, so these scenarios are made exactly as its back-channels are.
from bench.turn_corpus import (
    BACKCHANNEL,
    BACKCHANNELS,
    CALLER_VOICES,
    LINE_NOISE_DBFS,
    Scenario,
    _agent_fields,
    _agent_reply,
    _Mix,
    _ms,
    _rng,
    _Sounds,
    default_cache_dir,
)
from bench.turn_taking import run_corpus
from voice.agent.config import AgentConfig

GAINS_DB = (-15, -20, -25)
ROOMS_MS = (0, 30, 60, 150)
DELAYS_MS = (60, 120, 200)


def lines() -> list[tuple[int, int, int]]:
    """Every (echo gain dB, room ms, delay ms) of the set."""
    return [(gain, room_ms, delay) for gain in GAINS_DB for room_ms in ROOMS_MS for delay in DELAYS_MS]


def scenarios(on: Iterable[tuple[int, int, int]] | None = None) -> Iterator[Scenario]:
    """The three words in the three voices over each line in ``on`` (default: all of ``lines()``)."""
    sounds = _Sounds(default_cache_dir())
    for gain, room_ms, delay in lines() if on is None else on:
        for label, text in BACKCHANNELS.items():
            for v, voice in enumerate(CALLER_VOICES):
                name = f"backchannel-{label}-echo{gain}dB-room{room_ms}ms-delay{delay}ms-{v}"
                rng = _rng(name)
                reply = _agent_reply(sounds, v % 2)
                start = 1000
                mix = _Mix(start + _ms(len(reply)) + 1500)
                mix.bed(sounds.noise("pink"), LINE_NOISE_DBFS, rng)
                word = sounds.speech(text, voice)
                mix.add(word, start + 1500 + int(rng.integers(0, 800)), kind=BACKCHANNEL, label=label)
                fields = _agent_fields(mix, reply, start, delay, gain, room_ms, rng)
                yield mix.scenario(name, f"room {room_ms} ms", **fields)


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
