"""The Media Streams socket on a real daphne server, driven by a real WebSocket client."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from asgiref.sync import sync_to_async
from websockets.exceptions import ConnectionClosed, InvalidStatus

from crm.models import Call, CallEvent
from crm.services import ensure_default_business
from tests.support.live import run_daphne
from tests.support.media_socket import media_socket, next_message, ring, send_frame, start, stop, stream_stopped
from voice.twilio import messages
from voice.twilio.security import call_token, sign

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live(transactional_db, tmp_path):
    """A daphne per test, stopped before the test's database is emptied: a server shared by the module went on
    writing a call's after-stream work while the next flush truncated the tables (a deadlock on PostgreSQL)."""
    with run_daphne(tmp_path) as server:
        yield server


@pytest.fixture
def token(settings) -> str:
    return settings.TWILIO_AUTH_TOKEN


@sync_to_async
def set_mode(mode: str) -> None:
    business = ensure_default_business()
    business.agent_mode = mode
    business.save()


@sync_to_async
def timeline(call_sid: str) -> list[tuple[str, dict]]:
    return [(e.kind, e.payload) for e in CallEvent.objects.filter(call__call_sid=call_sid).order_by("id")]


@sync_to_async
def get_call(call_sid: str) -> Call:
    return Call.objects.get(call_sid=call_sid)


async def wait_for_kind(call_sid: str, kind: str, wait_s: float = 5) -> dict:
    for _ in range(int(wait_s / 0.05)):
        for k, payload in await timeline(call_sid):
            if k == kind:
                return payload
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} event for {call_sid}: {await timeline(call_sid)}")


def frame(i: int) -> bytes:
    return bytes((i + k) % 256 for k in range(160))


async def echo_once(ws, call, payload: bytes) -> None:
    await send_frame(ws, call, payload)
    reply = json.loads(await next_message(ws))
    assert reply == {
        "event": "media",
        "streamSid": call.stream_sid,
        "media": {"payload": base64.b64encode(payload).decode()},
    }


# -- handshake ----------------------------------------------------------------------------------------------
async def test_offered_subprotocol_is_echoed(live):
    async with media_socket(live.ws_url, subprotocol=True) as ws:
        assert ws.subprotocol == "audio.twilio.com"
        assert ws.response.headers["Sec-WebSocket-Protocol"] == "audio.twilio.com"


@pytest.mark.parametrize("path", ["/ws/twilio-media", "/ws/twilio-media/"])
async def test_no_subprotocol_is_answered_when_none_is_offered(live, path):
    async with media_socket(live.ws_url, subprotocol=False, path=path) as ws:
        assert ws.subprotocol is None
        assert "Sec-WebSocket-Protocol" not in ws.response.headers


async def test_a_wrong_upgrade_signature_is_refused_with_403(live, token):
    with pytest.raises(InvalidStatus) as refused:
        async with media_socket(live.ws_url, signature=sign(token, "wss://elsewhere.example.com/ws/twilio-media")):
            pass
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        async with media_socket(live.ws_url, signature="not-a-signature"):
            pass
    assert "wrong Twilio signature" in live.log()


async def test_a_valid_upgrade_signature_is_accepted(live, token):
    host = live.url.removeprefix("http://")
    async with media_socket(live.ws_url, signature=sign(token, f"wss://{host}/ws/twilio-media")) as ws:
        assert ws.subprotocol == "audio.twilio.com"


# -- the per-call token -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "parameters",
    [
        {},
        {"call_token": ""},
        {"call_token": "0" * 32},
        {"call_token": call_token("test-secret-key-not-for-production", "CA" + "f" * 32)},  # another call's
    ],
    ids=["missing", "empty", "wrong", "other-call"],
)
async def test_a_bad_token_closes_the_socket_and_stores_nothing(live, token, parameters):
    await set_mode("echo")
    call = await ring(live.url, token)
    async with media_socket(live.ws_url) as ws:
        await start(ws, call, parameters=parameters)
        await send_frame(ws, call, frame(1))
        with pytest.raises(ConnectionClosed):
            await next_message(ws)
        assert ws.close_code == 4403
    await asyncio.sleep(0.2)
    assert [kind for kind, _ in await timeline(call.call_sid)] == ["webhook"]
    stored = await get_call(call.call_sid)
    assert (stored.stream_sid, stored.status, stored.answered_at) == ("", "ringing", None)


