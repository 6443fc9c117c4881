"""The call timeline as a user sees it in Chromium: bubble and event text keeps its distance from the border.

The bug: `.timeline-list .entry { padding: 0 }` outranked `.bubble` and `.event`, so the text touched the
border. Measured as the computed padding and as the gap between the border box and the text's glyphs.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from crm.models import CallEvent, Membership, Utterance
from tests.support import factories
from tests.support.browser import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("staff_groups"),
]

# The inline-start gap (px) between an entry's border box and the first glyph of its text, right to left.
TEXT_INSET = """el => {
  const box = el.getBoundingClientRect();
  const text = el.querySelector('.text, .event-sentence');
  const range = document.createRange();
  range.selectNodeContents(text);
  const glyphs = range.getBoundingClientRect();
  return {right: box.right - glyphs.right, top: glyphs.top - box.top};
}"""


@pytest.fixture
def business_a():
    return factories.make_business("מרפאת שיניים אלון")


@pytest.fixture
def owner(business_a):
    user = factories.make_user("dana_owner")
    hasher = PBKDF2PasswordHasher()  # the server runs the production settings' hashers
    user.password = hasher.encode(factories.PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    factories.add_member(user, business_a, Membership.Role.OWNER)
    return user


def test_bubbles_and_events_keep_their_padding(page, daphne_server, owner, business_a, screenshots):
    call = factories.make_call(business_a)
    factories.make_event(call, CallEvent.Kind.GREETING, 100, text="שלום, הגעתם למרפאה")
    factories.make_utterance(call, Utterance.Speaker.AGENT, "שלום, הגעתם למרפאה", 200, 2000)
    factories.make_utterance(call, Utterance.Speaker.CALLER, "אני רוצה לקבוע תור", 2500, 4000)
    factories.make_event(call, CallEvent.Kind.FILLER, 4500, text="רגע, אני בודק.", reason="llm_slow")
    log_in(page, daphne_server, owner)
    page.goto(f"{daphne_server.url}/admin/crm/call/{call.pk}/change/")

    for selector in (".timeline-list .entry.bubble", ".timeline-list .entry.event"):
        entry = page.locator(selector).first
        padding = entry.evaluate("e => parseFloat(getComputedStyle(e).paddingInlineStart)")
        assert padding > 0, selector
        inset = entry.evaluate(TEXT_INSET)
        assert inset["right"] >= 4 and inset["top"] >= 2, (selector, inset)
    assert page.locator(".timeline-list").get_by_text("שלום, הגעתם למרפאה").count() == 1
    page.screenshot(path=str(screenshots / "call-timeline-look.png"), full_page=True)
