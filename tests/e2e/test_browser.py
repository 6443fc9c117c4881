"""The admin in a real browser, against a real daphne on the test database: a staff member logs in, opens a
lead and its call, reads the conversation right to left, clicks a line to hear it, looks at the dashboard,
and follows a call that is happening (the simulator plays Twilio; the agent runs with fake providers)."""

from __future__ import annotations

import io
import json
import time
import wave

import numpy as np
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from crm.models import Call, Membership, Utterance
from crm.services import ensure_default_business
from tests.support import factories
from tests.support.browser import log_in
from tests.support.caller_audio import caller_says, silence
from tests.support.live import simulated_call
from voice.audio.wav import mulaw_to_wav
from voice.providers.registry import FAKE_TRANSCRIPT

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("staff_groups"),
]

CONVERSATION = [
    (Utterance.Speaker.AGENT, "שלום, הגעתם למרפאת השיניים. במה אפשר לעזור?", 500, 2800),
    (Utterance.Speaker.CALLER, "אני רוצה לקבוע תור להלבנה ב-10:30 ביום ראשון", 3000, 5600),
    (Utterance.Speaker.AGENT, "בשמחה. רשמתי תור ליום ראשון ב-10:30, מה השם?", 6000, 8600),
    (Utterance.Speaker.CALLER, "דנה כהן, ואפשר גם SMS ל-050-1234567", 9000, 11500),
]
FAKE_REPLY = "בסדר."  # what the fake LLM answers
CLICKED = 1  # the caller's first line starts at 3.0 s of the recording


def tone_wav(seconds: float = 14.0, rate: int = 8000) -> bytes:
    """A small real WAV (16-bit mono) for the recording player: two tones, long enough to seek into."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 330 * t) + 0.2 * np.sin(2 * np.pi * 550 * t)) * 32767 * 0.5
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return out.getvalue()


@pytest.fixture
def staff_user():
    business = ensure_default_business()  # the business the simulator's calls reach
    user = factories.make_user("dana_sales")
    # The server runs the production settings: hash the password with a hasher it knows (tests use MD5).
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(factories.PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    factories.add_member(user, business, Membership.Role.OWNER)
    return user


@pytest.fixture
def finished_call(staff_user):
    business = ensure_default_business()
    lead = factories.make_lead(business, "+972501234567", "דנה כהן", interest="הלבנת שיניים")
    call = factories.make_call(business, lead, duration_seconds=14, summary="דנה קבעה תור להלבנה ביום ראשון ב-10:30.")
    for speaker, text, start, end in CONVERSATION:
        factories.make_utterance(call, speaker, text, start, end)
    factories.make_recording(call, content=tone_wav(), duration_seconds=14.0)
    return call


def test_staff_open_a_lead_and_its_call_read_it_right_to_left_and_click_to_listen(
    page, daphne_server, staff_user, finished_call, screenshots
):
    log_in(page, daphne_server, staff_user)

    page.goto(daphne_server.url + "/admin/crm/lead/")
    page.get_by_role("link", name="דנה כהן").first.click()
    page.wait_for_url(f"**/admin/crm/lead/{finished_call.lead.pk}/change/")
    page.locator(f'a[href="/admin/crm/call/{finished_call.pk}/change/"]').first.click()
    page.wait_for_url(f"**/admin/crm/call/{finished_call.pk}/change/")

    bubbles = page.locator(".timeline-list .bubble")
    assert bubbles.locator(".text").all_inner_texts() == [text for _, text, _, _ in CONVERSATION]
    assert page.locator("html").get_attribute("dir") == "rtl"
    for i in range(bubbles.count()):
        text = bubbles.nth(i).locator(".text")
        assert text.get_attribute("dir") == "auto"
        assert text.evaluate("e => getComputedStyle(e).direction") == "rtl"
    # Right to left: the caller's bubbles sit on the right (inline-start), the agent's on the left.
    agent, caller = bubbles.nth(0).bounding_box(), bubbles.nth(1).bounding_box()
    assert caller["x"] + caller["width"] > agent["x"] + agent["width"]
    assert agent["x"] < caller["x"]

    audio = page.locator("#call-audio")
    page.wait_for_function("document.getElementById('call-audio').readyState >= 1")
    assert audio.evaluate("a => a.currentTime") == 0
    bubbles.nth(CLICKED).click()
    page.wait_for_function("document.getElementById('call-audio').currentTime >= 2.9")
    assert 2.9 <= audio.evaluate("a => a.currentTime") < 6

    page.screenshot(path=str(screenshots / "call-timeline.png"), full_page=True)


def test_the_dashboard_shows_the_last_two_weeks(page, daphne_server, staff_user, finished_call, screenshots):
    log_in(page, daphne_server, staff_user)

    page.goto(daphne_server.url + "/admin/")

    assert page.locator("#stat-calls").inner_text() == "1"
    assert page.locator("#stat-leads").inner_text() == "1"
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)


def caller_wav(tmp_path, lead_in_ms: int = 8000) -> str:
    """What the simulated caller says: a long silence (time to open the page), then Hebrew speech."""
    audio = silence(lead_in_ms) + caller_says("שלום, אני רוצה לשמוע פרטים על השירות", tmp_path) + silence(500)
    path = tmp_path / "caller.wav"
    path.write_bytes(mulaw_to_wav(audio))
    return str(path)


def wait_for_live_call(timeout: float = 20) -> Call:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        call = Call.objects.filter(status=Call.Status.IN_PROGRESS, ended_at__isnull=True).first()
        if call is not None:
            return call
        time.sleep(0.1)
    raise AssertionError("the simulated call never went live")


def test_the_live_page_shows_a_simulated_call_as_it_happens(page, daphne_server, staff_user, tmp_path, screenshots):
    log_in(page, daphne_server, staff_user)
    frames: list[dict] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(json.loads(payload))))
    with simulated_call(daphne_server.url, caller_wav(tmp_path), "--silence", "4") as simulator:
        call = wait_for_live_call()

        page.goto(daphne_server.url + "/admin/crm/call/live/")
        row = page.locator(f'tr[data-call-sid="{call.call_sid}"]')
        row.locator("a.live-open").click()
        page.wait_for_url(f"**/admin/crm/call/{call.pk}/live/")
        page.wait_for_selector("#live-connection.connected")

        caller_line = page.locator(".bubble-caller .text", has_text=FAKE_TRANSCRIPT)
        caller_line.first.wait_for(timeout=30_000)
        assert caller_line.first.evaluate("e => getComputedStyle(e).direction") == "rtl"
        page.locator(".bubble-agent .text", has_text=FAKE_REPLY).first.wait_for()  # the agent's answer follows
        page.screenshot(path=str(screenshots / "live-call.png"), full_page=True, animations="disabled")
    output = simulator.output()

    pushed = [f for f in frames if f.get("kind") == "utterance" and f["data"]["text"] == FAKE_TRANSCRIPT]
    assert pushed, f"the transcript did not arrive over the staff socket; simulator said:\n{output}"
    assert pushed[0]["call_sid"] == call.call_sid and pushed[0]["data"]["speaker"] == "caller"
