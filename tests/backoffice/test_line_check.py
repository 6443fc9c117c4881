"""The owner's line check: the page (who may see it, the URLs, the TwiML preview open and closed) and the self-test
through the public URL against a real daphne and the OpenAI stand-in, with each failure caused for real."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.line_check import LineCheckViews  # noqa: F401 - the page's module loads
from crm.business_hours import local_time
from crm.models import Business, Call, CallEvent, Lead
from tests.backoffice.conftest import logged_in
from tests.support import factories
from tests.support.live import run_daphne
from tests.support.openai_standin import OpenAIStandin, Reply
from voice.line_check import CHECK_CALLER, FAILED, OK, SKIPPED, run_line_check
from voice.models import Job
from voice.simulator.server import free_port

ALWAYS = {day: [["00:00", "24:00"]] for day in ("sun", "mon", "tue", "wed", "thu", "fri", "sat")}


def page(business: Business) -> str:
    return reverse("admin:crm_business_line_check", args=[business.pk])


def close_today(business: Business) -> None:
    """Open every hour of every day except today and tomorrow (closure dates), in the business's time zone."""
    today = local_time(business, timezone.now()).date()
    business.opening_hours = ALWAYS
    business.closed_dates = [today.isoformat(), (today + dt.timedelta(days=1)).isoformat()]
    business.save()


# -- the page -------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_owner_sees_the_urls_to_paste_and_what_a_caller_gets_now(owner_client, business_a):
    factories.make_phone_number(business_a, "+972540000150", label="ראשי")
    body = owner_client.get(page(business_a)).content.decode()
    assert "http://testserver/webhook/incoming_call" in body and "http://testserver/webhook/call_status" in body
    assert "054-000-0150" in body
    assert "&lt;Connect" in body and "wss://testserver/ws/twilio-media" in body
    assert 'name="call_token" value="…"' in body.replace("&quot;", '"')  # the per-call token is not shown
    assert "Twilio cannot reach it" in body or "Twilio לא יכולה" in body  # testserver is no public address


@pytest.mark.django_db
@pytest.mark.parametrize(("after_hours", "expected"), [("voicemail", "&lt;Record"), ("agent", "&lt;Connect")])
def test_the_preview_follows_the_hours(owner_client, business_a, after_hours, expected):
    close_today(business_a)
    business_a.after_hours = after_hours
    business_a.save()
    response = owner_client.get(page(business_a))
    assert not response.context["preview"].open_now
    assert response.context["preview"].next_opening is not None
    assert expected in response.content.decode()


@pytest.mark.django_db
def test_the_preview_of_an_agent_switched_off_is_voicemail(owner_client, business_a):
    business_a.agent_enabled = False
    business_a.save()
    response = owner_client.get(page(business_a))
    assert response.context["preview"].route == "voicemail_agent_off"


@pytest.mark.django_db
def test_the_business_settings_page_links_to_the_line_check_for_owners_only(owner_client, staff_client, business_a):
    settings_page = reverse("admin:crm_business_change", args=[business_a.pk])
    assert page(business_a) in owner_client.get(settings_page).content.decode()
    assert page(business_a) not in staff_client.get(settings_page).content.decode()


@pytest.mark.django_db
def test_only_owners_and_superusers_may_check_a_line(client, business_a, staff_client, owner_b):
    assert staff_client.get(page(business_a)).status_code == 404  # sales staff of the business
    assert logged_in(owner_b).get(page(business_a)).status_code == 404  # another business's owner
    assert client.get(page(business_a)).status_code == 302  # the admin's login
    assert logged_in(factories.make_user("root", superuser=True)).get(page(business_a)).status_code == 200
    assert staff_client.post(reverse("admin:crm_business_line_check_run", args=[business_a.pk])).status_code == 404
    assert not Call.objects.exists()


@pytest.mark.django_db
def test_running_needs_a_post(owner_client, business_a):
    assert owner_client.get(reverse("admin:crm_business_line_check_run", args=[business_a.pk])).status_code == 405