async def test_a_token_for_an_unknown_call_closes_the_socket(live, settings):
    call_sid = "CA" + "e" * 32
    async with media_socket(live.ws_url) as ws:
        await start(
            ws,
            type("C", (), {"call_sid": call_sid, "stream_sid": "MZ" + "e" * 32, "parameters": {}})(),
            parameters={"call_token": call_token(settings.SECRET_KEY, call_sid)},
        )
        with pytest.raises(ConnectionClosed):
            await next_message(ws)
        assert ws.close_code == 4403


# -- modes ---------------------------------------------------------------------------------------------------
async def test_sink_counts_frames_and_sends_nothing(live, token):
    await set_mode("sink")
    call = await ring(live.url, token)
    async with media_socket(live.ws_url) as ws:
        await start(ws, call)
        for i in range(50):
            await send_frame(ws, call, frame(i), chunk=i + 1)
        await ws.send(messages.build_dtmf(call.stream_sid, "7", sequence_number=60))
        await stop(ws, call)
        with pytest.raises(ConnectionClosed):
            await next_message(ws)  # nothing but the close after stop
    stopped = await wait_for_kind(call.call_sid, "stream_stopped")
    assert stopped["frames_received"] == 50 and stopped["frames_sent"] == 0
    assert stopped["close_code"] == 1000 and stopped["stop_received"] is True
    events = await timeline(call.call_sid)
    kinds = [kind for kind, _ in events]
    assert kinds == ["webhook", "stream_started", "dtmf", "stream_stopped"]
    assert events[1][1]["mode"] == "sink" and events[1][1]["stream_sid"] == call.stream_sid
    assert events[2][1] == {"digit": "7"}
    stored = await get_call(call.call_sid)
    assert (stored.stream_sid, stored.status) == (call.stream_sid, "in-progress")
    assert stored.answered_at is not None


async def test_echo_returns_every_frame_byte_identical(live, token):
    await set_mode("echo")
    call = await ring(live.url, token)
    sent = [frame(i) for i in range(40)]
    received: list[bytes] = []
    async with media_socket(live.ws_url, subprotocol=False) as ws:
        await start(ws, call)
        for i, payload in enumerate(sent):
            await send_frame(ws, call, payload, chunk=i + 1)
        while len(received) < len(sent):
            raw = await next_message(ws)
            assert isinstance(raw, str)  # text frames only
            message = json.loads(raw)
            assert message["event"] == "media" and message["streamSid"] == call.stream_sid
            assert set(message) == {"event", "streamSid", "media"}
            received.append(base64.b64decode(message["media"]["payload"]))
        await stop(ws, call)
    assert received == sent
    stopped = await wait_for_kind(call.call_sid, "stream_stopped")
    assert (stopped["frames_received"], stopped["frames_sent"]) == (40, 40)


async def test_nothing_is_sent_before_start(live, token):
    await set_mode("echo")
    call = await ring(live.url, token)
    async with media_socket(live.ws_url) as ws:
        await ws.send(messages.build_connected())
        await send_frame(ws, call, frame(1))  # media before start: ignored, not echoed
        with pytest.raises(TimeoutError):
            await next_message(ws, wait_s=0.5)
        await start(ws, call)
        await echo_once(ws, call, frame(2))
        await stop(ws, call)


# -- bad input never ends another call -------------------------------------------------------------------------
OVERSIZED = json.dumps({"event": "media", "pad": "x" * 100_000})


def bad_inputs(call) -> dict[str, str | bytes]:
    media = json.loads(messages.build_inbound_media(call.stream_sid, frame(0), chunk=1, sequence_number=2))
    wrong_sid = {**media, "streamSid": "MZ" + "0" * 32}
    bad_b64 = {**media, "media": {**media["media"], "payload": "***"}}
    short = {**media, "media": {**media["media"], "payload": base64.b64encode(b"\xff" * 100).decode()}}
    return {
        "binary_frame": b"\x00\x01\x02",
        "invalid_json": "{not json",
        "unknown_event": json.dumps({"event": "hello", "streamSid": call.stream_sid}),
        "media_before_start": messages.build_inbound_media(call.stream_sid, frame(0), chunk=1, sequence_number=1),
        "wrong_stream_sid": json.dumps(wrong_sid),
        "invalid_base64": json.dumps(bad_b64),
        "bad_frame_size": json.dumps(short),
        "oversized": OVERSIZED,
    }


