"""The calls inbox as a sales person sees it in Chromium: at a desktop's width (1440 px) the list fits without
scrolling sideways and a recorded call's player is in view, numbers read in dial order on one line, and no
English word shows; at a phone's width (390 px) the page still does not scroll sideways. Screenshots go to
$SCREENSHOT_DIR when set (else the test's own directory) as inbox-1440.png and inbox-390.png."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from crm.models import Call, CallEvent, Membership
from followup.models import FollowUp
from tests.e2e.test_hebrew_only import in_context, latin_words, server_user
from tests.e2e.test_phones_rtl import GLYPHS, as_seen, lines
from tests.support import factories
from tests.support.browser import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("staff_groups"),
]

NUMBER = "058-666-7788"

# How far the document scrolls sideways, and how far the list's own box does.
WIDTHS = """() => {
  const doc = document.scrollingElement;
  const results = document.querySelector('#changelist .results');
  return {page: doc.scrollWidth - doc.clientWidth, list: results ? results.scrollWidth - results.clientWidth : 0,
          viewport: doc.clientWidth};
}"""


@pytest.fixture
def inbox():
    """A clinic's calls: a recorded call from a named lead that needs a call back, a voicemail with an error,
    a transferred call from a hidden name, and a long summary."""
    business = factories.make_business("מרפאת שיניים אלון")
    staff = server_user("dana_sales", business, Membership.Role.STAFF)
    now = timezone.now()
    lead = factories.make_lead(business, "+972586667788", "דנה כהן")
    recorded = factories.make_call(
        business,
        lead,
        duration_seconds=185,
        summary="דנה ביקשה לקבוע תור להלבנת שיניים בשבוע הבא, אחרי השעה ארבע, ושאלה על המחיר ועל חניה ליד המרפאה.",
        started_at=now - timedelta(minutes=20),
    )
    factories.make_utterance(recorded, "agent", "שלום, הגעתם למרפאת שיניים אלון", 200, 2000)
    factories.make_utterance(recorded, "caller", "אני רוצה לקבוע תור להלבנה", 2500, 4200)
    factories.make_utterance(recorded, "agent", "בשמחה, מתי נוח לך?", 5000, 6500, latency={"first_frame": 820})
    factories.make_recording(recorded)
    FollowUp.objects.create(
        business=business, lead=lead, call=recorded, source=FollowUp.Source.CALLBACK, due_at=now + timedelta(hours=2)
    )
    voicemail = factories.make_call(
        business, outcome=Call.Outcome.VOICEMAIL, summary="השאירו הודעה: מבקשים שיחזרו אליהם.",
        started_at=now - timedelta(days=1, hours=3),
    )  # fmt: skip
    factories.make_event(voicemail, CallEvent.Kind.ERROR, 1500, role="llm", error="timeout")
    factories.make_recording(voicemail, kind="voicemail")
    transferred = factories.make_call(business, duration_seconds=64, started_at=now - timedelta(days=5))
    factories.make_event(transferred, CallEvent.Kind.TRANSFER, 9000, outcome="completed")
    factories.make_utterance(transferred, "agent", "אני מעביר אותך לנציג", 8000, 9000, latency={"first_frame": 2400})
    garage = factories.make_business("מוסך הצפון בע״מ")
    factories.make_call(garage, factories.make_lead(garage, "+972523334455", "יוסי"), summary="שאל על טיפול שנתי.")
    owner = server_user("avi_owner", business, Membership.Role.OWNER)
    factories.add_member(owner, garage, Membership.Role.OWNER)
    return {"staff": staff, "owner": owner, "recorded": recorded}


def screenshot_dir(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def open_inbox(browser, server, user, width: int):
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="he-IL")
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, server, user)
    response = page.goto(server.url + "/admin/crm/call/")
    assert response is not None and response.status == 200
    return context, page


@pytest.mark.parametrize("who", ["staff", "owner"])  # the owner of two businesses has a business column too
def test_at_a_desktops_width_the_inbox_fits_with_its_player_in_view(browser, daphne_server, inbox, tmp_path, who):
    context, page = open_inbox(browser, daphne_server, inbox[who], 1440)
    try:
        name = "inbox-1440.png" if who == "staff" else "inbox-1440-two-businesses.png"
        page.screenshot(path=str(screenshot_dir(tmp_path) / name), full_page=True)
        widths = page.evaluate(WIDTHS)
        assert widths["page"] <= 0 and widths["list"] <= 0, widths

        first_row = page.locator("#result_list tbody tr").first  # needs follow-up: first
        assert first_row.locator(".needs-follow-up").count() == 1
        player = first_row.locator("audio.inbox-player")
        box = player.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= widths["viewport"], box

        number = first_row.locator("bdi.phone").first
        glyphs = number.evaluate(GLYPHS)
        assert as_seen(glyphs) == NUMBER and lines(glyphs) == 1

        text = page.evaluate("document.body.innerText")
        words = latin_words(text)
        assert not words, [f"{w} («{in_context(w, text)}»)" for w in words]
    finally:
        context.close()


def test_at_a_phones_width_the_inbox_does_not_scroll_sideways(browser, daphne_server, inbox, tmp_path):
    context, page = open_inbox(browser, daphne_server, inbox["staff"], 390)
    try:
        page.screenshot(path=str(screenshot_dir(tmp_path) / "inbox-390.png"), full_page=True)
        widths = page.evaluate(WIDTHS)
        assert widths["page"] <= 0, widths

        first_row = page.locator("#result_list tbody tr").first
        box = first_row.locator("audio.inbox-player").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= widths["viewport"], box
        glyphs = first_row.locator("bdi.phone").first.evaluate(GLYPHS)
        assert as_seen(glyphs) == NUMBER and lines(glyphs) == 1
    finally:
        context.close()
