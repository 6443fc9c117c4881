"""Turn-taking on a phone line, measured: how soon the agent may answer, and when it must stop talking.

    python -m bench.turn_taking [--mode before|after|both] [--json FILE] [--details]

A call's listener decides, frame by frame, whether the caller is speaking; two product rules hang on it:
the agent answers ``eou_silence_ms`` after the caller stops, and it stops talking (barge-in) once the
caller has talked over it for ``barge_in_min_ms``. Both fail quietly on real lines: in noise the end of
speech is never found (the caller waits seconds for an answer), and the agent's own voice coming back on
a speakerphone, a cough or a "כן" makes it interrupt itself. This harness plays the scenarios of
``bench.turn_corpus`` (each with a known truth) through the real ``Listener`` in media time, as fast as
the CPU allows, and scores what it decided against the truth:

- "before": webrtcvad alone (``WebrtcVoicing``, the business's aggressiveness), no echo guard;
- "after": Silero gated by webrtcvad (``SileroVoicing``, one ``SileroBatch`` for the whole run) and the
  ``EchoGuard`` fed with what the agent sent.

Per scenario the harness plays the agent's reply the way a session would: the guard is told about every
frame of it up front (position 0 at the reply's start) and learns what is playing from ``playing_ms``;
the caller's line carries the echo of the reply while it plays. When ``talks_over_us()`` first turns true
while the reply plays, that is a barge-in: the reply stops there (its echo still arriving for the echo
delay), and ``playing_ms`` says None from then on.

Figures (media time, ms):

- **reply delay**: media time of the ``SpeechEnded`` event that covers a caller's utterance (or
  interruption) minus the true end of that speech: when the agent would start answering. An utterance
  whose end is never decided within the scenario counts as "more than what was left" (shown ``>N``).
- **false barge-ins per minute of agent speech**: barge-ins outside any real interruption (echo, a
  cough, a back-channel), per minute of reply that actually played.
- **missed barge-ins**: real interruptions with no barge-in from their start to ``BARGE_IN_GRACE_MS``
  after their end; **reaction**: barge-in time minus the interruption's start.
- **merged / split**: one ``SpeechEnded`` covering two true utterances / one true utterance cut into
  several. As a session does, "after" lets the caller go on: speech that has lasted ``min_utterance_ms``
  within ``RECOGNISER_DELAY_MS`` of an utterance's end, with nothing of ours playing, continues it
  (``Listener.go_on``; a session joins them until the answer's words are in, which takes a streaming
  recogniser ~300 ms and a batch one longer); the end it replaces is not scored (``went_on`` counts them).
  **spurious**: utterances where the caller said nothing (the agent would answer noise or itself).
- **CPU per call-second**: process CPU time (``time.process_time``, all threads) over the whole corpus,
  divided by the seconds of caller audio heard; the harness's own mixing and bookkeeping are included in
  both modes, so the difference between the modes is what the detector costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bench.turn_corpus import BACKCHANNEL, INTERRUPTION, SPEECH_KINDS, Scenario, build_corpus
from voice.agent.config import AgentConfig
from voice.agent.echo_guard import EchoGuard
from voice.agent.interruption import TalkOver, Verdict
from voice.agent.listener import CallerInput, Listener
from voice.agent.ports import UtteranceRecord
from voice.agent.silero_batch import WINDOW_SAMPLES, SileroBatch
from voice.agent.vad import NoiseDropped, SpeechEnded, SpeechStarted, VadEvent
from voice.agent.voicing import SileroVoicing, Voicing, WebrtcVoicing
from voice.audio.clock import MediaClock
from voice.audio.frames import FRAME_BYTES, SAMPLE_RATE
from voice.providers.fake import FakeASR

Mode = Literal["before", "after"]
MODES: tuple[Mode, ...] = ("before", "after")
BARGE_IN_GRACE_MS = 1000  # a barge-in this long after an interruption ended still answers it
RECOGNISER_DELAY_MS = 300  # from the end of an utterance to its final transcript (streaming recognisers)
# Where our reply is playing, as the guard learns it in a call: the pacer's wall-clock estimate, read as each
# inbound frame arrives (network jitter), anchored when a run of our audio starts (its own error). The echo
# mixed into a scenario follows the true position.
ESTIMATE_JITTER_MS = 5  # each frame's reading, up to this either way
ESTIMATE_ANCHOR_MS = 15  # each run's anchor, up to this either way


class MemoryReporter:
    """The call's ``CallReporter``, kept in memory (the listener reports errors, e.g. a Silero failure)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, dict[str, Any] | None]] = []
        self.utterances: list[UtteranceRecord] = []

    async def event(self, kind: str, offset_ms: int, payload: dict[str, Any] | None = None) -> None:
        self.events.append((kind, offset_ms, payload))

    async def utterance(self, record: UtteranceRecord) -> None:
        self.utterances.append(record)

    async def update_lead(self, facts: dict[str, str]) -> dict[str, Any]:
        return {}

    async def end_call(self, reason: str, *, voicemail: bool = False) -> None:
        return None