@pytest.mark.parametrize(
    "kind",
    [
        "binary_frame",
        "invalid_json",
        "unknown_event",
        "media_before_start",
        "wrong_stream_sid",
        "invalid_base64",
        "bad_frame_size",
        "oversized",
    ],
)
async def test_bad_input_is_ignored_logged_once_and_other_calls_keep_streaming(live, token, kind):
    await set_mode("echo")
    bad_call, good_call = await ring(live.url, token), await ring(live.url, token)
    bad = bad_inputs(bad_call)[kind]
    line = f"ignored bad input on media socket: {kind}"
    logged_before = live.log().count(line)
    async with media_socket(live.ws_url) as good_ws, media_socket(live.ws_url) as bad_ws:
        await start(good_ws, good_call)
        await echo_once(good_ws, good_call, frame(1))
        if kind == "media_before_start":
            await bad_ws.send(bad)
            await bad_ws.send(bad)
            await start(bad_ws, bad_call)
        else:
            await start(bad_ws, bad_call)
            await bad_ws.send(bad)
            await bad_ws.send(bad)
        await echo_once(good_ws, good_call, frame(2))  # the other call streams on
        await echo_once(bad_ws, bad_call, frame(3))  # and so does this one: the input was ignored
        await stop(bad_ws, bad_call)
        await stop(good_ws, good_call)
    stopped = await wait_for_kind(bad_call.call_sid, "stream_stopped")
    assert stopped["ignored"] == {kind: 2}
    assert stopped["frames_received"] == 1 and stopped["frames_sent"] == 1
    assert "ignored" not in await wait_for_kind(good_call.call_sid, "stream_stopped")
    await asyncio.sleep(0.1)
    assert live.log().count(line) == logged_before + 1  # sent twice, logged once


async def test_a_second_start_is_ignored(live, token):
    await set_mode("echo")
    call = await ring(live.url, token)
    async with media_socket(live.ws_url) as ws:
        await start(ws, call)
        await start(ws, call)
        await echo_once(ws, call, frame(1))
        await stop(ws, call)
    stopped = await wait_for_kind(call.call_sid, "stream_stopped")
    assert stopped["ignored"] == {"duplicate_start": 1}
    assert [k for k, _ in await timeline(call.call_sid)].count("stream_started") == 1


async def test_a_dropped_socket_is_recorded_with_its_close_code(live, token):
    await set_mode("sink")
    call = await ring(live.url, token)
    async with media_socket(live.ws_url) as ws:
        await start(ws, call)
        await send_frame(ws, call, frame(1))
        await ws.close(code=1011)
    stopped = await wait_for_kind(call.call_sid, "stream_stopped")
    assert stopped["close_code"] == 1011 and stopped["stop_received"] is False
    assert stopped["ended_by"] == "disconnect"
    # The server queues the voicemail rescue after that row: done before the database is flushed (PostgreSQL
    # cannot flush under the server's open transaction).
    await rescue_queued(call.call_sid)


async def rescue_queued(call_sid: str, wait_s: float = 10) -> None:
    from voice.models import Job
    from voice.tasks import rescue_dropped_call

    queued = sync_to_async(Job.objects.filter(call__call_sid=call_sid, task=rescue_dropped_call.name).exists)
    for _ in range(int(wait_s / 0.05)):
        if await queued():
            await asyncio.sleep(0.2)  # its transaction's commit, and the publish after it
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the server never queued the rescue of {call_sid}")


async def test_the_business_mode_is_snapshotted_when_the_call_rings(live, token):
    await set_mode("echo")
    call = await ring(live.url, token)
    await set_mode("sink")
    async with media_socket(live.ws_url) as ws:
        await start(ws, call)
        await echo_once(ws, call, frame(5))
        await stop(ws, call)
    # The server's after-stream writes must be done before the database is flushed for the next test.
    await stream_stopped(call.call_sid)
