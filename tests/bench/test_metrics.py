"""How the load benchmark tells the clears apart: the one each barge-in asked for, the ones the caller's
talking over our audio brought, and the ones that came on their own."""

from __future__ import annotations

from array import array

from bench.caller import CallTrace
from bench.metrics import barge_ins, unexpected_clears


def trace(*, clears: list[float], over_agent: list[float], barge_start_s: float | None = None) -> CallTrace:
    """A 60 s call, a frame sent every 20 ms from t=0; the caller talked over us at ``barge_start_s``."""
    t = CallTrace("CA1")
    t.send_times = array("d", [i * 0.02 for i in range(3000)])
    t.clear_times = clears
    t.over_agent = array("d", over_agent)
    if barge_start_s is not None:
        t.barge_starts = [round(barge_start_s / 0.02)]
    return t


def speech(start_s: float, ms: int) -> list[float]:
    return [start_s + i * 0.02 for i in range(ms // 20)]


def test_the_clear_a_barge_in_asked_for_is_not_unexpected():
    call = trace(clears=[10.5], over_agent=speech(10.0, 1000), barge_start_s=10.0)
    assert unexpected_clears(call) == (0, 0)
    assert barge_ins(call, decision_frame=15)[0] == [500.0]  # 25 frames after the barge-in began


def test_a_clear_after_the_caller_talked_over_our_audio_is_the_callers_doing():
    # The agent's reply stopped mid-sentence on a saturated server; the caller answered; the reply went on.
    call = trace(clears=[10.5, 21.0], over_agent=speech(10.0, 1000) + speech(19.0, 400), barge_start_s=10.0)
    assert unexpected_clears(call) == (1, 0)


def test_a_clear_with_no_caller_over_our_audio_came_on_its_own():
    call = trace(clears=[10.5, 30.0], over_agent=speech(10.0, 1000) + speech(20.0, 1000), barge_start_s=10.0)
    assert unexpected_clears(call) == (0, 1)  # the caller's speech over us ended 9 s before it


def test_a_moment_of_overlap_is_not_talking_over_us():
    call = trace(clears=[21.0], over_agent=speech(20.5, 180))  # 9 frames: under 200 ms
    assert unexpected_clears(call) == (0, 1)