@dataclass
class ScenarioResult:
    name: str
    group: str
    mode: str
    duration_ms: int
    events: list[tuple[int, VadEvent]]  # (media ms at which the listener reported it, the event)
    barge_in_ms: int | None  # when the agent would have stopped talking
    agent_played_ms: int  # how much of the reply played (to its end, or to the barge-in)
    false_barge_in: bool  # a barge-in outside any real interruption
    pauses_resumed: int  # the agent paused for the caller and went on (a "כן", a noise)
    paused_ms: list[int]  # how long each of those pauses held the agent silent
    interruptions: int
    missed_barge_ins: int
    reactions_ms: list[int]  # per interruption answered: barge-in minus its start
    reply_delays_ms: list[int]  # per caller utterance/interruption; see ``censored``
    censored: list[bool]  # the end was never decided: the delay is only a lower bound (what was left)
    merged: int
    split: int
    spurious: int
    went_on: int = 0  # utterance ends that the caller's going on replaced (never answered)
    voicing_failure: str | None = None
    reported: list[tuple[str, int, dict[str, Any] | None]] = field(default_factory=list)

    def speech_ended(self) -> list[tuple[int, SpeechEnded]]:
        return [(at, e) for at, e in self.events if isinstance(e, SpeechEnded)]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["events"] = [{"reported_ms": at, "type": type(e).__name__, **asdict(e)} for at, e in self.events]
        return data


# -- playing a scenario ---------------------------------------------------------------------------------
_shared_batch: SileroBatch | None = None


def shared_batch() -> SileroBatch:
    """One Silero model per process, as in a call server (loaded on first use)."""
    global _shared_batch
    if _shared_batch is None:
        _shared_batch = SileroBatch()
    return _shared_batch


def _voicing(mode: Mode, config: AgentConfig, batch: SileroBatch | None) -> Voicing:
    if mode == "before":
        return WebrtcVoicing(aggressiveness=config.vad_aggressiveness)
    if mode == "after":
        return SileroVoicing(batch or shared_batch())
    raise ValueError(f"mode is 'before' or 'after', not {mode!r}")


def barge_in_limit_ms(config: AgentConfig) -> int:
    """Issue 12's target: a real interruption of 0.5 s or more stops the agent within the business's barge-in
    setting + 100 ms of its start."""
    return config.barge_in_min_ms + 100


def recognised(scenario: Scenario, start_ms: int, end_ms: int) -> str:
    """The recogniser's stand-in: the words of the caller's speech within ``start_ms``..``end_ms``, from
    the scenario's truth (noises have none). A real recogniser may also write words for a noise or for
    our own echo; this one never does, which is why the echo guard and the VAD, not the words, must keep
    echo and noises from pausing the agent at all (the figures count those pauses too)."""
    kinds = (*SPEECH_KINDS, BACKCHANNEL)
    return " ".join(
        s.label for s in scenario.truth if s.kind in kinds and _overlaps(start_ms, end_ms, s.start_ms, s.end_ms)
    )


# Whatever hears the inbound frames for our echo: the guard, or another canceller to compare it with
# (``bench.speex_compare``), built on the harness's play-out estimate.
GuardFactory = Callable[[Callable[[], "int | None"]], EchoGuard]


