"""The listener's votes while we speak, frame by frame (``voice.agent.over_echo``): our echo is not the caller,
a caller's quiet syllables under our loud ones still are, and an onset is timed from its first frame."""

from __future__ import annotations

from voice.agent.over_echo import BRIDGE_FRAMES, GATE_GAP_FRAMES, ONSET_RUN_FRAMES, OverEcho


def quiet_echo(over: OverEcho, frames: int = 40, *, sure: bool | None = False) -> None:
    """We speak and the caller is quiet: every frame is our echo, which the detector's own state calls a voice
    (``sure=True``) or not."""
    for _ in range(frames):
        over.vote(False, False, echo=True, eager=True, sure=sure, in_speech=False)


def caller(over: OverEcho, frames: int, *, eager: bool = True, in_speech: bool = True) -> tuple[bool, int, bool]:
    """The caller's voice heard unmasked, the detector sure of it, for ``frames`` frames: the latest vote."""
    vote = (False, 0, False)
    for _ in range(frames):
        vote = over.vote(True, True, echo=False, eager=eager, sure=True, in_speech=in_speech)
    return vote


def test_with_no_echo_and_nothing_of_ours_playing_the_vote_is_the_detectors() -> None:
    over = OverEcho()
    assert over.vote(True, True, echo=False, eager=False, sure=True, in_speech=False) == (True, 0, False)
    assert over.vote(False, True, echo=False, eager=False, sure=False, in_speech=False) == (False, 0, False)
    assert over.vote(False, False, echo=False, eager=False, sure=None, in_speech=True) == (False, 0, False)


def test_a_frame_the_guard_takes_for_our_echo_is_not_the_callers() -> None:
    over = OverEcho()
    quiet_echo(over)
    voiced, onset, start_now = over.vote(True, True, echo=True, eager=True, sure=True, in_speech=False)
    assert (voiced, onset, start_now) == (False, 0, False)


def test_a_masked_frame_right_after_the_callers_voice_is_theirs_where_our_echo_is_no_voice() -> None:
    over = OverEcho()
    quiet_echo(over, sure=False)  # Silero does not hear our echo alone as a voice on this line
    caller(over, 10)
    voiced, _, _ = over.vote(True, True, echo=True, eager=True, sure=True, in_speech=True)
    assert voiced


def test_the_bridge_ends_after_bridge_frames_of_masked_frames() -> None:
    over = OverEcho()
    quiet_echo(over, sure=False)
    caller(over, 10)
    # Masked frames the detector votes voice but is not sure of: they do not carry the caller's voice on.
    votes = [over.vote(True, False, echo=True, eager=True, sure=False, in_speech=True)[0] for _ in range(12)]
    assert votes == [True] * BRIDGE_FRAMES + [False] * (12 - BRIDGE_FRAMES)


def test_no_masked_frame_is_the_callers_where_the_detector_hears_our_echo_as_a_voice() -> None:
    over = OverEcho()
    quiet_echo(over, sure=True)  # a room's echo: a voice to Silero
    caller(over, 10)
    assert over.vote(True, True, echo=True, eager=True, sure=True, in_speech=True) == (False, 0, False)


def test_webrtcvad_alone_never_bridges() -> None:
    over = OverEcho()
    quiet_echo(over, sure=None)
    caller(over, 10)
    assert over.vote(True, True, echo=True, eager=True, sure=None, in_speech=True)[0] is False


def test_while_we_speak_an_onset_is_timed_from_the_gates_first_frame() -> None:
    over = OverEcho()
    for frame in range(1, 5):  # the gate hears a voice the detector is not yet sure of
        voiced, onset, _ = over.vote(False, True, echo=False, eager=True, sure=False, in_speech=False)
        assert (voiced, onset) == (False, frame)


