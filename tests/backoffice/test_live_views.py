"""The live pages in the admin: which calls are listed, one call's conversation so far, and the two staff
actions (end the call, move it to voicemail) made through Twilio's REST API (a local stand-in here)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import Call, CallEvent, Utterance
from tests.support import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_call(business_a):
    lead = factories.make_lead(business_a, "+972501112222", "רונית לוי")
    call = factories.make_call(business_a, lead, status=Call.Status.IN_PROGRESS, outcome="", duration_seconds=None)
    factories.make_utterance(call, Utterance.Speaker.AGENT, "שלום, הגעתם למוסך. במה אפשר לעזור?", 300, 2500)
    factories.make_utterance(call, Utterance.Speaker.CALLER, "יש לי רעש בבלמים של ה-Mazda 3", 3100, 5200)
    factories.make_event(call, CallEvent.Kind.DTMF, 5600, digit="3")
    return call


def live_page(client: Client, call: Call):
    return client.get(reverse("admin:crm_call_live_call", args=[call.pk]))


# -- the list -----------------------------------------------------------------------------------------------
def test_the_list_shows_only_calls_in_progress_of_the_users_businesses(staff_client, live_call, business_a, business_b):
    ringing = factories.make_call(business_a, status=Call.Status.RINGING, outcome="")
    finished = factories.make_call(business_a, status=Call.Status.COMPLETED)
    stale = factories.make_call(business_a, status=Call.Status.IN_PROGRESS, ended_at=timezone.now())
    foreign = factories.make_call(business_b, status=Call.Status.IN_PROGRESS, outcome="")

    response = staff_client.get(reverse("admin:crm_call_live"))

    assert response.status_code == 200
    listed = re.findall(r'data-call-sid="(CA\w+)"', response.content.decode())
    assert sorted(listed) == sorted([live_call.call_sid, ringing.call_sid])
    assert finished.call_sid not in listed and stale.call_sid not in listed and foreign.call_sid not in listed
    assert reverse("admin:crm_call_live_call", args=[live_call.pk]) in response.content.decode()


def test_the_list_says_so_when_nothing_is_live(staff_client):
    response = staff_client.get(reverse("admin:crm_call_live"))
    assert 'class="empty"' in response.content.decode()
    assert 'data-live-socket="/ws/staff/calls/"' in response.content.decode()


def test_anonymous_visitors_are_sent_to_the_login_page(client, live_call):
    for url in (reverse("admin:crm_call_live"), reverse("admin:crm_call_live_call", args=[live_call.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


# -- one call -----------------------------------------------------------------------------------------------
def test_the_conversation_so_far_is_rendered_as_bubbles_in_order(staff_client, live_call):
    response = live_page(staff_client, live_call)

    assert response.status_code == 200
    html = response.content.decode()
    texts = re.findall(r'<p class="text" dir="auto">([^<]+)</p>', html)
    assert texts == ["שלום, הגעתם למוסך. במה אפשר לעזור?", "יש לי רעש בבלמים של ה-Mazda 3"]
    assert html.index("bubble bubble-agent") < html.index("bubble bubble-caller") < html.index("event-dtmf")
    assert f'data-live-socket="/ws/staff/calls/{live_call.call_sid}/"' in html
    assert 'id="live-labels"' in html  # what live.js needs to draw new rows in the same language


def test_another_businesss_call_is_not_found(client, owner_b, live_call):
    client.force_login(owner_b)
    assert live_page(client, live_call).status_code == 404


def test_an_ended_call_shows_no_actions(staff_client, business_a):
    call = factories.make_call(business_a, status=Call.Status.COMPLETED, ended_at=timezone.now())
    html = live_page(staff_client, call).content.decode()
    assert re.search(r'class="live-page live-call ended"', html)


# -- staff actions ------------------------------------------------------------------------------------------
def test_ending_a_call_hangs_it_up_through_twilio_and_records_who_did_it(staff_client, live_call, twilio):
    response = staff_client.post(reverse("admin:crm_call_live_end", args=[live_call.pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:crm_call_live_call", args=[live_call.pk])
    assert twilio.call_updates(live_call.call_sid) == [{"Status": "completed"}]
    assert all(r.authorized for r in twilio.requests)
    event = live_call.events.get(kind=CallEvent.Kind.HANGUP)
    assert event.payload == {"reason": "ended_by_staff", "voicemail": False, "by": "staff_a"}


def test_moving_a_call_to_voicemail_replaces_its_twiml_with_the_business_voicemail(
    staff_client, live_call, twilio, settings
):
    settings.PUBLIC_BASE_URL = "https://crm.example.com"
    live_call.business.fallback_message = "אנחנו לא זמינים כרגע, השאירו הודעה"
    live_call.business.save()

    response = staff_client.post(reverse("admin:crm_call_live_voicemail", args=[live_call.pk]), follow=True)

    (update,) = twilio.call_updates(live_call.call_sid)
    twiml = update["Twiml"]
    assert twiml.startswith("<?xml")
    assert "אנחנו לא זמינים כרגע, השאירו הודעה" in twiml
    assert '<Record action="https://crm.example.com/webhook/handle_recording"' in twiml
    assert "https://crm.example.com/webhook/recording_status" in twiml
    event = live_call.events.get(kind=CallEvent.Kind.HANGUP)
    assert event.payload["voicemail"] is True and event.payload["by"] == "staff_a"
    assert [str(m) for m in response.context["messages"]]  # a confirmation is shown


def test_actions_on_another_businesss_call_are_not_found_and_reach_nobody(client, owner_b, live_call, twilio):
    client.force_login(owner_b)
    for name in ("admin:crm_call_live_end", "admin:crm_call_live_voicemail"):
        assert client.post(reverse(name, args=[live_call.pk])).status_code == 404
    assert twilio.requests == []
    assert not live_call.events.filter(kind=CallEvent.Kind.HANGUP).exists()


def test_actions_need_a_csrf_token(staff_a, live_call, twilio):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_a)
    assert client.post(reverse("admin:crm_call_live_end", args=[live_call.pk])).status_code == 403
    assert twilio.requests == []


def test_actions_are_posts_only(staff_client, live_call, twilio):
    assert staff_client.get(reverse("admin:crm_call_live_end", args=[live_call.pk])).status_code == 405
    assert twilio.requests == []


def test_an_ended_call_is_left_alone(staff_client, business_a, twilio):
    call = factories.make_call(business_a, status=Call.Status.COMPLETED, ended_at=timezone.now())
    response = staff_client.post(reverse("admin:crm_call_live_end", args=[call.pk]), follow=True)
    assert twilio.requests == []
    assert not call.events.filter(kind=CallEvent.Kind.HANGUP).exists()
    assert [str(m) for m in response.context["messages"]]


def test_when_twilio_refuses_the_staff_member_is_told_and_nothing_is_recorded(
    staff_client, live_call, twilio, settings
):
    settings.TWILIO_AUTH_TOKEN = "not-the-token"  # the stand-in answers 401, as Twilio would

    response = staff_client.post(reverse("admin:crm_call_live_end", args=[live_call.pk]), follow=True)

    assert response.status_code == 200
    assert len(twilio.requests) == 1 and not twilio.requests[0].authorized
    assert not live_call.events.filter(kind=CallEvent.Kind.HANGUP).exists()
    (message,) = response.context["messages"]
    assert message.level_tag == "error"