async def play_scenario(
    scenario: Scenario,
    *,
    mode: Mode,
    config: AgentConfig,
    batch: SileroBatch | None = None,
    guard_factory: GuardFactory = EchoGuard,
) -> ScenarioResult:
    """Feed ``scenario`` to a fresh ``Listener`` frame by frame in media time and score what it decided.

    "before" stops the reply for good the first time ``talks_over_us`` holds (the rule before issue 12);
    "after" follows ``TalkOver``: pause there, then resume or stop as the voice and its words say, the
    words coming from ``recognised`` ``RECOGNISER_DELAY_MS`` after the utterance ended. A pause that
    resumed skips the reply's audio it held rather than delaying it (the echo mixed into the scenario
    stays aligned with the reply); it is counted, with how long the caller heard nothing of ours."""
    clock = MediaClock()
    reporter = MemoryReporter()
    stopped_at: int | None = None  # media ms of the barge-in (the pause that became a stop)
    paused_at: int | None = None  # a pause still undecided
    pauses: list[tuple[int, int]] = []  # pauses that resumed: (start, end)
    words_due: tuple[int, str] | None = None  # when the recogniser answers, and what it says
    talk = TalkOver()
    answering: tuple[int, CallerInput] | None = None  # an utterance ended, its words not in: (when, it)
    went_on = 0

    estimate = np.random.default_rng(zlib.crc32(scenario.name.encode()))
    anchor: list[int] = []  # this run's anchor error, while our reply plays

    def playing_ms() -> int | None:
        position = clock.ms - scenario.agent_start_ms
        if scenario.agent is None or stopped_at is not None or paused_at is not None:
            position = -1
        if not 0 <= position < scenario.agent_ms:
            anchor.clear()
            return None
        if not anchor:
            anchor.append(int(estimate.integers(-ESTIMATE_ANCHOR_MS, ESTIMATE_ANCHOR_MS + 1)))
        return max(0, position + anchor[0] + int(estimate.integers(-ESTIMATE_JITTER_MS, ESTIMATE_JITTER_MS + 1)))

    guard: EchoGuard | None = None
    if mode == "after":
        guard = guard_factory(playing_ms)
        if scenario.agent is not None:
            guard.sent(scenario.agent, 0)
    voicing = _voicing(mode, config, batch)
    listener = Listener(
        config,
        FakeASR().new_transcriber(config.language),
        clock,
        reporter,
        asr_timeout_s=5.0,
        voicing=voicing,
        echo=guard,
    )
    events: list[tuple[int, VadEvent]] = []
    echo_tail = scenario.echo_delay_ms or 0

    def ours_audible() -> bool:
        """Our reply plays or is held by a pause (without reading ``playing_ms``, whose jitter is drawn)."""
        if paused_at is not None:
            return True
        position = clock.ms - scenario.agent_start_ms
        return scenario.agent is not None and stopped_at is None and 0 <= position < scenario.agent_ms

    def echoing(media_ms: int) -> bool:
        """The reply's echo keeps arriving for the echo delay after the reply stopped or paused."""
        if stopped_at is not None and media_ms >= stopped_at + echo_tail:
            return False
        return paused_at is None or media_ms < paused_at + echo_tail

    try:
        for start in range(0, len(scenario.inbound), FRAME_BYTES):
            media_ms = start * 1000 // SAMPLE_RATE
            frame = (scenario.inbound_echoed if echoing(media_ms) else scenario.inbound)[start : start + FRAME_BYTES]
            clock.advance(frame)
            for event in await listener.hear(frame):
                if event is not None:
                    events.append((clock.ms, event))
                if mode == "before":
                    if stopped_at is None and playing_ms() is not None and listener.talks_over_us():
                        stopped_at = clock.ms
                    continue
                if isinstance(event, SpeechEnded) and not ours_audible() and not event.forced:
                    answering = (clock.ms, listener.take_input(event))
                elif answering is not None and clock.ms - answering[0] > RECOGNISER_DELAY_MS:
                    answering = None  # its words are in: what the caller says now is answered on its own
                elif answering is not None and listener.past_a_noise and not ours_audible():
                    listener.go_on(answering[1])  # the session drops the answer under way
                    events.remove((answering[0], answering[1].speech))
                    went_on += 1
                    answering = None
                verdict = talk.heard(
                    event,
                    talks_over_us=listener.talks_over_us(),
                    speech_ms=listener.speech_ms(),
                    speaking=playing_ms() is not None or paused_at is not None,
                )
                if verdict is Verdict.WORDS and isinstance(event, SpeechEnded):
                    words_due = (clock.ms + RECOGNISER_DELAY_MS, recognised(scenario, event.start_ms, event.end_ms))
                elif verdict is not None:
                    paused_at, stopped_at = _follow(verdict, clock.ms, paused_at, stopped_at, pauses)
            if words_due is not None and clock.ms >= words_due[0]:
                verdict = talk.words(words_due[1])
                words_due = None
                paused_at, stopped_at = _follow(verdict, clock.ms, paused_at, stopped_at, pauses)
    finally:
        await listener.close()
    return score(
        scenario,
        mode=mode,
        config=config,
        events=events,
        barge_in_ms=stopped_at,
        pauses=pauses,
        voicing_failure=voicing.failure,
        reported=reporter.events,
        went_on=went_on,
    )


