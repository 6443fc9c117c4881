"""The dashboard in Chromium: full width on a desktop, no sideways scrolling on a phone, the period form changes
the figures, and no English word on it."""

from __future__ import annotations

import os
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from crm.models import CallEvent, Membership
from tests.e2e.test_hebrew_only import in_context, latin_words, server_user
from tests.support import factories
from tests.support.browser import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("staff_groups"),
]


def at(days_ago: int, hour: int) -> datetime:
    return timezone.make_aware(datetime.combine(timezone.localdate() - timedelta(days=days_ago), time(hour)))


@pytest.fixture
def shop():
    business = factories.make_business("מרפאת שיניים אלון")
    owner = server_user("avi_owner", business, Membership.Role.OWNER)
    lead = factories.make_lead(business, "+972501234567", "דנה כהן", status="qualified")
    calls = [(0, 9, "conversation"), (1, 10, "voicemail"), (1, 10, "conversation"), (20, 9, "conversation")]
    for days_ago, hour, outcome in calls:
        call = factories.make_call(business, lead, started_at=at(days_ago, hour), outcome=outcome)
        factories.make_utterance(call, "agent", "שלום", 0, latency={"first_frame": 950})
    factories.make_event(call, CallEvent.Kind.ERROR, role="llm", message="timeout")
    return {"owner": owner}


def shots(tmp_path) -> Path:
    return Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)


def page_scrolls_sideways(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth + 1")


def test_dashboard_is_full_width_readable_on_a_phone_and_follows_the_period(browser, daphne_server, shop, tmp_path):
    folder = shots(tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="he-IL")
    page = context.new_page()
    try:
        log_in(page, daphne_server, shop["owner"])
        page.goto(daphne_server.url + "/admin/")
        assert page.locator("#stat-calls").inner_text() == "3"

        widths = page.evaluate(
            "[document.querySelector('.crm-dashboard').getBoundingClientRect().width,"
            " document.querySelector('#content').clientWidth]"
        )
        assert widths[0] >= 0.9 * widths[1] - 80, widths  # minus #content's own padding
        assert not page_scrolls_sideways(page)
        text = page.evaluate("document.body.innerText")
        assert not latin_words(text), [in_context(w, text) for w in latin_words(text)]
        page.screenshot(path=str(folder / "dashboard-1440.png"), full_page=True)

        # The period form: 30 days takes in the older call.
        page.fill("#id_from", (timezone.localdate() - timedelta(days=29)).strftime("%d/%m/%Y"))
        page.fill("#id_to", timezone.localdate().strftime("%d/%m/%Y"))
        with page.expect_navigation():
            page.click("#dashboard-range button[type=submit]")
        assert page.locator("#stat-calls").inner_text() == "4"

        # A reversed range: a message in Hebrew, and the default period.
        page.fill("#id_from", "20/05/2030")
        page.fill("#id_to", "01/05/2030")
        with page.expect_navigation():
            page.click("#dashboard-range button[type=submit]")
        assert "תאריך הסיום מוקדם מתאריך ההתחלה" in page.locator("#range-errors").inner_text()
        assert page.locator("#stat-calls").inner_text() == "3"

        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(daphne_server.url + "/admin/")
        assert not page_scrolls_sideways(page)
        page.screenshot(path=str(folder / "dashboard-390.png"), full_page=True)
    finally:
        context.close()
