"""A token opens one stream, once, for a live call; duplicate callbacks are no-ops; outbound URLs never come
from a request. Sockets are tested against a real daphne, driven like Twilio (tests/support/media_socket)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from crm.models import Call, CallEvent
from crm.services import ensure_default_business
from tests.support.live import run_daphne
from tests.support.media_socket import OpenedCall, media_socket, next_message, ring, send_frame, start, stream_stopped
from voice.simulator.webhook_client import DEFAULT_ACCOUNT_SID, new_sid
from voice.twilio import messages
from voice.twilio.security import SIGNATURE_HEADER, call_token_parameters, sign

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

START_TIMEOUT_S = 1.0


@pytest.fixture
def live(transactional_db, tmp_path):
    """A daphne per test, stopped before the test's database is emptied (see tests/voice/test_consumer.py)."""
    with run_daphne(tmp_path, MEDIA_START_TIMEOUT_SECONDS=str(START_TIMEOUT_S)) as server:
        yield server


@sync_to_async
def set_mode(mode: str) -> None:
    business = ensure_default_business()
    business.agent_mode = mode
    business.save()


@sync_to_async
def timeline(call_sid: str) -> list[str]:
    return list(CallEvent.objects.filter(call__call_sid=call_sid).order_by("id").values_list("kind", flat=True))


@sync_to_async
def status(call_sid: str) -> str:
    return Call.objects.get(call_sid=call_sid).status


async def post(base_url: str, auth_token: str, path: str, params: dict[str, str], **headers: str) -> httpx.Response:
    url = base_url + path
    async with httpx.AsyncClient() as http:
        signed = {SIGNATURE_HEADER: sign(auth_token, url, params), **headers}
        return await http.post(url, data=params, headers=signed)


def status_params(call: OpenedCall, call_status: str, sequence: str) -> dict[str, str]:
    return {
        "AccountSid": DEFAULT_ACCOUNT_SID,
        "CallSid": call.call_sid,
        "CallStatus": call_status,
        "SequenceNumber": sequence,
    }


async def refused(ws) -> int:
    """The server closes the socket with 4403 without sending anything."""
    with pytest.raises(ConnectionClosed) as closed:
        await next_message(ws, 5)
    return closed.value.rcvd.code


async def test_a_token_replayed_after_the_call_completed_is_refused_and_writes_nothing(live, settings, caplog):
    await set_mode("sink")
    call = await ring(live.url, settings.TWILIO_AUTH_TOKEN)
    assert (
        await post(live.url, settings.TWILIO_AUTH_TOKEN, "/webhook/call_status", status_params(call, "completed", "3"))
    ).status_code == 204
    before = await timeline(call.call_sid)
    async with media_socket(live.ws_url) as ws:
        await start(ws, call)
        assert await refused(ws) == 4403
    assert await timeline(call.call_sid) == before
    assert await status(call.call_sid) == "completed"  # never back to in-progress
    assert "the call has ended" in live.log()


async def test_two_sockets_with_one_token_only_the_first_is_served(live, settings):
    await set_mode("sink")
    call = await ring(live.url, settings.TWILIO_AUTH_TOKEN)
    async with media_socket(live.ws_url) as first, media_socket(live.ws_url) as second:
        await start(first, call)
        await send_frame(first, call, b"\xff" * 160)
        for _ in range(100):
            if "stream_started" in await timeline(call.call_sid):
                break
            await asyncio.sleep(0.05)
        await start(second, OpenedCall(call.call_sid, new_sid("MZ"), call.parameters))
        assert await refused(second) == 4403
        await send_frame(first, call, b"\xff" * 160, chunk=2)  # the first stream is still served
    await stream_stopped(call.call_sid)  # the server's after-stream writes are done (the DB flush follows)
    assert (await timeline(call.call_sid)).count("stream_started") == 1
    assert "the call already has a stream" in live.log()