def _follow(
    verdict: Verdict, now: int, paused_at: int | None, stopped_at: int | None, pauses: list[tuple[int, int]]
) -> tuple[int | None, int | None]:
    """The reply's state after ``verdict``: (undecided pause's start, barge-in time)."""
    if verdict is Verdict.PAUSE:
        return now, stopped_at
    if verdict is Verdict.STOP:
        return None, paused_at if paused_at is not None else now  # the caller stopped hearing us at the pause
    if verdict is Verdict.RESUME and paused_at is not None:
        pauses.append((paused_at, now))
    return None, stopped_at


def run_scenario(
    scenario: Scenario, *, mode: Mode, config: AgentConfig, batch: SileroBatch | None = None
) -> ScenarioResult:
    """``play_scenario`` in an event loop of its own ("after" uses the process's shared Silero batch)."""
    return asyncio.run(play_scenario(scenario, mode=mode, config=config, batch=batch))


@dataclass
class CorpusRun:
    mode: str
    results: list[ScenarioResult]
    cpu_s: float  # process CPU time over the whole corpus
    wall_s: float
    audio_s: float  # seconds of caller audio heard
    windows_scored: int | None = None  # "after": Silero windows actually run (the webrtcvad gate skips the rest)

    @property
    def cpu_per_call_second(self) -> float:
        return self.cpu_s / self.audio_s if self.audio_s else 0.0

    @property
    def windows_total(self) -> int:
        return int(self.audio_s * SAMPLE_RATE) // WINDOW_SAMPLES


def run_corpus(
    scenarios: Sequence[Scenario],
    *,
    mode: Mode,
    config: AgentConfig,
    batch: SileroBatch | None = None,
    guard_factory: GuardFactory = EchoGuard,
) -> CorpusRun:
    """Every scenario, one after another in one event loop; "after" shares one ``SileroBatch`` (made here
    unless given, its model load not counted in the CPU figure)."""
    if mode == "after" and batch is None:
        batch = shared_batch()
    windows_before = batch.windows if batch is not None else 0

    async def play_all() -> list[ScenarioResult]:
        return [
            await play_scenario(s, mode=mode, config=config, batch=batch, guard_factory=guard_factory)
            for s in scenarios
        ]

    cpu, wall = time.process_time(), time.perf_counter()
    results = asyncio.run(play_all())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return CorpusRun(
        mode=mode,
        results=results,
        cpu_s=cpu,
        wall_s=wall,
        audio_s=sum(s.duration_ms for s in scenarios) / 1000,
        windows_scored=batch.windows - windows_before if mode == "after" and batch is not None else None,
    )


