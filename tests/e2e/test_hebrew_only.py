"""Hebrew only: a sales person and an owner open the main pages in Chromium and read no English word there,
apart from names that stay in Latin letters in Hebrew too (SMS, Twilio, CSV, …), addresses, and the test's own
data. The text checked is what the user sees (``document.body.innerText``), not the markup."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone

from crm.models import Membership
from followup.models import FollowUp
from tests.support import factories
from tests.support.browser import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("staff_groups"),
]

# Names written in Latin letters in Hebrew text too: products, formats, units, standards.
# Compared without case: the admin's CSS upper-cases headers, and innerText returns what is drawn.
ALLOWED = {
    "SMS", "Twilio", "CSV", "Excel", "XLSX", "WhatsApp", "Webhook", "JSON", "URL", "OpenAI", "Google", "API", "AI",
    "E.164", "kHz", "HTTP", "HTTPS", "ID", "Agent", "Locator",
    "English",  # the language switch offers the other language in its own name
    "CallSid", "CRM", "Slack", "Zapier", "HMAC", "sha256", "X-Agentlocator-Signature",  # the webhook's technical help
    # OpenAI's voice names, offered in the settings' voice list.
    "alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx", "sage", "shimmer", "verse",
}  # fmt: skip
ALLOWED_LOWER = {word.lower() for word in ALLOWED}
VOICE_OR_LOCALE = re.compile(r"^[a-z]{2}-[A-Z]{2}(-[A-Za-z0-9-]+)?$")  # he-IL, he-IL-Wavenet-A
CALL_SID = re.compile(r"^CA[0-9a-f]{32}$")
# Addresses, IANA time zones (Asia/Jerusalem) and the {placeholders} a message template is written with.
NOT_WORDS = re.compile(
    r"\S+@\S+|https?://\S+|\b[\w.-]+\.(?:com|co\.il|org|net|io)\b\S*|\b[A-Z][a-z]+/[A-Za-z_]+\b|\{\w+\}"
)
LATIN_WORD = re.compile(r"[A-Za-z][\w.\-]*[A-Za-z0-9]")  # one letter alone (a voice's "A" … "D") is no word

STAFF_NAME, OWNER_NAME = "dana_sales", "avi_owner"
TEST_DATA = {STAFF_NAME, OWNER_NAME}


def latin_words(text: str) -> list[str]:
    """The Latin words of a page's visible text that are neither allowed names, addresses nor test data."""
    words = set(LATIN_WORD.findall(NOT_WORDS.sub(" ", text)))
    return sorted(w for w in words if w.lower() not in ALLOWED_LOWER | TEST_DATA and not technical(w))


def technical(word: str) -> bool:
    return bool(VOICE_OR_LOCALE.match(word) or CALL_SID.match(word))


def in_context(word: str, text: str) -> str:
    """The word with the text around it, to find it on the page."""
    at = text.find(word)
    return " ".join(text[max(0, at - 40) : at + len(word) + 40].split())


def server_user(username: str, business, role: str):
    """A user the live server can log in: it runs the production settings, which do not know the tests' MD5."""
    user = factories.make_user(username)
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(factories.PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    factories.add_member(user, business, role)
    return user


@pytest.fixture
def shop():
    business = factories.make_business("מרפאת שיניים אלון")
    factories.make_phone_number(business, "+97233763805", "קו ראשי")
    staff = server_user(STAFF_NAME, business, Membership.Role.STAFF)
    owner = server_user(OWNER_NAME, business, Membership.Role.OWNER)
    lead = factories.make_lead(business, "+972501234567", "דנה כהן", interest="הלבנת שיניים")
    call = factories.make_call(business, lead, duration_seconds=42, summary="דנה ביקשה תור להלבנה.")
    factories.make_utterance(call, "agent", "שלום, במה אפשר לעזור?", 300, 2000)
    factories.make_utterance(call, "caller", "אני רוצה לקבוע תור", 2500, 4000)
    factories.make_recording(call)
    FollowUp.objects.create(
        business=business, lead=lead, call=call, assignee=staff, due_at=timezone.now() + timedelta(days=1)
    )
    return {"business": business, "staff": staff, "owner": owner, "lead": lead, "call": call}


def main_pages(shop) -> list[str]:
    return [
        "/admin/",
        "/admin/crm/lead/",
        f"/admin/crm/lead/{shop['lead'].pk}/change/",
        "/admin/crm/call/",
        f"/admin/crm/call/{shop['call'].pk}/change/",
        f"/admin/crm/business/{shop['business'].pk}/change/",
        "/admin/crm/recording/",
        "/admin/followup/followup/",
        "/admin/crm/lead/export/",
    ]


def test_staff_and_owners_read_no_english_on_the_main_pages(browser, daphne_server, shop):
    found: dict[str, list[str]] = {}
    for user in (shop["staff"], shop["owner"]):
        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="he-IL")
        page = context.new_page()
        try:
            log_in(page, daphne_server, user)
            for path in main_pages(shop):
                response = page.goto(daphne_server.url + path)
                assert response is not None and response.status < 400, (user.username, path)
                text = page.evaluate("document.body.innerText")
                if words := latin_words(text):
                    found[f"{user.username} {path}"] = [f"{w} («{in_context(w, text)}»)" for w in words]
        finally:
            context.close()
    for where, words in found.items():
        print(f"English on {where}:", *words, sep="\n  ")
    assert not found, found
