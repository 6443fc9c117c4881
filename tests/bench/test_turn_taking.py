"""Turn-taking targets, checked on the generated phone-line corpus (``bench.turn_corpus``) through the real
listener in media time (``bench.turn_taking``).

The "after" detector (Silero gated by webrtcvad, with the echo guard) must: find the end of speech in
stationary noise promptly, never barge in on the agent's own echo or on a cough, click or door, barge in
quickly on every real interruption, and neither merge nor split utterances. The "before" detector
(webrtcvad alone) is run once on brown noise to show the corpus can fail a detector at all.

The corpus is made once per module (espeak-ng and sox, cached on disk) and the "after" run covers it
once; every test reads that run.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.turn_corpus import (
    BACKCHANNEL,
    INTERRUPTION,
    NOISE,
    SPEECH_DBFS,
    UTTERANCE,
    Scenario,
    Segment,
    build_corpus,
    dbfs,
    missing_tools,
)
from bench.turn_taking import ScenarioResult, barge_in_limit_ms, run_corpus, score, summarise
from voice.agent.config import AgentConfig
from voice.agent.vad import SpeechEnded, SpeechStarted
from voice.audio import mulaw

MISSING = missing_tools()
pytestmark = [
    pytest.mark.skipif(bool(MISSING), reason=f"the turn-taking corpus needs {', '.join(MISSING)}"),
    pytest.mark.timeout(120),
]

CONFIG = AgentConfig()
STATIONARY = [f"{colour} noise {snr} dB" for colour in ("white", "pink", "brown") for snr in (20, 10)]
LOUD_NOISE = [f"{colour} noise 5 dB" for colour in ("white", "pink", "brown")]  # below the SNR >= 10
BABBLE = ["babble 10 dB"]
ECHO = ["echo -15 dB", "echo -25 dB", "echo -35 dB"]
ROOM_ECHO = ["room echo -15 dB", "room echo -25 dB"]  # beyond the corpus: what the canceller cannot cover
BURSTS = ["cough", "click", "door"]
INTERRUPTS = [
    f"{kind}{suffix}" for kind in ("interrupt", "short interrupt") for suffix in ("", " echo -15 dB", " echo -25 dB")
]
FAINT_ECHO_INTERRUPTS = ["interrupt echo -35 dB"]
FAINT_ECHO_SHORT_INTERRUPTS = ["short interrupt echo -35 dB"]
ROOM_INTERRUPTS = ["interrupt room echo -15 dB", "interrupt room echo -25 dB"]
SEGMENTATION = ["two utterances", "pausy utterance"]
# "כן", "אהה", "אוקיי" over the agent, on a clean line and (a speakerphone caller says them too) over our echo
BACKCHANNELS = ["back-channel", "back-channel echo -15 dB", "back-channel echo -25 dB", "back-channel room echo -15 dB"]


@pytest.fixture(scope="module")
def corpus() -> dict[str, Scenario]:
    groups = [
        *STATIONARY,
        *LOUD_NOISE,
        *BABBLE,
        *ECHO,
        *ROOM_ECHO,
        *BURSTS,
        *INTERRUPTS,
        *FAINT_ECHO_INTERRUPTS,
        *FAINT_ECHO_SHORT_INTERRUPTS,
        *ROOM_INTERRUPTS,
        *SEGMENTATION,
        *BACKCHANNELS,
    ]
    scenarios = build_corpus(groups=groups)
    return {s.name: s for s in scenarios}


@pytest.fixture(scope="module")
def after(corpus: dict[str, Scenario]) -> dict[str, ScenarioResult]:
    run = run_corpus(list(corpus.values()), mode="after", config=CONFIG)
    failed = [r.name for r in run.results if r.voicing_failure]
    assert not failed, f"Silero fell back to webrtcvad in {failed}"
    return {r.name: r for r in run.results}


def _in(group_names: list[str], results: dict[str, ScenarioResult]) -> list[ScenarioResult]:
    chosen = [r for r in results.values() if r.group in group_names]
    assert chosen, f"no scenario in {group_names}"
    return chosen


def assert_ends_of_speech_within(limit: int, after: dict[str, ScenarioResult], groups: list[str]) -> None:
    """Every reply is decided after the caller stopped (never over their last words) and within ``limit``."""
    wrong = [
        f"{r.name}: {'never (>' if undecided else ''}{delay}{')' if undecided else ''} ms"
        for r in _in(groups, after)
        for delay, undecided in zip(r.reply_delays_ms, r.censored, strict=True)
        if undecided or not 0 <= delay <= limit
    ]
    assert not wrong, f"end of speech decided before the caller stopped or later than {limit} ms after: {wrong}"


def test_the_end_of_speech_in_stationary_noise_is_decided_within_eou_silence_plus_150_ms(after):
    assert_ends_of_speech_within(CONFIG.eou_silence_ms + 150, after, STATIONARY)


@pytest.mark.xfail(
    strict=True,
    reason="white noise at SNR 5 dB hides one sentence's quiet ending: its end is decided 460 ms before the caller "
    "stops (below the issue's SNR >= 10 dB)",
)
def test_at_snr_5_db_too(after):
    assert_ends_of_speech_within(CONFIG.eou_silence_ms + 150, after, LOUD_NOISE)


@pytest.mark.xfail(
    strict=True,
    reason="Silero hears the room's talkers as a voice (~1.0): a caller in babble is never heard to stop",
)
def test_a_caller_in_babble_is_answered(after):
    assert_ends_of_speech_within(CONFIG.eou_silence_ms + 150, after, BABBLE)


def test_the_agents_own_echo_at_minus_15_db_or_quieter_never_barges_in(after):
    echoes = ECHO + ROOM_ECHO + INTERRUPTS + FAINT_ECHO_INTERRUPTS + FAINT_ECHO_SHORT_INTERRUPTS + ROOM_INTERRUPTS
    false = [f"{r.name} at {r.barge_in_ms} ms" for r in _in(echoes, after) if r.false_barge_in]
    assert not false, f"barged in on the agent's own echo: {false}"


def test_the_agents_own_echo_never_pauses_it_nor_makes_an_utterance(after):
    """Not even for the moment a pause lasts: the caller would hear the agent stutter over its own echo."""
    paused = [f"{r.name}: {r.paused_ms}" for r in _in(ECHO + ROOM_ECHO, after) if r.paused_ms]
    assert not paused, paused
    spurious = [r.name for r in _in(ECHO + ROOM_ECHO, after) if r.spurious]
    assert not spurious, f"our own echo heard as an utterance: {spurious}"


def test_coughs_clicks_and_doors_never_barge_in(after):
    false = [f"{r.name} at {r.barge_in_ms} ms" for r in _in(BURSTS, after) if r.barge_in_ms is not None]
    assert not false, f"barged in on a noise: {false}"


def test_every_interruption_barges_in_short_words_too(corpus, after):
    """All 30, "תעצור" and "רגע, רגע" (0.5-0.65 s) included: the gate times the caller from their first
    syllable and follows them once Silero heard them start, and their words stop the paused agent."""
    missed = [
        r.name
        for r in _in(INTERRUPTS + FAINT_ECHO_INTERRUPTS + FAINT_ECHO_SHORT_INTERRUPTS + ROOM_INTERRUPTS, after)
        if r.missed_barge_ins
    ]
    assert not missed, missed


def test_back_channels_pause_the_agent_but_never_cut_it_off_even_over_our_echo(after):
    backchannels = _in(BACKCHANNELS, after)
    spurious = [r.name for r in backchannels if r.spurious]
    assert not spurious, f"our own echo heard as an utterance around a back-channel: {spurious}"
    cut = [f"{r.name} at {r.barge_in_ms} ms" for r in backchannels if r.barge_in_ms is not None]
    assert not cut, f"a back-channel cut the agent off: {cut}"
    long = [f"{r.name}: {r.paused_ms}" for r in backchannels if any(ms > 1500 for ms in r.paused_ms)]
    assert not long, f"paused more than 1.5 s for a back-channel: {long}"


def slow_interruptions(corpus: dict[str, Scenario], results: list[ScenarioResult]) -> list[str]:
    limit = barge_in_limit_ms(CONFIG)
    slow = []
    for r in results:
        (segment,) = [s for s in corpus[r.name].truth if s.kind == INTERRUPTION]
        assert segment.duration_ms >= 500
        if r.missed_barge_ins:
            slow.append(f"{r.name} ({segment.duration_ms} ms): missed")
        elif r.reactions_ms[0] > limit:
            slow.append(f"{r.name} ({segment.duration_ms} ms): after {r.reactions_ms[0]} ms")
    return slow


def test_on_a_line_with_no_echo_every_interruption_stops_the_agent_within_barge_in_min_plus_100_ms(corpus, after):
    slow = slow_interruptions(corpus, _in(["interrupt", "short interrupt"], after))
    assert not slow, f"interruptions not answered within {barge_in_limit_ms(CONFIG)} ms: {slow}"


def test_over_our_own_echo_every_interruption_stops_the_agent_within_barge_in_min_plus_100_ms(corpus, after):
    """The canceller takes our echo out of the line, so a caller's quiet first syllables are heard."""
    echoing = [g for g in INTERRUPTS if "echo" in g]
    slow = slow_interruptions(corpus, _in(echoing, after))
    assert not slow, f"interruptions not answered within {barge_in_limit_ms(CONFIG)} ms: {slow}"


