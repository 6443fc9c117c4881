"""What happens when a stream ends, on a real daphne server: the two-channel recording is written, the
after-call work is queued, and a socket that died mid-conversation gets the caller to voicemail through
Twilio's REST API (the real twilio client, pointed at the local stand-in). Celery runs eagerly in the server
here; tests/voice/test_celery_worker.py proves the real worker wiring."""

from __future__ import annotations

import asyncio
import io
import wave

import numpy as np
import pytest
from asgiref.sync import sync_to_async

from crm.models import Call, CallEvent, Recording
from crm.services import ensure_default_business
from tests.support.live import run_daphne
from tests.support.media_socket import media_socket, ring, send_frame, start, stop
from voice import calls, tasks
from voice.audio import mulaw

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(twilio, tmp_path):
    with run_daphne(tmp_path, CELERY_TASK_ALWAYS_EAGER="true", TWILIO_API_BASE_URL=twilio.base_url) as live:
        yield live


@sync_to_async
def set_mode(mode: str) -> None:
    business = ensure_default_business()
    business.agent_mode = mode
    business.save()


async def eventually(check, wait_s: float = 10):
    for _ in range(int(wait_s / 0.05)):
        result = await sync_to_async(check)()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"never true: {check.__doc__}")


def tone(i: int) -> bytes:
    samples = (8000 * np.sin(np.arange(160) * 0.3 + i)).astype(np.int16)
    return mulaw.encode(samples)


async def test_an_echo_call_ends_with_a_two_channel_recording(server, settings, twilio):
    await set_mode("echo")
    call = await ring(server.url, settings.TWILIO_AUTH_TOKEN)
    async with media_socket(server.ws_url) as ws:
        await start(ws, call)
        for i in range(50):  # one second
            await send_frame(ws, call, tone(i))
            await ws.recv()  # the echo
        await stop(ws, call)

    def stored() -> Recording | None:
        """the call's stream recording is stored"""
        return Recording.objects.filter(call__call_sid=call.call_sid, status=Recording.Status.STORED).first()

    recording = await eventually(stored)
    assert recording.kind == Recording.Kind.CALL and recording.channels == 2
    data = await sync_to_async(lambda: recording.file.open("rb").read())()
    with wave.open(io.BytesIO(data)) as wav:
        assert wav.getnchannels() == 2
        assert wav.getframerate() == 8000
        assert abs(wav.getnframes() - 8000) <= 160
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).reshape(-1, 2)
    caller, agent = frames[:, 0], frames[:, 1]
    assert np.abs(caller).max() > 4000  # the caller's tone on the left
    assert np.abs(agent).max() > 4000  # the echo on the right
    kinds = await sync_to_async(
        lambda: list(CallEvent.objects.filter(call=recording.call).values_list("kind", flat=True))
    )()
    assert "recording_stored" in kinds
    assert twilio.call_updates(call.call_sid) == []  # a clean stop needs no rescue


async def test_a_socket_that_dies_mid_call_moves_the_caller_to_voicemail(server, settings, twilio):
    await set_mode("sink")
    call = await ring(server.url, settings.TWILIO_AUTH_TOKEN)
    async with media_socket(server.ws_url) as ws:
        await start(ws, call)
        await send_frame(ws, call, tone(0))
        await ws.close(code=1011)  # no stop: the connection broke

    def moved():
        """the stand-in received the call update"""
        return twilio.call_updates(call.call_sid)

    (update,) = await eventually(moved)
    xml = update["Twiml"]
    assert xml.startswith("<?xml")
    # URLs from PUBLIC_BASE_URL (the test server's own address), never from the socket's headers.
    assert "<Record" in xml and server.url + "/webhook/recording_status" in xml
    fallback = await eventually(lambda: CallEvent.objects.filter(call__call_sid=call.call_sid, kind="fallback").first())
    assert fallback.payload == {"reason": "socket_dropped", "via": "rest_api"}


def test_no_rescue_once_twilio_asked_for_the_next_step(twilio):
    call = Call.objects.create(call_sid="CA" + "1" * 32, business=ensure_default_business(), status="in-progress")
    CallEvent.objects.create(call=call, kind="webhook", payload={"webhook": "stream_ended", "decision": "voicemail"})
    assert not calls.needs_rescue(call)
    assert tasks.rescue_dropped_call.apply(args=(call.pk, "https://voice.example.com")).get() is False
    assert twilio.call_updates(call.call_sid) == []


def test_no_rescue_for_a_call_that_is_already_over(twilio):
    call = Call.objects.create(call_sid="CA" + "2" * 32, business=ensure_default_business(), status="completed")
    assert not calls.needs_rescue(call)


def test_a_call_twilio_no_longer_knows_is_not_rescued(twilio):
    # The stand-in answers 404 for calls on another account: Twilio's answer for a call that is gone.
    call = Call.objects.create(call_sid="CA" + "3" * 32, business=ensure_default_business(), status="in-progress")
    assert calls.needs_rescue(call)
    twilio.account_sid = "AC" + "f" * 32
    assert tasks.rescue_dropped_call.apply(args=(call.pk, "https://voice.example.com")).get() is False
    assert not CallEvent.objects.filter(call=call, kind="fallback").exists()