# -- scoring --------------------------------------------------------------------------------------------
def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def score(
    scenario: Scenario,
    *,
    mode: str,
    config: AgentConfig,
    events: list[tuple[int, VadEvent]],
    barge_in_ms: int | None,
    pauses: Sequence[tuple[int, int]] = (),
    voicing_failure: str | None = None,
    reported: list[tuple[str, int, dict[str, Any] | None]] | None = None,
    went_on: int = 0,
) -> ScenarioResult:
    """The figures of one played scenario against its truth (see the module docstring)."""
    ended = [(at, e) for at, e in events if isinstance(e, SpeechEnded)]
    speech = scenario.speech()

    delays: list[int] = []
    censored: list[bool] = []
    for segment in speech:
        covering = [(at, e) for at, e in ended if _overlaps(e.start_ms, e.end_ms, segment.start_ms, segment.end_ms)]
        after = [at for at, _ in covering if at >= segment.end_ms]
        if after:  # the first decision after the caller stopped
            delays.append(after[0] - segment.end_ms)
            censored.append(False)
        elif covering:  # decided while the caller was still talking: the agent would talk over them
            delays.append(covering[-1][0] - segment.end_ms)
            censored.append(False)
        else:
            delays.append(scenario.duration_ms - segment.end_ms)
            censored.append(True)

    split = sum(
        1
        for segment in speech
        if sum(_overlaps(e.start_ms, e.end_ms, segment.start_ms, segment.end_ms) for _, e in ended) > 1
    )
    merged = sum(1 for _, e in ended if sum(_overlaps(e.start_ms, e.end_ms, s.start_ms, s.end_ms) for s in speech) > 1)
    heard_kinds = (*SPEECH_KINDS, BACKCHANNEL)
    spurious = sum(
        1
        for _, e in ended
        if not any(
            _overlaps(e.start_ms, e.end_ms, s.start_ms, s.end_ms) for s in scenario.truth if s.kind in heard_kinds
        )
    )

    interruptions = [s for s in scenario.truth if s.kind == INTERRUPTION]
    reactions: list[int] = []
    answered = False
    for segment in interruptions:
        if barge_in_ms is not None and segment.start_ms <= barge_in_ms <= segment.end_ms + BARGE_IN_GRACE_MS:
            reactions.append(barge_in_ms - segment.start_ms)
            answered = True
    played = scenario.agent_ms
    if barge_in_ms is not None:
        played = min(played, barge_in_ms - scenario.agent_start_ms)
    played -= sum(end - start for start, end in pauses)
    return ScenarioResult(
        name=scenario.name,
        group=scenario.group,
        mode=mode,
        duration_ms=scenario.duration_ms,
        events=events,
        barge_in_ms=barge_in_ms,
        agent_played_ms=played,
        false_barge_in=barge_in_ms is not None and not answered,
        pauses_resumed=len(pauses),
        paused_ms=[end - start for start, end in pauses],
        interruptions=len(interruptions),
        missed_barge_ins=len(interruptions) - len(reactions),
        reactions_ms=reactions,
        reply_delays_ms=delays,
        censored=censored,
        merged=merged,
        split=split,
        spurious=spurious,
        went_on=went_on,
        voicing_failure=voicing_failure,
        reported=list(reported or []),
    )