def test_over_our_echo_at_minus_35_db_every_interruption_stops_the_agent_within_barge_in_min_plus_100_ms(corpus, after):
    """An echo this faint is near the line's noise: where the canceller cannot prove itself the guard masks by
    loudness, taking the quiet end of a caller's word under our loud syllables for echo. The VAD, which does
    not hear such an echo as voice, keeps the caller's words whole (612 ms after the caller began without it)."""
    slow = slow_interruptions(corpus, _in(FAINT_ECHO_INTERRUPTS, after))
    assert not slow, f"interruptions not answered within {barge_in_limit_ms(CONFIG)} ms: {slow}"


def test_over_our_echo_at_minus_35_db_every_short_interruption_stops_the_agent_within_barge_in_min_plus_100_ms(
    corpus, after
):
    """Silero is slow to hear "תעצור" begin over a -35 dB echo (0.04-0.15 for its first 360 ms) and the guard masks
    its quiet middle: the onset is timed across those masked frames, and Silero's first "speech" after a run
    the gate heard unmasked starts the utterance at once (488 ms after the caller began without the two)."""
    slow = slow_interruptions(corpus, _in(FAINT_ECHO_SHORT_INTERRUPTS, after))
    assert not slow, f"interruptions not answered within {barge_in_limit_ms(CONFIG)} ms: {slow}"


