"""An owner edits the greeting and hears it before saving: the "preview greeting" button sits right under the
greeting field, and plays what is written there (unsaved) in the configured voice (the fake TTS here)."""

from __future__ import annotations

import pytest

from crm.models import Membership
from tests.e2e.test_hebrew_only import server_user
from tests.support import factories
from tests.support.browser import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("staff_groups"),
]


def box(page, selector: str) -> dict:
    return page.locator(selector).bounding_box()


def test_the_preview_button_is_under_the_greeting_and_plays_the_unsaved_text(page, daphne_server, screenshots):
    business = factories.make_business("מרפאת שיניים אלון", greeting="שלום, הגעתם למרפאה.")
    owner = server_user("avi_owner", business, Membership.Role.OWNER)
    log_in(page, daphne_server, owner)
    page.goto(f"{daphne_server.url}/admin/crm/business/{business.pk}/change/")

    greeting, button = box(page, "#id_greeting"), box(page, "#preview-greeting-button")
    below = button["y"] - (greeting["y"] + greeting["height"])
    assert 0 <= below < 120, below  # the next thing under the field, not after every other setting
    assert page.locator("#greeting-preview").is_hidden()  # the separate box at the end is gone

    page.fill("#id_greeting", "שלום, כאן מרפאת השיניים של אלון. במה אפשר לעזור?")
    with page.expect_response(lambda r: "preview-greeting" in r.url or "preview_greeting" in r.url) as answer:
        page.click("#preview-greeting-button")
    response = answer.value
    assert response.status == 200 and response.headers["content-type"] == "audio/wav"
    assert "%D7%A9%D7%9C%D7%95%D7%9D" in response.url  # the edited text (URL-encoded "שלום") was rendered
    page.wait_for_function("document.getElementById('preview-greeting-audio').readyState >= 1")
    assert page.locator("#preview-greeting-audio").is_visible()
    page.screenshot(path=str(screenshots / "greeting-preview.png"), full_page=False)

    business.refresh_from_db()
    assert business.greeting == "שלום, הגעתם למרפאה."  # a preview saves nothing