# -- summary --------------------------------------------------------------------------------------------
def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest rank (no interpolation: every figure shown is one that happened)."""
    if not values:
        return None
    data = sorted(values)
    return data[min(len(data) - 1, max(0, math.ceil(p / 100 * len(data)) - 1))]


@dataclass
class GroupSummary:
    group: str
    mode: str
    scenarios: int
    reply_p50_ms: float | None
    reply_p95_ms: float | None
    reply_p50_censored: bool  # the figure is a lower bound: that utterance's end was never decided
    reply_p95_censored: bool
    undecided: int  # caller utterances whose end was never decided
    agent_minutes: float
    false_barge_ins: int
    false_barge_ins_per_min: float | None  # None: the agent never spoke in this group
    pauses_resumed: int
    pauses_per_min: float | None
    paused_p50_ms: float | None  # how long the caller heard nothing of ours in a pause that resumed
    interruptions: int
    missed_barge_ins: int
    reaction_p50_ms: float | None
    reaction_p95_ms: float | None
    merged: int
    split: int
    spurious: int
    voicing_failures: int


def _summarise_group(group: str, mode: str, results: Sequence[ScenarioResult]) -> GroupSummary:
    delays = [(d, c) for r in results for d, c in zip(r.reply_delays_ms, r.censored, strict=True)]
    # Undecided ends sort last: the percentiles that reach them are lower bounds.
    ordered = sorted(delays, key=lambda dc: (dc[1], dc[0]))

    def rank(p: float) -> tuple[float | None, bool]:
        if not ordered:
            return None, False
        d, c = ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]
        return d, c

    p50, c50 = rank(50)
    p95, c95 = rank(95)
    agent_minutes = sum(r.agent_played_ms for r in results) / 60_000
    false_barge_ins = sum(r.false_barge_in for r in results)
    reactions = [x for r in results for x in r.reactions_ms]
    return GroupSummary(
        group=group,
        mode=mode,
        scenarios=len(results),
        reply_p50_ms=p50,
        reply_p95_ms=p95,
        reply_p50_censored=c50,
        reply_p95_censored=c95,
        undecided=sum(c for _, c in delays),
        agent_minutes=round(agent_minutes, 3),
        false_barge_ins=false_barge_ins,
        false_barge_ins_per_min=round(false_barge_ins / agent_minutes, 2) if agent_minutes else None,
        pauses_resumed=sum(r.pauses_resumed for r in results),
        pauses_per_min=round(sum(r.pauses_resumed for r in results) / agent_minutes, 2) if agent_minutes else None,
        paused_p50_ms=percentile([x for r in results for x in r.paused_ms], 50),
        interruptions=sum(r.interruptions for r in results),
        missed_barge_ins=sum(r.missed_barge_ins for r in results),
        reaction_p50_ms=percentile(reactions, 50),
        reaction_p95_ms=percentile(reactions, 95),
        merged=sum(r.merged for r in results),
        split=sum(r.split for r in results),
        spurious=sum(r.spurious for r in results),
        voicing_failures=sum(r.voicing_failure is not None for r in results),
    )


def summarise(results: Iterable[ScenarioResult]) -> list[GroupSummary]:
    """Per group and mode (groups in corpus order), plus an "all" row per mode."""
    by_key: dict[tuple[str, str], list[ScenarioResult]] = {}
    for r in results:
        by_key.setdefault((r.group, r.mode), []).append(r)
        by_key.setdefault(("all", r.mode), []).append(r)
    return [_summarise_group(group, mode, rs) for (group, mode), rs in by_key.items() if group != "all"] + [
        _summarise_group(group, mode, rs) for (group, mode), rs in by_key.items() if group == "all"
    ]


# -- off-target scenarios (tests/bench/test_turn_taking.py checks the same targets, back-channels aside) ----
def off_target(scenario: Scenario, result: ScenarioResult, config: AgentConfig) -> list[str]:
    """Why this result misses the product's turn-taking targets (empty: it meets them)."""
    why: list[str] = []
    snr = scenario.notes.get("snr_db")
    if isinstance(snr, int | float) and snr >= 10 and " noise " in scenario.group:  # stationary noise
        limit = config.eou_silence_ms + 150
        for segment, delay, undecided in zip(scenario.speech(), result.reply_delays_ms, result.censored, strict=True):
            if undecided or delay > limit:
                shown = f">{delay}" if undecided else str(delay)
                why.append(f"end of '{segment.label}' decided {shown} ms after it (target ≤ {limit})")
    if result.false_barge_in:
        why.append(f"false barge-in at {result.barge_in_ms} ms")
    limit = barge_in_limit_ms(config)
    for segment in scenario.truth:
        if segment.kind != INTERRUPTION or segment.duration_ms < 500:
            continue
        reaction = result.barge_in_ms - segment.start_ms if result.barge_in_ms is not None else None
        if reaction is None or result.missed_barge_ins:
            why.append(f"interruption '{segment.label}' ({segment.duration_ms} ms) missed")
        elif reaction > limit:
            why.append(f"barge-in {reaction} ms after the interruption started (target ≤ {limit})")
    if result.merged or result.split:
        why.append(f"merged {result.merged}, split {result.split}")
    return why