def test_the_gates_run_goes_over_short_gaps() -> None:
    over = OverEcho()
    over.vote(False, True, echo=False, eager=True, sure=False, in_speech=False)
    for _ in range(GATE_GAP_FRAMES):
        over.vote(False, False, echo=False, eager=True, sure=False, in_speech=False)
    _, onset, _ = over.vote(False, True, echo=False, eager=True, sure=False, in_speech=False)
    assert onset == GATE_GAP_FRAMES + 2


def test_a_longer_gap_starts_a_new_run() -> None:
    over = OverEcho()
    over.vote(False, True, echo=False, eager=True, sure=False, in_speech=False)
    for _ in range(GATE_GAP_FRAMES + 1):
        over.vote(False, False, echo=False, eager=True, sure=False, in_speech=False)
    assert over.vote(False, True, echo=False, eager=True, sure=False, in_speech=False)[1] == 1


def test_the_onset_run_bridges_masked_voice_where_our_echo_is_no_voice() -> None:
    over = OverEcho()
    quiet_echo(over, sure=False)
    over.vote(False, True, echo=False, eager=True, sure=False, in_speech=False)  # the word begins
    for _ in range(4):  # its quiet middle, masked under our loud syllables; the gate still hears it
        over.vote(False, True, echo=True, eager=True, sure=False, in_speech=False)
    assert over.vote(False, True, echo=False, eager=True, sure=False, in_speech=False)[1] == 6


def test_the_onset_run_restarts_after_masked_voice_where_our_echo_is_a_voice() -> None:
    over = OverEcho()
    quiet_echo(over, sure=True)
    over.vote(False, True, echo=False, eager=True, sure=False, in_speech=False)
    for _ in range(4):
        over.vote(False, True, echo=True, eager=True, sure=True, in_speech=False)
    assert over.vote(False, True, echo=False, eager=True, sure=False, in_speech=False)[1] == 1


def test_a_steady_voice_the_detector_flickers_on_is_voice() -> None:
    over = OverEcho()
    flicker = [True, False, True, False, True, False]  # three of six, never three in a row
    votes = [over.vote(v, True, echo=False, eager=True, sure=False, in_speech=False)[0] for v in flicker]
    assert votes == [True, False, True, False, True, True]  # the sixth frame of the gate's run: voice


def test_a_short_sound_the_detector_flickers_on_is_not() -> None:
    over = OverEcho()
    votes = [over.vote(v, True, echo=False, eager=True, sure=False, in_speech=False)[0] for v in (True, False, True)]
    votes += [over.vote(False, False, echo=False, eager=True, sure=False, in_speech=False)[0] for _ in range(3)]
    assert votes == [True, False, True, False, False, False]


def test_once_the_caller_talks_over_us_the_gate_follows_them() -> None:
    over = OverEcho()
    assert over.vote(False, True, echo=False, eager=True, sure=False, in_speech=True)[0] is True
    assert over.vote(False, True, echo=False, eager=False, sure=False, in_speech=True)[0] is False  # we are silent


def test_the_detector_sure_after_the_gate_heard_a_run_unmasked_starts_the_utterance_there() -> None:
    over = OverEcho()
    for _ in range(ONSET_RUN_FRAMES - 1):
        assert over.vote(False, True, echo=False, eager=True, sure=False, in_speech=False)[2] is False
    assert over.vote(True, True, echo=False, eager=True, sure=True, in_speech=False)[2] is True


def test_a_masked_frame_in_the_run_defers_the_sure_start() -> None:
    over = OverEcho()
    quiet_echo(over, sure=False)
    over.vote(False, True, echo=True, eager=True, sure=False, in_speech=False)
    for _ in range(ONSET_RUN_FRAMES - 2):
        over.vote(False, True, echo=False, eager=True, sure=False, in_speech=False)
    assert over.vote(True, True, echo=False, eager=True, sure=True, in_speech=False)[2] is False


def test_no_sure_start_while_we_are_silent() -> None:
    over = OverEcho()
    assert caller(over, ONSET_RUN_FRAMES + 2, eager=False, in_speech=False)[2] is False
