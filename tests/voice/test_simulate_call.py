"""``simulate_call`` end to end against a real daphne server: the whole Twilio conversation, both modes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command

from crm.models import Call, CallEvent
from crm.services import ensure_default_business
from tests.support.live import ROOT, server_environment, simulate_call_argv
from tests.support.media_socket import stream_stopped
from voice.audio import wav
from voice.simulator.client import CallOptions, load_caller_audio, simulate_call

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SPEED = 4.0


@pytest.fixture
def caller_wav(tmp_path) -> str:
    """1.2 s of a voiced sound at 16 kHz stereo: the simulator must convert it to 8 kHz mono mu-law."""
    t = np.arange(int(1.2 * 16000)) / 16000
    tone = (np.sin(2 * np.pi * 220 * t) * 8000 + np.sin(2 * np.pi * 660 * t) * 3000).astype(np.int16)
    path = tmp_path / "caller.wav"
    path.write_bytes(wav.write_wav(np.stack([tone, tone], axis=1), 16000))
    return str(path)


@sync_to_async
def set_business(**fields) -> None:
    business = ensure_default_business()
    for name, value in fields.items():
        setattr(business, name, value)
    business.save()


@sync_to_async
def stored(call_sid: str) -> tuple[Call, list[tuple[str, dict]]]:
    call = Call.objects.get(call_sid=call_sid)
    return call, [(e.kind, e.payload) for e in CallEvent.objects.filter(call=call).order_by("id")]


def options(server, settings, caller_wav: str, **overrides) -> CallOptions:
    return CallOptions(
        base_url=server.url,
        auth_token=settings.TWILIO_AUTH_TOKEN,
        caller_audio=load_caller_audio(caller_wav),
        speed=SPEED,
        silence_s=0.6,
        **overrides,
    )


async def test_echo_call_end_to_end(daphne_server, settings, caller_wav):
    await set_business(agent_mode="echo")
    opts = options(daphne_server, settings, caller_wav, dtmf="12")
    summary = await simulate_call(opts)

    speech_frames = len(opts.caller_audio) // 160
    assert speech_frames == 60  # 1.2 s at 8 kHz
    assert summary.subprotocol == "audio.twilio.com"
    assert summary.frames_sent == speech_frames + 30
    assert summary.frames_received >= speech_frames  # the last echoes may race the caller's stop
    assert summary.protocol_errors == []
    assert summary.reply_latency_ms is not None and summary.reply_latency_ms < 500
    for i in range(0, len(opts.caller_audio), 160):  # the caller heard themselves, frame for frame
        assert opts.caller_audio[i : i + 160] in summary.agent_audio
    assert summary.hung_up_by == "caller"
    assert "<Hangup" in summary.stream_ended_twiml  # the caller hung up: no voicemail

    await stream_stopped(summary.call_sid)
    call, events = await stored(summary.call_sid)
    kinds = [k for k, _ in events]
    assert kinds[:2] == ["webhook", "stream_started"]
    assert [p["digit"] for k, p in events if k == "dtmf"] == ["1", "2"]
    stopped = next(p for k, p in events if k == "stream_stopped")
    assert stopped["frames_received"] == summary.frames_sent
    assert stopped["frames_sent"] >= speech_frames
    assert (call.status, call.stream_sid) == ("completed", summary.stream_sid)
    assert call.duration_seconds is not None and call.ended_at is not None
    assert "fallback" not in kinds


async def test_sink_call_without_subprotocol(daphne_server, settings, caller_wav):
    await set_business(agent_mode="sink")
    summary = await simulate_call(options(daphne_server, settings, caller_wav, subprotocol=False))
    assert summary.subprotocol is None
    assert summary.frames_received == 0 and summary.agent_audio.count(b"\xff") == len(summary.agent_audio)
    await stream_stopped(summary.call_sid)
    _, events = await stored(summary.call_sid)
    stopped = next(p for k, p in events if k == "stream_stopped")
    assert stopped["frames_received"] == summary.frames_sent and stopped["frames_sent"] == 0
    assert "played_late_ms" not in stopped  # the sink sends nothing, so no mark measures Twilio's play-out
    assert next(p for k, p in events if k == "stream_started")["mode"] == "sink"


async def test_agent_disabled_call_gets_voicemail_twiml(daphne_server, settings, caller_wav):
    await set_business(agent_enabled=False)
    summary = await simulate_call(options(daphne_server, settings, caller_wav))
    assert not summary.connected
    assert "<Record" in summary.twiml
    _, events = await stored(summary.call_sid)
    assert ("fallback", {"reason": "agent_disabled"}) in events


async def test_the_management_command(daphne_server, settings, caller_wav, tmp_path):
    await set_business(agent_mode="echo")
    out = tmp_path / "agent.wav"
    result = await sync_to_async(subprocess.run)(
        simulate_call_argv(
            daphne_server.url,
            caller_wav,
            "--speed",
            str(SPEED),
            "--silence",
            "0.5",
            "--out",
            str(out),
            "--echo-db",
            "-20",
        ),
        cwd=ROOT,
        env=server_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "frames received" in result.stdout and "protocol errors    none" in result.stdout
    assert "speakerphone       the agent's voice came back 20 dB down, 120 ms late" in result.stdout
    samples, rate = wav.parse_wav(out.read_bytes())
    assert rate == 8000 and len(samples) > 8000  # over a second of the caller's own voice


async def test_the_management_command_reports_a_wrong_token(daphne_server, caller_wav):
    env = server_environment(TWILIO_AUTH_TOKEN="wrong-token")
    result = await sync_to_async(subprocess.run)(
        [sys.executable, "manage.py", "simulate_call", "--url", daphne_server.url, "--wav", caller_wav],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "11200: HTTP 403" in result.stderr


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--echo-db", "3"], "quieter than the agent's voice"),
        (["--echo-db", "-20", "--echo-delay-ms", "5000"], "0 to 1000 ms"),
        (["--echo-db", "-20", "--line-noise-dbfs", "6"], "below full scale"),
        (["--line-noise-dbfs", "-55"], "give --echo-db too"),
    ],
)
def test_a_speakerphone_louder_than_the_agent_or_too_late_is_refused_before_any_call(caller_wav, flags, says):
    # The port is closed: a refusal that came after dialling would read "cannot reach", not the flag's error.
    with pytest.raises(CommandError, match=says):
        call_command("simulate_call", "--url", "http://127.0.0.1:9", "--wav", caller_wav, "--auth-token", "t", *flags)
    assert not Call.objects.exists()