@pytest.mark.xfail(
    strict=True,
    reason="a room's 30 ms echo path is longer than the canceller's 4 ms: the guard masks as it did without one",
)
def test_over_a_rooms_echo_every_interruption_stops_the_agent_within_barge_in_min_plus_100_ms(corpus, after):
    slow = slow_interruptions(corpus, _in(ROOM_INTERRUPTS, after))
    assert not slow, f"interruptions not answered within {barge_in_limit_ms(CONFIG)} ms: {slow}"


def test_two_utterances_stay_two_and_an_utterance_with_short_pauses_stays_one(corpus, after):
    wrong = []
    for r in _in(SEGMENTATION, after):
        expected = len(corpus[r.name].speech())
        ended = len(r.speech_ended())
        if r.merged or r.split or ended != expected or any(r.censored):
            wrong.append(f"{r.name}: {ended} utterances for {expected} (merged {r.merged}, split {r.split})")
    assert not wrong, wrong


def test_a_pause_that_only_looked_like_the_end_is_healed_only_before_the_words_are_in(after):
    """Silero reads the 300 ms pause before "אפס" as ~600 ms (its onset is slow to believe the word): the
    end it decided there is replaced when the caller goes on within the recogniser's delay, as a session
    does. Two utterances 1.2 s apart are never joined that way."""
    went_on = {r.name: r.went_on for r in _in(SEGMENTATION, after)}
    assert went_on["pausy-utterance-1"] == 1
    assert all(went_on[name] == 0 for name in went_on if name.startswith("two-utterances"))


def test_webrtcvad_alone_keeps_a_caller_on_brown_noise_waiting_more_than_2_s(corpus):
    """The corpus can fail a detector: today's webrtcvad never finds the end of speech on brown noise at
    SNR 10 dB (its noise model does not adapt within the scenario)."""
    scenarios = [s for s in corpus.values() if s.group == "brown noise 10 dB"]
    run = run_corpus(scenarios, mode="before", config=CONFIG)
    delays = [d for r in run.results for d in r.reply_delays_ms]
    assert delays
    assert all(d > 2000 for d in delays), delays


