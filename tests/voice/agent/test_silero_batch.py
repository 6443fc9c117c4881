"""One Silero model per process: every call's windows scored together, each call with its own state."""

from __future__ import annotations

import asyncio
import importlib.metadata
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY

from tests.support.caller_audio import HAVE_ESPEAK, espeak_hebrew, silence
from voice.agent.silero_batch import WINDOW_SAMPLES, SileroBatch, SileroStream, model_path
from voice.audio import mulaw


def windows(audio: bytes) -> list[np.ndarray]:
    pcm = mulaw.decode(audio).astype(np.float32) / 32768.0
    return [pcm[i : i + WINDOW_SAMPLES] for i in range(0, len(pcm) - WINDOW_SAMPLES + 1, WINDOW_SAMPLES)]


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> bytes:
    if not HAVE_ESPEAK:
        pytest.skip("espeak-ng is not installed")
    return silence(300) + espeak_hebrew("שלום, אני רוצה לשמוע על המחירים", tmp_path_factory.mktemp("s")) + silence(600)


def test_the_model_comes_from_the_installed_package():
    path = model_path()
    assert path.name == "silero_vad.onnx" and path.stat().st_size > 1_000_000


def test_a_model_file_that_is_missing_is_a_clear_error(tmp_path):
    with pytest.raises(Exception, match=r"NO_SUCHFILE|No such file|doesn't exist|does not exist"):
        SileroBatch(tmp_path / "missing.onnx")


async def test_speech_scores_high_and_silence_low(speech):
    stream = SileroBatch().stream()
    scores = [await stream.score(w) for w in windows(speech)]
    assert max(scores[:5]) < 0.2  # the 300 ms of silence before
    assert np.mean(np.array(scores) > 0.5) > 0.4
    assert scores[-1] < 0.2  # and after


async def test_calls_scored_together_keep_their_own_state(speech):
    """Three calls in one batch, one of them hearing speech and two silence: the speaking call gets
    exactly the scores it gets alone."""
    alone = SileroBatch().stream()
    solo = [await alone.score(w) for w in windows(speech)]

    batch = SileroBatch()
    talking, quiet_a, quiet_b = batch.stream(), batch.stream(), batch.stream()
    hush = windows(silence(len(speech) // 8))
    together = []
    for talk, a, b in zip(windows(speech), hush, hush, strict=True):
        scores = await asyncio.gather(talking.score(talk), quiet_a.score(a), quiet_b.score(b))
        together.append(scores[0])
        assert scores[1] < 0.2 and scores[2] < 0.2
    assert np.allclose(together, solo, atol=1e-4)
    # One ONNX run per tick for the three calls (but the first: a call is not expected until it has
    # sent a window).
    assert batch.runs <= len(solo) + 2
    assert batch.windows == 3 * len(solo)


async def test_a_lone_call_never_waits_for_a_tick():
    batch = SileroBatch(tick_ms=100)
    stream = batch.stream()
    loop = asyncio.get_running_loop()
    started = loop.time()
    for w in windows(silence(1000)):
        await stream.score(w)
    assert batch.runs == len(windows(silence(1000)))
    assert loop.time() - started < 1.0  # 31 windows, no 100 ms tick among them


async def two_calls_scored_together(tick_ms: int) -> tuple[SileroBatch, SileroStream, SileroStream, np.ndarray]:
    """A batch where two calls are known to be active: their latest windows were scored in one run."""
    batch = SileroBatch(tick_ms=tick_ms)
    first, second = batch.stream(), batch.stream()
    w = windows(silence(100))[0]
    await asyncio.gather(first.score(w), second.score(w))  # the second is expected once it has sent a window
    runs = batch.runs
    await asyncio.gather(first.score(w), second.score(w))
    assert batch.runs == runs + 1  # together, at once
    return batch, first, second, w


def vad_counts() -> tuple[float, float, float]:
    """The process's Silero figures for the operator: runs, the CPU they took, windows scored."""
    runs = REGISTRY.get_sample_value("agentlocator_vad_run_seconds_count") or 0.0
    cpu = REGISTRY.get_sample_value("agentlocator_vad_run_seconds_sum") or 0.0
    return runs, cpu, REGISTRY.get_sample_value("agentlocator_vad_windows_total") or 0.0


async def test_each_run_is_counted_for_the_operator_with_its_windows_and_its_cpu():
    batch, first, second, w = await two_calls_scored_together(tick_ms=50)
    runs, cpu, scored = vad_counts()
    batch_cpu = batch.cpu_s
    await asyncio.gather(first.score(w), second.score(w))
    after = vad_counts()
    assert batch.cpu_s - batch_cpu == pytest.approx(after[1] - cpu)  # the batch's own count, for benchmarks
    assert after[0] == runs + 1  # one run
    assert after[2] == scored + 2  # of both calls' windows
    assert after[1] > cpu  # and the CPU it took


async def test_a_call_waits_at_most_one_tick_for_a_call_that_went_quiet():
    """Both calls were active; then one stops sending windows (its caller went silent and the gate
    closed): the other's window is scored at the tick, not held for the quiet one."""
    batch, talking, _quiet, w = await two_calls_scored_together(tick_ms=30)
    runs = batch.runs
    result = await asyncio.wait_for(talking.score(w), timeout=2.0)  # the quiet call sends nothing now
    assert result < 0.5 and batch.runs == runs + 1


async def test_a_call_that_speaks_again_after_the_others_went_quiet_is_scored_at_once():
    """Two calls were active; both went quiet (no window for longer than the batch expects another), and
    then one speaks again: it is the only call the batch waits for, so its window is scored at once."""
    batch, first, _second, w = await two_calls_scored_together(tick_ms=50)
    runs = batch.runs
    await asyncio.sleep(0.15)  # both quiet
    scored = first.score(w)
    assert scored.done() and batch.runs == runs + 1  # at once: no tick waited for the quiet call
    assert await scored < 0.5


async def test_a_call_is_not_waited_for_once_it_has_been_quiet_for_the_roll_s_span():
    """A call that went quiet is expected for 100 ms after its latest window, not until the batch happens to
    look again: the call still talking is scored at once after that."""
    _batch, talking, _quiet, w = await two_calls_scored_together(tick_ms=20)
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    await asyncio.sleep(0.06)
    waited = talking.score(w)
    if loop.time() - quiet_since < 0.09:  # (a loaded machine may have slept past the roll's span)
        assert not waited.done()  # the quiet call may still send its window this tick
    await waited  # scored at the tick (~80 ms)
    await asyncio.sleep(0.03)
    assert talking.score(w).done()  # >= 110 ms


async def test_a_model_the_runtime_cannot_run_fails_every_waiting_window():
    """A real fault in the runtime: the half-precision model refuses our inputs. The callers get the
    error (and fall back to webrtcvad, see test_voicing)."""
    half = Path(str(importlib.metadata.distribution("silero-vad").locate_file("silero_vad/data/silero_vad_half.onnx")))
    batch = SileroBatch(half)
    stream = batch.stream()
    before = vad_counts()
    with pytest.raises(Exception, match=r"INVALID_ARGUMENT|Invalid"):
        await stream.score(windows(silence(100))[0])
    assert batch.runs == 0
    assert vad_counts() == before  # a failed run scored nothing (the fallback is counted as a vad error)
