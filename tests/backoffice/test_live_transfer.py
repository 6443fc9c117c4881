"""The live page's "transfer to me": the live call rings the staff member's own phone (their membership's)
through Twilio's REST call update (a local stand-in here) with a <Dial>, and the timeline says who took it.
Without a phone on their membership the action is not offered, and refused with a clear message."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Call, CallEvent, Membership
from tests.support import factories

pytestmark = pytest.mark.django_db

PHONE = "+972541112233"


@pytest.fixture
def live_call(business_a):
    business_a.transfer_ring_seconds = 15
    business_a.save()
    return factories.make_call(business_a, status=Call.Status.IN_PROGRESS, outcome="", duration_seconds=None)


@pytest.fixture
def with_phone(staff_a, business_a):
    Membership.objects.filter(user=staff_a, business=business_a).update(phone=PHONE)


def transfer(client, call: Call, **extra):
    return client.post(reverse("admin:crm_call_live_transfer", args=[call.pk]), **extra)


def test_the_page_offers_the_transfer_with_the_staff_members_phone(staff_client, live_call, with_phone):
    html = staff_client.get(reverse("admin:crm_call_live_call", args=[live_call.pk])).content.decode()
    assert 'id="live-transfer"' in html
    assert re.search(r'<bdi dir="ltr" class="phone">[^<]*</bdi></button>', html)
    assert 'id="live-transfer-hint"' not in html


def test_transfer_to_me_dials_the_staff_member_and_records_who_took_it(staff_client, live_call, with_phone, twilio):
    response = transfer(staff_client, live_call, follow=True)

    (update,) = twilio.call_updates(live_call.call_sid)
    dial = ET.fromstring(update["Twiml"]).find("Dial")
    assert dial is not None and dial.findtext("Number") == PHONE
    assert dial.get("timeout") == "15" and dial.get("callerId") == live_call.to_number
    assert dial.get("action").endswith("/webhook/dial_status")
    event = live_call.events.get(kind=CallEvent.Kind.HANGUP)
    assert event.payload == {"reason": "transferred_to_staff", "voicemail": False, "by": "staff_a", "to": PHONE}
    (message,) = response.context["messages"]
    assert message.level_tag == "success"


def test_without_a_phone_the_action_is_hidden_and_refused(staff_client, live_call, twilio):
    html = staff_client.get(reverse("admin:crm_call_live_call", args=[live_call.pk])).content.decode()
    assert 'id="live-transfer"' not in html and 'id="live-transfer-hint"' in html

    response = transfer(staff_client, live_call, follow=True)

    assert twilio.requests == []
    assert not live_call.events.exists()
    (message,) = response.context["messages"]
    assert message.level_tag == "error" and "מספר הטלפון" in str(message)


def test_another_businesss_call_is_not_found_and_reaches_nobody(client, owner_b, live_call, twilio):
    Membership.objects.filter(user=owner_b).update(phone=PHONE)
    client.force_login(owner_b)
    assert transfer(client, live_call).status_code == 404
    assert twilio.requests == [] and not live_call.events.exists()


def test_an_ended_call_is_left_alone(staff_client, business_a, with_phone, twilio):
    call = factories.make_call(business_a, status=Call.Status.COMPLETED, ended_at=timezone.now())
    response = transfer(staff_client, call, follow=True)
    assert twilio.requests == [] and not call.events.filter(kind=CallEvent.Kind.HANGUP).exists()
    assert [str(m) for m in response.context["messages"]]


def test_when_twilio_refuses_nothing_is_recorded(staff_client, live_call, with_phone, twilio, settings):
    settings.TWILIO_AUTH_TOKEN = "not-the-token"  # the stand-in answers 401, as Twilio would
    response = transfer(staff_client, live_call, follow=True)
    assert len(twilio.requests) == 1 and not live_call.events.exists()
    (message,) = response.context["messages"]
    assert message.level_tag == "error"
