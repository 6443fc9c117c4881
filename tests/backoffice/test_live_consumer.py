"""The staff socket of the live page, spoken to through the real ASGI application (origin check, session
cookie, routing): who may follow which calls, and that what crm.live_updates broadcasts reaches them."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.urls import reverse

from agentlocator.asgi import application
from crm.live_updates import broadcast
from crm.models import Call, CallEvent
from tests.support import factories
from tests.support.twilio_standin import TwilioStandin

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("staff_groups")]

CALL_A = "CA" + "a" * 32
CALL_B = "CA" + "b" * 32
UTTERANCE = {"id": 1, "speaker": "caller", "text": "שלום, מדבר יוסי", "start_ms": 1200, "end_ms": 2400}


@pytest.fixture(autouse=True)
async def fresh_layer():
    """The in-memory layer is process-wide: start every test with no groups or queued messages."""
    await get_channel_layer().flush()
    yield
    await get_channel_layer().flush()


@pytest.fixture
def live_call_a(business_a):
    return factories.make_call(business_a, call_sid=CALL_A, status=Call.Status.IN_PROGRESS, duration_seconds=None)


@pytest.fixture
def live_call_b(business_b):
    return factories.make_call(business_b, call_sid=CALL_B, status=Call.Status.IN_PROGRESS, duration_seconds=None)


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def socket(path: str, cookie: bytes | None = None) -> WebsocketCommunicator:
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, path, headers=headers)


async def connect(path: str, user=None) -> WebsocketCommunicator:
    cookie = await sync_to_async(session_cookie)(user) if user is not None else None
    communicator = socket(path, cookie)
    connected, code = await communicator.connect()
    assert connected, f"refused with {code}"
    return communicator


async def refused_code(path: str, user=None) -> int:
    cookie = await sync_to_async(session_cookie)(user) if user is not None else None
    communicator = socket(path, cookie)
    connected, code = await communicator.connect()
    assert not connected
    return code


# -- who may connect ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/ws/staff/calls/", f"/ws/staff/calls/{CALL_A}/"])
async def test_anonymous_visitors_are_refused_before_the_socket_opens(live_call_a, path):
    assert await refused_code(path) == 4403


async def test_staff_of_another_business_cannot_follow_the_call(live_call_a, owner_b):
    assert await refused_code(f"/ws/staff/calls/{CALL_A}/", owner_b) == 4403


async def test_an_unknown_call_is_refused_like_a_foreign_one(staff_a):
    assert await refused_code(f"/ws/staff/calls/{'CA' + '0' * 32}/", staff_a) == 4403


async def test_a_user_who_is_not_staff_is_refused(live_call_a, business_a):
    user = await sync_to_async(factories.make_user)("customer", staff=False)
    await sync_to_async(factories.add_member)(user, business_a)
    await sync_to_async(type(user).objects.filter(pk=user.pk).update)(is_staff=False)
    assert await refused_code(f"/ws/staff/calls/{CALL_A}/", user) == 4403
    assert await refused_code("/ws/staff/calls/", user) == 4403


# -- what they receive --------------------------------------------------------------------------------------
async def test_staff_of_the_business_receive_the_calls_updates_as_json(live_call_a, staff_a):
    communicator = await connect(f"/ws/staff/calls/{CALL_A}/", staff_a)

    await broadcast(CALL_A, "utterance", UTTERANCE)

    assert await communicator.receive_json_from(timeout=2) == {
        "call_sid": CALL_A,
        "kind": "utterance",
        "data": UTTERANCE,
    }
    await communicator.disconnect()


async def test_one_calls_socket_does_not_hear_other_calls(live_call_a, staff_a, business_a):
    other = await sync_to_async(factories.make_call)(business_a, status=Call.Status.IN_PROGRESS)
    communicator = await connect(f"/ws/staff/calls/{CALL_A}/", staff_a)

    await broadcast(other.call_sid, "status", {"status": "completed"})

    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_the_list_socket_carries_only_the_users_businesses(live_call_a, live_call_b, staff_a):
    communicator = await connect("/ws/staff/calls/", staff_a)

    await broadcast(CALL_B, "status", {"status": "in-progress"})
    await broadcast(CALL_A, "status", {"status": "in-progress"})

    message = await communicator.receive_json_from(timeout=2)
    assert message["call_sid"] == CALL_A
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_a_superuser_follows_every_business(live_call_a, live_call_b):
    admin = await sync_to_async(factories.make_user)("root", superuser=True)
    communicator = await connect("/ws/staff/calls/", admin)

    await broadcast(CALL_B, "event", {"id": 7, "kind": "dtmf", "offset_ms": 10, "payload": {"digit": "1"}})

    assert (await communicator.receive_json_from(timeout=2))["call_sid"] == CALL_B
    await communicator.disconnect()


async def test_a_staff_action_is_pushed_to_everyone_watching(live_call_a, staff_a, owner_a, settings):
    watcher = await connect(f"/ws/staff/calls/{CALL_A}/", owner_a)
    client = Client()
    await sync_to_async(client.force_login)(staff_a)
    with TwilioStandin(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN) as twilio:
        settings.TWILIO_API_BASE_URL = twilio.base_url
        response = await sync_to_async(client.post)(reverse("admin:crm_call_live_end", args=[live_call_a.pk]))
    assert response.status_code == 302

    message = await watcher.receive_json_from(timeout=2)
    assert message["kind"] == "event"
    assert message["data"]["kind"] == CallEvent.Kind.HANGUP
    assert message["data"]["payload"] == {"reason": "ended_by_staff", "voicemail": False, "by": "staff_a"}
    await watcher.disconnect()
