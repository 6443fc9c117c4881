""" "Call back" from the CRM: Twilio's REST API (the local stand-in, driven by the real ``twilio`` client) rings
the staff member's own phone with TwiML that tells them who they call and dials the lead from the business's
number; the outbound call is on the lead's page with who called back, and Twilio's status callbacks for it
land on the usual call_status webhook. Without a phone, for another business's lead, or by GET: nothing is
called."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from crm.models import Call, CallEvent, Membership
from tests.support import factories
from tests.support.twilio_fixtures import post_signed
from voice.message_webhooks import CALL_BACK_DIRECTION

pytestmark = pytest.mark.django_db

STAFF_PHONE = "+972528765432"
LEAD_PHONE = "+972547654321"
OUR_NUMBER = "+97233763805"


@pytest.fixture
def lead(business_a):
    business_a.transfer_ring_seconds = 20
    business_a.record_calls = True
    business_a.save()
    factories.make_phone_number(business_a, OUR_NUMBER)
    return factories.make_lead(business_a, LEAD_PHONE, "דנה כהן")


@pytest.fixture
def with_phone(staff_a, business_a):
    Membership.objects.filter(user=staff_a, business=business_a).update(phone=STAFF_PHONE)


def call_back(client, lead, **data):
    return client.post(reverse("crm_lead_call_back", args=[lead.pk]), data, follow=True)


def only_message(response):
    (message,) = response.context["messages"]
    return message


def test_call_back_rings_the_staff_phone_then_dials_the_lead_and_shows_the_call_on_the_lead(
    staff_client, lead, with_phone, twilio
):
    response = call_back(staff_client, lead)

    (created,) = twilio.calls_created()
    form = {k: v[0] for k, v in created.form.items()}
    assert created.authorized
    assert form["To"] == STAFF_PHONE and form["From"] == OUR_NUMBER and form["Timeout"] == "30"
    assert form["StatusCallback"] == "http://testserver/webhook/call_status#rc=3&rp=all"
    assert created.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    root = ET.fromstring(form["Twiml"])
    assert root.findtext("Say") == "מתקשרים אל דנה כהן"
    dial = root.find("Dial")
    assert dial is not None and dial.findtext("Number") == LEAD_PHONE
    assert dial.get("callerId") == OUR_NUMBER and dial.get("timeout") == "20"
    assert dial.get("record") == "record-from-answer-dual"  # the business records calls

    call = Call.objects.get(lead=lead)
    assert call.direction == CALL_BACK_DIRECTION and call.status == Call.Status.QUEUED
    assert call.from_number == OUR_NUMBER and call.to_number == LEAD_PHONE
    event = call.events.get(kind=CallEvent.Kind.CALL_BACK)
    assert event.payload["by"] == "staff_a"
    assert STAFF_PHONE not in str(event.payload)  # the staff member's own number stays theirs
    assert event.payload["lead_phone"] == LEAD_PHONE

    assert response.redirect_chain[-1][0] == reverse("admin:crm_lead_change", args=[lead.pk])
    message = only_message(response)
    assert message.level_tag == "success" and "דנה כהן" in str(message)
    page = staff_client.get(reverse("admin:crm_lead_change", args=[lead.pk])).content.decode()
    assert reverse("admin:crm_call_change", args=[call.pk]) in page  # with the lead's other calls


def test_the_lead_sees_the_number_they_called_and_the_call_follows_twilios_status_callbacks(
    client, settings, staff_client, lead, with_phone, twilio
):
    other_number = "+97237654321"
    factories.make_call(lead.business, lead, to_number=other_number, direction="inbound")

    call_back(staff_client, lead)

    (created,) = twilio.calls_created()
    assert created.form["From"] == [other_number]
    call = Call.objects.get(direction=CALL_BACK_DIRECTION)
    token = settings.TWILIO_AUTH_TOKEN
    for status, extra in (("in-progress", {}), ("completed", {"CallDuration": "120"})):
        params = {
            "CallSid": call.call_sid,
            "AccountSid": settings.TWILIO_ACCOUNT_SID,
            "CallStatus": status,
            "Direction": "outbound-api",
            **extra,
        }
        assert post_signed(client, token, "/webhook/call_status", params).status_code == 204
    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED and call.duration_seconds == 120 and call.answered_at is not None
    assert call.direction == CALL_BACK_DIRECTION


def test_without_a_phone_on_the_membership_nothing_is_called_and_the_staff_member_is_told_why(
    staff_client, lead, twilio
):
    response = call_back(staff_client, lead)

    assert twilio.requests == []
    assert not Call.objects.exists()
    message = only_message(response)
    assert message.level_tag == "error" and "מספר הטלפון שלך" in str(message) and "לא בוצעה שיחה" in str(message)


def test_another_businesss_lead_is_not_found_and_nobody_is_called(client, owner_b, business_b, lead, twilio):
    Membership.objects.filter(user=owner_b, business=business_b).update(phone=STAFF_PHONE)
    client.force_login(owner_b)

    response = client.post(reverse("crm_lead_call_back", args=[lead.pk]))

    assert response.status_code == 404
    assert twilio.requests == [] and not Call.objects.exists()


def test_only_post_and_only_logged_in_staff(client, staff_client, lead, with_phone, twilio):
    url = reverse("crm_lead_call_back", args=[lead.pk])
    assert staff_client.get(url).status_code == 405
    anonymous = client.post(url)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    assert twilio.requests == [] and not Call.objects.exists()


def test_a_second_press_while_the_first_call_back_rings_calls_nobody_again(staff_client, lead, with_phone, twilio):
    call_back(staff_client, lead)
    response = call_back(staff_client, lead)

    assert len(twilio.calls_created()) == 1 and Call.objects.count() == 1
    message = only_message(response)
    assert message.level_tag == "error" and "כבר מצלצלת" in str(message)


def test_a_refusal_by_twilio_is_shown_and_nothing_is_written(staff_client, lead, with_phone, twilio):
    twilio.refuse_calls(400, 21211)

    response = call_back(staff_client, lead)

    assert len(twilio.calls_created()) == 1
    assert not Call.objects.exists()
    message = only_message(response)
    assert message.level_tag == "error" and "Twilio" in str(message) and "לא בוצעה שיחה" in str(message)


def test_a_business_without_a_twilio_number_cannot_call_back(staff_client, business_a, with_phone, twilio):
    lead = factories.make_lead(business_a, LEAD_PHONE, "דנה כהן")

    response = call_back(staff_client, lead)

    assert twilio.requests == [] and not Call.objects.exists()
    assert only_message(response).level_tag == "error"


def test_the_button_posts_to_the_call_back_with_csrf_and_comes_back_to_the_page(rf, staff_a, lead):
    from django.template.loader import render_to_string

    request = rf.get("/admin/followups/?page=2")
    request.user = staff_a
    html = render_to_string("backoffice/includes/call_back_button.html", {"lead": lead}, request=request)

    assert f'action="{reverse("crm_lead_call_back", args=[lead.pk])}"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="next" value="/admin/followups/?page=2"' in html
    assert "התקשרות חוזרת" in html


def test_the_staff_member_comes_back_to_the_page_they_pressed_on_never_to_another_site(
    staff_client, lead, with_phone, twilio
):
    safe = call_back(staff_client, lead, next="/admin/crm/lead/")
    assert safe.redirect_chain[0][0] == "/admin/crm/lead/"
    Call.objects.all().delete()
    unsafe = call_back(staff_client, lead, next="https://evil.example.com/")
    assert unsafe.redirect_chain[0][0] == reverse("admin:crm_lead_change", args=[lead.pk])
