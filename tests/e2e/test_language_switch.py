"""The language switch in the admin's header: Hebrew (right to left) by default, English on request, and back,
remembered for the user's next pages (Django's set_language view and its cookie)."""

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


def direction(page) -> tuple[str, str]:
    return tuple(page.evaluate("[document.documentElement.lang, document.documentElement.dir]"))


def test_a_seller_switches_the_admin_to_english_and_back_to_hebrew(page, daphne_server, screenshots):
    business = factories.make_business("מרפאת שיניים אלון")
    seller = server_user("dana_sales", business, Membership.Role.STAFF)
    lead = factories.make_lead(business, "+972501234567", "דנה כהן")
    log_in(page, daphne_server, seller)

    page.goto(f"{daphne_server.url}/admin/crm/lead/{lead.pk}/change/")
    assert direction(page) == ("he", "rtl")
    assert page.locator("#user-tools").text_content().count("יציאה") == 1
    switch = page.locator("#language-switch button")
    assert switch.all_inner_texts() == ["English"]  # only the other language is offered

    with page.expect_navigation():
        switch.click()
    assert page.url.endswith(f"/admin/crm/lead/{lead.pk}/change/")  # the same page, now in English
    assert direction(page) == ("en", "ltr")
    assert "Log out" in page.locator("#user-tools").text_content()
    assert "My tasks" in page.locator("#user-tools").text_content()
    page.screenshot(path=str(screenshots / "language-switch-english.png"), full_page=True)

    page.goto(f"{daphne_server.url}/admin/crm/lead/")  # the choice holds on the next page
    assert direction(page) == ("en", "ltr")

    back = page.locator("#language-switch button")
    assert back.all_inner_texts() == ["עברית"]
    with page.expect_navigation():
        back.click()
    assert direction(page) == ("he", "rtl")
    assert "המשימות שלי" in page.locator("#user-tools").text_content()


def test_an_unknown_language_changes_nothing(page, daphne_server):
    business = factories.make_business("מרפאת שיניים אלון")
    seller = server_user("dana_sales", business, Membership.Role.STAFF)
    log_in(page, daphne_server, seller)
    page.goto(f"{daphne_server.url}/admin/")

    # A forged form (a language the site does not offer): Django ignores it, the page stays Hebrew.
    page.evaluate("document.querySelector('#language-switch button').value = 'xx'")
    with page.expect_navigation():
        page.locator("#language-switch button").click()
    assert direction(page) == ("he", "rtl")
