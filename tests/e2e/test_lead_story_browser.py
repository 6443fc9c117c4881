"""The lead's story as a sales person sees it in Chromium, on a wide screen and on a phone: the next action
above the feed, the feed on the screen without sideways scrolling, each call's player within reach, and no
English word in it."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.utils import timezone

from backoffice.lead_story import with_details
from crm.models import Call, Lead, Membership, Recording
from followup.models import FollowUp
from tests.e2e.test_hebrew_only import STAFF_NAME, in_context, latin_words, server_user
from tests.support import factories
from tests.support.browser import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("staff_groups"),
]

# How far the page and the feed can be scrolled sideways (0: not at all), and where the first player is.
LAYOUT = """() => {
  const page = document.scrollingElement;
  const feed = document.querySelector('[data-feed]');
  return {
    pageOverflow: page.scrollWidth - page.clientWidth,
    feedOverflow: feed.scrollWidth - feed.clientWidth,
    feedBox: feed.getBoundingClientRect().toJSON(),
    nextBottom: document.querySelector('[data-next-action]').getBoundingClientRect().bottom,
  };
}"""


@pytest.fixture
def story_lead():
    business = factories.make_business("מרפאת שיניים אלון")
    staff = server_user(STAFF_NAME, business, Membership.Role.STAFF)
    lead = factories.make_lead(
        business,
        "+972501234567",
        "דנה כהן",
        created_at=timezone.now() - timedelta(days=9),
        notes="[2026-11-30 09:15] מעדיפה שיחה אחרי חמש",
    )
    now = timezone.now()
    talk = factories.make_call(
        business,
        lead,
        started_at=now - timedelta(days=3),
        duration_seconds=125,
        summary="דנה ביקשה הצעת מחיר להלבנת שיניים ותור לשבוע הבא, בשעות אחר הצהריים. "
        "היא שאלה גם על תשלומים ועל חניה ליד המרפאה.",
    )
    factories.make_recording(talk)
    voicemail = factories.make_call(
        business, lead, started_at=now - timedelta(days=1), outcome=Call.Outcome.VOICEMAIL, duration_seconds=20
    )
    factories.make_recording(voicemail, kind=Recording.Kind.VOICEMAIL, summary="מבקשת שיחזרו אליה מחר")
    FollowUp.objects.create(
        business=business,
        lead=lead,
        call=voicemail,
        assignee=staff,
        source=FollowUp.Source.VOICEMAIL,
        due_at=now - timedelta(hours=2),
        note="לחזור לדנה לגבי התור",
    )
    LogEntry.objects.log_actions(
        user_id=staff.pk,
        queryset=[lead],
        action_flag=CHANGE,
        change_message=json.dumps(
            with_details([{"changed": {"fields": ["status"]}}], {"status": [Lead.Status.NEW, Lead.Status.CONTACTED]})
        ),
        single_object=True,
    )
    return {"staff": staff, "lead": lead}


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("width", [1440, 390])
def test_the_story_reads_next_action_first_fits_the_screen_and_is_hebrew_only(
    browser, daphne_server, story_lead, shots, width
):
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="he-IL")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        log_in(page, daphne_server, story_lead["staff"])
        response = page.goto(f"{daphne_server.url}/admin/crm/lead/{story_lead['lead'].pk}/change/")
        assert response is not None and response.status == 200

        story = page.locator(".lead-story")
        assert story.is_visible()
        assert "לחזור לדנה לגבי התור" in page.locator("[data-next-action]").inner_text()
        entries = page.locator("[data-feed] > li")
        assert entries.count() == 6  # two calls, the note, the status change, the task, the lead's creation
        assert entries.first.is_visible()

        layout = page.evaluate(LAYOUT)
        assert layout["nextBottom"] <= layout["feedBox"]["top"], layout
        assert layout["feedOverflow"] <= 0, layout
        assert layout["pageOverflow"] <= 0, layout
        assert layout["feedBox"]["left"] >= 0 and layout["feedBox"]["right"] <= width, layout

        player = page.locator("[data-feed] audio").first
        player.scroll_into_view_if_needed()
        box = player.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
        assert page.locator("[data-feed] audio").count() == 2
        assert page.locator("[data-feed] audio[preload=none]").count() == 2

        text = story.inner_text()
        assert not latin_words(text), [f"{w} («{in_context(w, text)}»)" for w in latin_words(text)]
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(shots / f"lead-{width}.png"), full_page=True)
    finally:
        context.close()
