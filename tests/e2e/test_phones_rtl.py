"""Phone numbers as a Hebrew-reading user sees them, measured in Chromium: the position of every glyph on the
screen (a Range over each character, its bounding box), not the markup. Right to left, an unprotected
"+972501234567" is drawn as "972501234567+" and "050-123 4567" as "4567 050-123"; the admin shows every number
in the local format inside <bdi dir="ltr"> (HTML) or the Unicode isolates LRI … PDI (titles, breadcrumbs)."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from crm.models import Membership
from tests.support import factories
from tests.support.browser import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("staff_groups"),
]

LRI, PDI = "\u2066", "\u2069"
LEAD_NUMBER = "050-123-4567"
BUSINESS_NUMBER = "03-376-3805"

# [character, left x, top y] of every visible glyph under an element, in logical (DOM) order.
GLYPHS = """el => {
  const out = [];
  const walk = node => {
    if (node.nodeType === Node.TEXT_NODE) {
      for (let i = 0; i < node.data.length; i++) {
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const box = range.getBoundingClientRect();
        if (box.width > 0) out.push([node.data[i], box.x, box.y]);
      }
    } else node.childNodes.forEach(walk);
  };
  walk(el);
  return out;
}"""

# The runs between LRI and PDI in an element's text, each as the [character, left x] of its visible glyphs.
ISOLATED_RUNS = """el => {
  const runs = [];
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    let run = null;
    for (let i = 0; i < node.data.length; i++) {
      const ch = node.data[i];
      if (ch === "\\u2066") { run = []; continue; }
      if (ch === "\\u2069") { if (run) runs.push(run); run = null; continue; }
      if (run === null) continue;
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const box = range.getBoundingClientRect();
      if (box.width > 0) run.push([ch, box.x]);
    }
  }
  return runs;
}"""


# Squeeze the number's table cell to a few characters, as a crowded list on a small screen does.
NARROW_CELL = "el => { const cell = el.closest('td'); cell.style.width = cell.style.maxWidth = '3ch'; }"


def as_seen(glyphs) -> str:
    """The characters in the order the eye meets them, left to right on the screen."""
    return "".join(glyph[0] for glyph in sorted(glyphs, key=lambda glyph: glyph[1]))


def lines(glyphs) -> int:
    return len({round(glyph[2]) for glyph in glyphs})


@pytest.fixture
def owner(db):
    business = factories.make_business("מרפאת שיניים אלון")
    user = factories.make_user("dana_owner")
    hasher = PBKDF2PasswordHasher()  # the server runs the production settings, which do not know the tests' MD5
    user.password = hasher.encode(factories.PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    factories.add_member(user, business, Membership.Role.OWNER)
    return user


@pytest.fixture
def lead_with_a_recorded_call(owner):
    business = owner.memberships.get().business
    lead = factories.make_lead(business, "+972501234567", "דנה כהן")
    call = factories.make_call(business, lead, to_number="+97233763805")
    factories.make_recording(call)
    return lead


def test_a_lead_page_title_and_breadcrumbs_show_the_number_in_dial_order(
    page, daphne_server, owner, lead_with_a_recorded_call, screenshots
):
    log_in(page, daphne_server, owner)
    page.goto(f"{daphne_server.url}/admin/crm/lead/{lead_with_a_recorded_call.pk}/change/")
    assert page.locator("html").get_attribute("dir") == "rtl"

    assert f"דנה כהן {LRI}{LEAD_NUMBER}{PDI}" in page.title()  # the tab and the history hold plain text
    for where in (".breadcrumbs", "#content h2"):  # the breadcrumbs, and the lead's name under the page heading
        runs = page.locator(where).first.evaluate(ISOLATED_RUNS)
        assert [as_seen(run) for run in runs] == [LEAD_NUMBER], where
    page.screenshot(path=str(screenshots / "phones-lead-page.png"))


def test_the_leads_list_and_its_search_hint_show_numbers_left_to_right_on_one_line(
    page, daphne_server, owner, lead_with_a_recorded_call, screenshots
):
    log_in(page, daphne_server, owner)
    page.goto(f"{daphne_server.url}/admin/crm/lead/")

    number = page.locator("#result_list bdi.phone").first
    assert as_seen(number.evaluate(GLYPHS)) == LEAD_NUMBER
    # However narrow its column gets, a number stays on one line.
    number.evaluate(NARROW_CELL)
    assert lines(number.evaluate(GLYPHS)) == 1

    runs = page.locator("#searchbar_helptext").evaluate(ISOLATED_RUNS)
    assert sorted(as_seen(run) for run in runs) == ["+972…", "050-123 4567"]
    page.screenshot(path=str(screenshots / "phones-leads-list.png"))


def test_the_recordings_list_reads_from_the_caller_to_the_business(
    page, daphne_server, owner, lead_with_a_recorded_call, screenshots
):
    log_in(page, daphne_server, owner)
    page.goto(f"{daphne_server.url}/admin/crm/recording/")

    route = page.locator("#result_list .phone-route").first
    numbers = route.locator("bdi.phone")
    caller, business = numbers.nth(0), numbers.nth(1)
    assert as_seen(caller.evaluate(GLYPHS)) == LEAD_NUMBER
    assert as_seen(business.evaluate(GLYPHS)) == BUSINESS_NUMBER
    # Right to left the caller comes first, on the right; the arrow between them points on to the business.
    caller_box, business_box = caller.bounding_box(), business.bounding_box()
    assert caller_box["x"] > business_box["x"] + business_box["width"]
    seen = as_seen(route.evaluate(GLYPHS)).replace(" ", "")
    assert seen == f"{BUSINESS_NUMBER}←{LEAD_NUMBER}"
    page.screenshot(path=str(screenshots / "phones-recordings-list.png"))
