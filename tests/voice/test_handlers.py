"""The agent mode turned into a handler; diagnostic handlers time what they report by the call's clock; what every
call shares (provider clients, the Silero model) is built when the process starts, and a model that cannot load
is tried once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from crm.models import Business
from tests.support.agent_doubles import FakeTwilio, MemoryReporter
from tests.support.live import ROOT, server_environment
from voice import handlers
from voice.agent.config import AgentConfig
from voice.audio.clock import MediaClock
from voice.handlers import CallInfo, build_handler


async def feed(handler, clock: MediaClock, payloads: int) -> None:
    """As the socket does: advance the clock, then hand the payload over."""
    for _ in range(payloads):
        payload = b"\xff" * 160
        clock.advance(payload)
        await handler.media(payload)


def call_info(mode: str) -> CallInfo:
    return CallInfo(call_id=1, call_sid="CA" + "0" * 32, mode=mode, config=AgentConfig())


async def test_echo_sends_the_audio_back_and_times_dtmf_by_the_media_clock():
    clock, twilio, crm = MediaClock(), FakeTwilio(), MemoryReporter()
    handler = build_handler(call_info(Business.AgentMode.ECHO), twilio, crm, clock)
    await handler.start()
    await feed(handler, clock, 25)
    await handler.dtmf("5")
    await handler.stop()
    assert twilio.frames == 25
    assert crm.events == [("dtmf", 500, {"digit": "5"})]


async def test_sink_sends_nothing():
    clock, twilio, crm = MediaClock(), FakeTwilio(), MemoryReporter()
    handler = build_handler(call_info(Business.AgentMode.SINK), twilio, crm, clock)
    await handler.start()
    await feed(handler, clock, 10)
    await handler.dtmf("1")
    await handler.stop()
    assert twilio.log == [] and crm.events == [("dtmf", 200, {"digit": "1"})]


# -- what every call shares is built when the process starts -----------------------------------------------
def run_server_process(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter that loads the ASGI application as daphne does."""
    script = "import agentlocator.asgi\nfrom voice import handlers\n" + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script],
        env=server_environment(PUBLIC_BASE_URL="https://voice.example.com", **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_process_runs_numpy_s_blas_on_one_thread(tmp_path):
    """OpenBLAS's idle worker threads spin after each product the echo canceller makes, taking a core from the
    event loops. Asked for two (as on a two-core machine), the web process still runs it on one."""
    done = run_server_process(
        """
        from threadpoolctl import threadpool_info
        blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and all(pool["num_threads"] == 1 for pool in blas), blas
        """,
        tmp_path,
        OPENBLAS_NUM_THREADS="2",
    )
    assert done.returncode == 0, done.stderr


def test_the_process_loads_the_model_and_the_provider_clients_before_its_first_call(tmp_path):
    done = run_server_process(
        """
        assert handlers._shared_providers.cache_info().currsize == 1
        assert type(handlers._shared_silero()).__name__ == "SileroBatch"
        assert handlers._shared_silero.cache_info().misses == 1  # loaded at start, not on this call
        """,
        tmp_path,
        VOICE_VAD="silero",
    )
    assert done.returncode == 0, done.stderr


def test_a_model_that_cannot_load_is_tried_once_and_every_call_runs_on_webrtcvad(tmp_path):
    broken = tmp_path / "broken"
    (broken / "onnxruntime").mkdir(parents=True)
    (broken / "onnxruntime" / "__init__.py").write_text("raise ImportError('onnxruntime is broken here')\n")
    done = run_server_process(
        """
        from voice.agent.config import AgentConfig
        first, second = handlers._voicing(AgentConfig()), handlers._voicing(AgentConfig())
        assert type(first).__name__ == type(second).__name__ == "WebrtcVoicing"
        assert "onnxruntime is broken here" in first.failure  # on the call's timeline with its first frame
        assert handlers._shared_silero.cache_info().misses == 1
        """,
        tmp_path,
        VOICE_VAD="silero",
        PYTHONPATH=str(broken),
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).count("Silero VAD unavailable") == 1  # logged once


def test_the_echo_guard_setting_reaches_every_new_call(settings):
    """VOICE_ECHO_GUARD=false (bench.budget's side without the stack): the call's listener has no guard, and our
    audio is handed to none; on (the default) both are there."""
    settings.VOICE_SPEECH_CACHE = False  # the session itself, not the stored-speech wrapper around it
    settings.VOICE_ASR = settings.VOICE_LLM = settings.VOICE_TTS = "fake"
    shared = (handlers._shared_providers, handlers._shared_ready_audio)  # built once per process
    sessions = {}
    try:
        for made in shared:
            made.cache_clear()
        for guard in (True, False):
            settings.VOICE_ECHO_GUARD = guard
            sessions[guard] = build_handler(
                call_info(Business.AgentMode.AI), FakeTwilio(), MemoryReporter(), MediaClock()
            )
    finally:
        for made in shared:  # later tests build their own
            made.cache_clear()
    assert sessions[True].listener._echo is not None and sessions[True].pacer._on_queued is not None
    assert sessions[False].listener._echo is None and sessions[False].pacer._on_queued is None