async def test_an_expired_token_is_refused(live, settings):
    await set_mode("sink")
    call = await ring(live.url, settings.TWILIO_AUTH_TOKEN)
    old = call_token_parameters(settings.SECRET_KEY, call.call_sid, now=time.time() - 3600)
    async with media_socket(live.ws_url) as ws:
        await start(ws, call, parameters=old)
        assert await refused(ws) == 4403
    assert "stream_started" not in await timeline(call.call_sid)
    assert await status(call.call_sid) == "ringing"


async def test_a_replayed_incoming_call_for_a_call_that_is_not_ringing_gets_no_token(live, settings):
    await set_mode("sink")
    call = await ring(live.url, settings.TWILIO_AUTH_TOKEN)
    await post(live.url, settings.TWILIO_AUTH_TOKEN, "/webhook/call_status", status_params(call, "completed", "3"))
    before = await timeline(call.call_sid)
    params = {
        "AccountSid": DEFAULT_ACCOUNT_SID,
        "CallSid": call.call_sid,
        "CallStatus": "ringing",
        "From": "+972501234567",
        "To": "+97233763805",
    }
    response = await post(live.url, settings.TWILIO_AUTH_TOKEN, "/webhook/incoming_call", params)
    assert response.status_code == 200
    assert b"<Hangup" in response.content and b"<Stream" not in response.content
    assert b"call_token" not in response.content
    assert await timeline(call.call_sid) == before


async def test_a_socket_that_never_sends_start_is_closed(live):
    opened = time.monotonic()
    async with media_socket(live.ws_url) as ws:
        await ws.send(messages.build_connected())
        with pytest.raises(ConnectionClosed):
            await next_message(ws, START_TIMEOUT_S + 5)
    assert time.monotonic() - opened < START_TIMEOUT_S + 4  # daphne checks every 2 s at most


async def test_a_dropped_socket_never_sends_twilio_a_host_from_the_request(settings, twilio, tmp_path):
    """PUBLIC_BASE_URL unset (DEBUG), X-Forwarded-Host: evil.example on every request: the TwiML and the
    rescue queued after the socket drops name no evil host."""
    env = {
        "DEBUG": "true",
        "PUBLIC_BASE_URL": "",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "TWILIO_API_BASE_URL": twilio.base_url,
    }
    with run_daphne(tmp_path, **env) as server:
        await set_mode("sink")
        call_sid = new_sid("CA")
        params = {
            "AccountSid": DEFAULT_ACCOUNT_SID,
            "CallSid": call_sid,
            "CallStatus": "ringing",
            "From": "+972501234567",
            "To": "+97233763805",
        }
        evil = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
        url = "https://evil.example/webhook/incoming_call"  # what a proxy-forwarded request was signed over
        async with httpx.AsyncClient() as http:
            response = await http.post(
                server.url + "/webhook/incoming_call",
                data=params,
                headers={SIGNATURE_HEADER: sign(settings.TWILIO_AUTH_TOKEN, url, params), **evil},
            )
        assert response.status_code == 200 and b"evil" not in response.content
        import xml.etree.ElementTree as ET

        stream = ET.fromstring(response.content).find("Connect/Stream")
        parameters = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
        call = OpenedCall(call_sid, new_sid("MZ"), parameters)
        async with connect(
            server.ws_url + "/ws/twilio-media", additional_headers={"x-forwarded-host": "evil.example"}, proxy=None
        ) as ws:
            await start(ws, call)
            await send_frame(ws, call, b"\xff" * 160)
            for _ in range(100):
                if "stream_started" in await timeline(call_sid):
                    break
                await asyncio.sleep(0.05)
            await ws.close(code=1011)  # no stop: the connection broke
        for _ in range(300):
            if twilio.call_updates(call_sid):
                break
            await asyncio.sleep(0.05)
        await stream_stopped(call_sid)
        (update,) = twilio.call_updates(call_sid)
        assert "/webhook/recording_status" in update["Twiml"]
        assert "evil" not in update["Twiml"]
        assert "http://localhost:8000/webhook/recording_status" in update["Twiml"]