# -- the CLI --------------------------------------------------------------------------------------------
def _ms(value: float | None, censored: bool = False) -> str:
    if value is None:
        return "–"
    return f"{'>' if censored else ''}{value:.0f}"


def _cells(s: GroupSummary | None) -> list[str]:
    if s is None:
        return ["", "", "", "", "", "", ""]
    reply = (
        "–"
        if s.reply_p50_ms is None
        else f"{_ms(s.reply_p50_ms, s.reply_p50_censored)}/{_ms(s.reply_p95_ms, s.reply_p95_censored)}"
    )
    false = "–" if s.false_barge_ins_per_min is None else f"{s.false_barge_ins_per_min:.1f} ({s.false_barge_ins})"
    missed = "–" if not s.interruptions else f"{s.missed_barge_ins}/{s.interruptions}"
    reaction = "–" if s.reaction_p50_ms is None else f"{_ms(s.reaction_p50_ms)}/{_ms(s.reaction_p95_ms)}"
    pauses = "–" if s.pauses_per_min is None else f"{s.pauses_per_min:.1f} ({s.pauses_resumed})"
    if s.paused_p50_ms is not None:
        pauses += f" {_ms(s.paused_p50_ms)}"
    return [reply, false, pauses, missed, reaction, f"{s.merged}/{s.split}", str(s.spurious)]


METRICS = (
    "reply delay p50/p95 ms",
    "false barge-ins/min (n)",
    "pauses resumed/min (n) p50 ms",
    "missed barge-ins",
    "reaction p50/p95 ms",
    "merged/split",
    "spurious utt.",
)


def format_table(summaries: Sequence[GroupSummary], modes: Sequence[str]) -> str:
    """Groups down, each metric across with one column per mode (before and after side by side)."""
    groups = list(dict.fromkeys(s.group for s in summaries))
    by_key = {(s.group, s.mode): s for s in summaries}
    head2 = ["group", "n", *(list(modes) * len(METRICS))]
    rows: list[list[str]] = []
    for group in groups:
        per_mode = [_cells(by_key.get((group, mode))) for mode in modes]
        n = next(str(by_key[(group, m)].scenarios) for m in modes if (group, m) in by_key)
        row = [group, n]
        for k in range(len(METRICS)):
            row += [cells[k] for cells in per_mode]
        rows.append(row)
    widths = [max(len(r[i]) for r in [head2, *rows]) for i in range(len(head2))]
    # A metric's name may be wider than its columns together: widen the last column of the metric.
    for m, metric in enumerate(METRICS):
        first = 2 + m * len(modes)
        span = sum(widths[first : first + len(modes)]) + 2 * (len(modes) - 1)
        if len(metric) > span:
            widths[first + len(modes) - 1] += len(metric) - span

    def line(cells: list[str], *, header: bool = False) -> str:
        out = []
        for i, cell in enumerate(cells):
            gap = "  " if i < 2 or (i - 2) % len(modes) else " │ "
            text = cell.ljust(widths[i]) if i == 0 or header else cell.rjust(widths[i])
            out.append((gap if i else "") + text)
        return "".join(out).rstrip()

    # The metric names span their mode columns.
    text_top = " " * (widths[0] + 2 + widths[1])
    for m, metric in enumerate(METRICS):
        first = 2 + m * len(modes)
        span = sum(widths[first : first + len(modes)]) + 2 * (len(modes) - 1)
        text_top += " │ " + metric.ljust(span)
    rule = "─" * len(line(head2, header=True))
    return "\n".join([text_top.rstrip(), line(head2, header=True), rule, *(line(r) for r in rows)])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.turn_taking", description=__doc__.split("\n\n")[1])
    p.add_argument("--mode", choices=("before", "after", "both"), default="both")
    p.add_argument("--json", type=Path, default=None, help="write every figure and every scenario's events here")
    p.add_argument("--details", action="store_true", help="one line per scenario and mode")
    p.add_argument("--group", action="append", default=None, help="only this group (repeatable)")
    return p.parse_args(argv)


