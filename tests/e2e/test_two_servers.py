"""Scale-out that is real: two daphne processes sharing PostgreSQL/SQLite and Redis (the channel layer), as
N web processes behind a proxy run. A simulated call is served by one process; a seller follows it on the
live page served by the other, sees the caller's words arrive, and the page's actions ("move to voicemail",
"transfer to me", "end call") reach that call through Twilio's REST API (our stand-in of it).

Needs Redis: the embedded in-memory channel layer cannot cross processes (TEST_SERVICES=1 starts one)."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from crm.models import CallEvent, Membership
from tests.e2e.test_browser import caller_wav, staff_user, wait_for_live_call  # noqa: F401  (staff_user: fixture)
from tests.support.browser import log_in
from tests.support.live import run_daphne, simulated_call
from voice.providers.registry import FAKE_TRANSCRIPT

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("staff_groups"),
]

STAFF_PHONE = "+972521234567"


def act(page, button: str) -> None:
    """Press one of the live page's action buttons, accepting its confirmation, and wait for the page again."""
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click(button)
    page.wait_for_selector("#live-connection.connected")


@pytest.mark.skipif(not settings.REDIS_URL, reason="two processes share a call only through Redis (TEST_SERVICES=1)")
def test_a_call_on_one_process_is_followed_and_acted_on_from_another(
    page,
    daphne_server,
    staff_user,  # noqa: F811  (the fixture, imported by name)
    twilio,
    tmp_path,
):
    Membership.objects.filter(user=staff_user).update(phone=STAFF_PHONE)
    (tmp_path / "b").mkdir()
    with run_daphne(tmp_path / "b", TWILIO_API_BASE_URL=twilio.base_url) as other:
        assert other.url != daphne_server.url
        log_in(page, other, staff_user)
        frames: list[dict] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(json.loads(payload))))
        # The call is ended when the block ends: the simulator's silence only keeps it live for the actions.
        with simulated_call(daphne_server.url, caller_wav(tmp_path), "--silence", "30"):
            call = wait_for_live_call()
            twilio.set_call(call.call_sid, "in-progress")

            page.goto(f"{other.url}/admin/crm/call/live/")  # the list on process B shows A's call
            page.locator(f'tr[data-call-sid="{call.call_sid}"] a.live-open').click()
            page.wait_for_url(f"**/admin/crm/call/{call.pk}/live/")
            page.wait_for_selector("#live-connection.connected")
            # What the caller says on A reaches the page on B, over B's staff socket.
            page.locator(".bubble-caller .text", has_text=FAKE_TRANSCRIPT).first.wait_for(timeout=30_000)

            act(page, "#live-voicemail")
            act(page, "#live-transfer")
            act(page, "#live-end")

    updates = twilio.call_updates(call.call_sid)
    assert len(updates) == 3, updates
    voicemail, transfer, end = updates
    assert "<Record" in voicemail["Twiml"]
    assert "<Dial" in transfer["Twiml"] and STAFF_PHONE in transfer["Twiml"]
    assert end["Status"] == "completed"
    assert call.events.filter(kind=CallEvent.Kind.HANGUP).count() >= 2  # the staff actions, on the call's timeline
    pushed = [f for f in frames if f.get("kind") == "utterance" and f.get("call_sid") == call.call_sid]
    assert pushed, "the caller's words did not arrive over the other process's staff socket"