# -- the corpus and the scoring themselves ---------------------------------------------------------------
def test_the_corpus_puts_speech_and_noise_at_the_levels_and_lengths_it_claims(corpus):
    for s in corpus.values():
        assert len(s.inbound) == len(s.inbound_echoed) and len(s.inbound) % 160 == 0
        pcm = mulaw.decode(s.inbound)
        for segment in s.truth:
            if segment.kind in (UTTERANCE, INTERRUPTION, BACKCHANNEL) and "noise" not in s.group:
                level = dbfs(pcm[segment.start_ms * 8 : segment.end_ms * 8])
                assert abs(level - SPEECH_DBFS) < 1.5, (s.name, level)
        snr = s.notes.get("snr_db")
        if snr is not None:
            (speech,) = s.speech()
            noise = dbfs(pcm[: speech.start_ms * 8 - 80])
            assert abs(noise - (SPEECH_DBFS - snr)) < 1.5, (s.name, noise)
            assert s.duration_ms - speech.end_ms >= 3000  # noise goes on after the caller stops
        if s.agent is not None:
            assert 2000 <= s.agent_ms <= 6500
            assert abs(dbfs(mulaw.decode(s.agent)) - SPEECH_DBFS) < 1.0
            if s.echo_gain_db is not None:
                echo = mulaw.decode(s.inbound_echoed).astype(np.float64) - pcm
                start = (s.agent_start_ms + (s.echo_delay_ms or 0)) * 8
                level = dbfs(echo[start : start + len(s.agent)])
                assert abs(level - (SPEECH_DBFS + s.echo_gain_db)) < 1.0, (s.name, level)
    short = [s.speech()[0].duration_ms for s in corpus.values() if s.group.startswith("short interrupt")]
    long = [s.speech()[0].duration_ms for s in corpus.values() if s.group.startswith("interrupt")]
    assert all(500 <= ms <= 700 for ms in short), short
    assert all(1000 <= ms <= 2500 for ms in long), long
    assert all(s.truth[0].kind == NOISE for s in corpus.values() if s.group in BURSTS)


def _scenario(truth: list[Segment], *, agent_ms: int = 0) -> Scenario:
    silence = b"\xff" * 8 * 10_000
    agent = b"\xff" * 8 * agent_ms if agent_ms else None
    return Scenario("t", "g", silence, silence, agent, 1000, None, None, tuple(truth))


def test_scoring_counts_reply_delays_merges_splits_and_false_barge_ins():
    two = _scenario([Segment(1000, 2000, UTTERANCE, "a"), Segment(3200, 4000, UTTERANCE, "b")])
    merged = score(two, mode="m", config=CONFIG, events=[(4600, SpeechEnded(1000, 4000))], barge_in_ms=None)
    assert (merged.merged, merged.split, merged.reply_delays_ms) == (1, 0, [2600, 600])

    one = _scenario([Segment(1000, 3000, UTTERANCE, "a")])
    events = [(2400, SpeechEnded(1000, 1800)), (3700, SpeechEnded(2300, 3000))]
    split = score(one, mode="m", config=CONFIG, events=events, barge_in_ms=None)
    assert (split.merged, split.split, split.reply_delays_ms) == (0, 1, [700])

    never = score(one, mode="m", config=CONFIG, events=[(1060, SpeechStarted(1000))], barge_in_ms=None)
    assert never.censored == [True] and never.reply_delays_ms == [7000]

    talk_over = _scenario([Segment(2000, 3000, INTERRUPTION, "x")], agent_ms=4000)
    early = score(talk_over, mode="m", config=CONFIG, events=[], barge_in_ms=1500)
    assert (early.false_barge_in, early.missed_barge_ins, early.agent_played_ms) == (True, 1, 500)
    prompt = score(talk_over, mode="m", config=CONFIG, events=[], barge_in_ms=2320)
    assert (prompt.false_barge_in, prompt.missed_barge_ins, prompt.reactions_ms) == (False, 0, [320])

    paused = score(talk_over, mode="m", config=CONFIG, events=[], barge_in_ms=None, pauses=[(1500, 2100)])
    assert (paused.false_barge_in, paused.pauses_resumed, paused.paused_ms) == (False, 1, [600])
    assert paused.agent_played_ms == 4000 - 600

    (row,) = [g for g in summarise([early]) if g.group == "g"]
    assert row.false_barge_ins == 1 and row.false_barge_ins_per_min == pytest.approx(120.0)