def _detail_line(r: ScenarioResult) -> str:
    delays = ",".join(f"{'>' if c else ''}{d}" for d, c in zip(r.reply_delays_ms, r.censored, strict=True))
    ends = sum(isinstance(e, SpeechEnded) for _, e in r.events)
    starts = sum(isinstance(e, SpeechStarted) for _, e in r.events)
    dropped = sum(isinstance(e, NoiseDropped) for _, e in r.events)
    return (
        f"  {r.mode:6s} {r.name:34s} barge-in={r.barge_in_ms if r.barge_in_ms is not None else '-':>5}"
        f" delays=[{delays}] reactions={r.reactions_ms} started={starts} ended={ends} dropped={dropped}"
        f" paused={r.paused_ms}"
        f"{' FALSE' if r.false_barge_in else ''}{' MISSED' if r.missed_barge_ins else ''}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = AgentConfig()
    scenarios = build_corpus(groups=args.group)
    modes: list[Mode] = list(MODES) if args.mode == "both" else [args.mode]
    runs: dict[str, CorpusRun] = {}
    for mode in modes:
        if mode == "after":
            shared_batch()  # load the model outside the measured CPU time
        runs[mode] = run_corpus(scenarios, mode=mode, config=config)
    results = [r for run in runs.values() for r in run.results]
    summaries = summarise(results)
    audio_s = sum(s.duration_ms for s in scenarios) / 1000
    agent_s = sum(s.agent_ms for s in scenarios) / 1000
    print(
        f"turn-taking corpus: {len(scenarios)} scenarios, {audio_s:.0f} s of caller audio ({agent_s:.0f} s of it"
        f" under agent speech); eou_silence_ms={config.eou_silence_ms}, barge_in_min_ms={config.barge_in_min_ms}"
    )
    print(format_table(summaries, modes))
    print()
    for mode, run in runs.items():
        extra = ""
        if run.windows_scored is not None:
            share = run.windows_scored / run.windows_total if run.windows_total else 0.0
            extra = (
                f"; Silero scored {run.windows_scored} of {run.windows_total} windows"
                f" ({share:.0%}; the webrtcvad gate skipped the rest)"
            )
        print(
            f"{mode:6s} CPU per call-second: {run.cpu_per_call_second * 1000:.2f} ms"
            f" ({run.cpu_s:.2f} s CPU for {run.audio_s:.0f} s of audio, {run.wall_s:.1f} s wall){extra}"
        )
        failures = sum(r.voicing_failure is not None for r in run.results)
        if failures:
            print(f"{mode:6s} the detector fell back to webrtcvad in {failures} scenarios")
    by_name = {s.name: s for s in scenarios}
    for mode, run in runs.items():
        missing = [(r, off_target(by_name[r.name], r, config)) for r in run.results]
        missing = [(r, why) for r, why in missing if why]
        print(f"\n{mode}: {len(missing)} scenarios off target" + (":" if missing else ""))
        for r, why in missing:
            print(f"  {r.name}: {'; '.join(why)}")
    if args.details:
        print("\nper scenario:")
        for scenario in scenarios:
            for mode in modes:
                r = next(x for x in runs[mode].results if x.name == scenario.name)
                print(_detail_line(r))
    if args.json is not None:
        payload = {
            "config": asdict(config) | {"business": None},
            "scenarios": [
                {
                    "name": s.name,
                    "group": s.group,
                    "duration_ms": s.duration_ms,
                    "agent_ms": s.agent_ms,
                    "agent_start_ms": s.agent_start_ms,
                    "echo_delay_ms": s.echo_delay_ms,
                    "echo_gain_db": s.echo_gain_db,
                    "truth": [asdict(t) for t in s.truth],
                    "notes": s.notes,
                }
                for s in scenarios
            ],
            "summary": [asdict(s) for s in summaries],
            "runs": {
                mode: {
                    "cpu_s": run.cpu_s,
                    "wall_s": run.wall_s,
                    "audio_s": run.audio_s,
                    "cpu_ms_per_call_second": run.cpu_per_call_second * 1000,
                    "silero_windows_scored": run.windows_scored,
                    "windows_total": run.windows_total,
                    "results": [r.to_json() for r in run.results],
                }
                for mode, run in runs.items()
            },
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=1))
        print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