# -- the self-test against a real server --------------------------------------------------------------------
@pytest.fixture
def openai(settings):
    with OpenAIStandin() as standin:
        settings.VOICE_ASR, settings.VOICE_LLM, settings.VOICE_TTS = "fake", "openai", "openai"
        settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "sk-line-check", standin.base_url
        yield standin


def states(steps) -> dict[str, str]:
    return {step.key: step.state for step in steps}


def nothing_left_behind(leads_before: int) -> None:
    assert not Call.objects.exists()
    assert not CallEvent.objects.exists() and not Job.objects.exists()
    assert Lead.objects.count() == leads_before


@pytest.mark.slow
def test_the_line_check_passes_through_a_real_server(transactional_db, tmp_path, settings, openai):
    business = factories.make_business("מספרת רותי", twilio_recording=True)
    factories.make_phone_number(business, "+972540000151")
    root = logged_in(factories.make_user("root", superuser=True))
    with run_daphne(tmp_path) as server:
        settings.PUBLIC_BASE_URL = server.url
        response = root.post(reverse("admin:crm_business_line_check_run", args=[business.pk]))
    steps = response.context["steps"]
    assert states(steps) == dict.fromkeys(("webhook", "twiml", "socket", "tts", "llm"), OK), steps
    assert response.context["all_ok"]
    body = response.content.decode()
    assert 'data-state="failed"' not in body and "בשמחה" in body  # the stand-in's answer is shown
    system = openai.requests_to("/v1/chat/completions")[0].json["messages"][0]["content"]
    assert "מספרת רותי" in system  # the prompt a real call gets, with the business's name
    assert "מספרת רותי" in openai.requests_to("/v1/audio/speech")[0].json["input"]  # the greeting names it
    nothing_left_behind(0)  # the test call, its events and its Twilio-recording job are gone


@pytest.mark.slow
def test_each_failure_is_red_with_its_reason(transactional_db, tmp_path, settings, openai):
    business = factories.make_business("Garage Beta")
    factories.make_phone_number(business, "+972540000152")
    openai.speech.extend([Reply(status=500), Reply(status=500)])  # the SDK retries once
    openai.chat.append(Reply(hang=True))
    with run_daphne(tmp_path, TWILIO_AUTH_TOKEN="another-token") as server:
        settings.PUBLIC_BASE_URL = server.url
        steps = run_line_check(business, timeout_s=2)
    assert states(steps) == {"webhook": FAILED, "twiml": SKIPPED, "socket": SKIPPED, "tts": FAILED, "llm": FAILED}
    by_key = {s.key: s for s in steps}
    assert "TWILIO_AUTH_TOKEN" in by_key["webhook"].reason
    assert "500" in by_key["tts"].reason
    assert "2 s" in by_key["llm"].reason  # the hung model was given up on
    nothing_left_behind(0)


@pytest.mark.slow
def test_a_closed_business_that_sends_calls_to_voicemail(transactional_db, tmp_path, settings, openai):
    business = factories.make_business("סגור היום", after_hours="voicemail")
    factories.make_phone_number(business, "+972540000153")
    close_today(business)
    with run_daphne(tmp_path) as server:
        settings.PUBLIC_BASE_URL = server.url
        steps = run_line_check(business, timeout_s=10)
    assert states(steps) == {"webhook": OK, "twiml": OK, "socket": SKIPPED, "tts": OK, "llm": OK}
    nothing_left_behind(0)


@pytest.mark.django_db
def test_an_unreachable_public_url_and_a_business_without_a_number(settings, openai):
    settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{free_port()}"
    numbered = factories.make_business("עם מספר")
    factories.make_phone_number(numbered, "+972540000154")
    steps = run_line_check(numbered, timeout_s=2)
    assert steps[0].state == FAILED and "127.0.0.1" in steps[0].reason
    assert run_line_check(factories.make_business("בלי מספר"), timeout_s=2)[0].state == FAILED
    assert not Call.objects.filter(from_number=CHECK_CALLER).exists()
