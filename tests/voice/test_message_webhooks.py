"""Twilio's callbacks after a call: the delivery reports of the message to the caller (signed; each new status
kept once on the message and on the call's timeline; a replay changes nothing), and the staff call-back's
bridge (the TwiML that dials the lead, and its <Dial action>)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from crm.models import CallEvent
from followup.models import Notification
from followup.sms_tasks import send_caller_message
from tests.support import factories
from tests.support.twilio_fixtures import post_signed
from voice.message_webhooks import NO_ANSWER, call_back_twiml

pytestmark = pytest.mark.django_db

STATUS = "/webhook/message_status"
DIAL_STATUS = "/webhook/call_back_dial_status"
CALLER = "+972547654321"
SID = "SM0123456789abcdef0123456789abcdef"


@pytest.fixture
def token(settings) -> str:
    return settings.TWILIO_AUTH_TOKEN


@pytest.fixture
def business():
    return factories.make_business("מרפאת שיניים אלון", followup_sms_text="תודה שהתקשרתם ל{business}.")


@pytest.fixture
def call(business):
    return factories.make_call(business, factories.make_lead(business, CALLER), to_number="+97233763805")


@pytest.fixture
def message(business, call) -> Notification:
    """The call's message as the worker leaves it once Twilio took it (queued)."""
    return Notification.objects.create(
        business=business,
        event="caller.message",
        channel=Notification.Channel.SMS,
        recipient=CALLER,
        key=f"sms:{call.pk}",
        call=call,
        lead=call.lead,
        status=Notification.Status.SENT,
        provider_id=SID,
        provider_status="queued",
        payload={"statuses": ["queued"]},
    )


def report(settings, status: str, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": SID,
        "SmsSid": SID,
        "AccountSid": settings.TWILIO_ACCOUNT_SID,
        "From": "+97233763805",
        "To": CALLER,
        "MessageStatus": status,
        "SmsStatus": status,
        "ApiVersion": "2010-04-01",
        **extra,
    }


def sms_events(call) -> list[dict]:
    return [e.payload for e in call.events.filter(kind=CallEvent.Kind.SMS).order_by("pk")]


# -- message status ------------------------------------------------------------------------------------------
def test_a_delivery_report_updates_the_message_and_lands_on_the_timeline_once(client, settings, token, message, call):
    for _ in range(3):  # Twilio retries, or someone replays the signed request
        response = post_signed(client, token, STATUS, report(settings, "delivered"))
        assert response.status_code == 204

    message.refresh_from_db()
    assert message.provider_status == "delivered" and message.status == Notification.Status.SENT
    assert sms_events(call) == [{"channel": "sms", "to": CALLER, "status": "delivered", "message_sid": SID}]


def test_the_report_of_the_worker_that_sent_it_is_not_repeated_by_the_callback(
    client, settings, token, twilio, call, business
):
    send_caller_message.apply(args=(call.pk,)).get()  # Twilio's answer: queued
    sid = Notification.objects.get().provider_id

    params = report(settings, "queued") | {"MessageSid": sid, "SmsSid": sid}
    assert post_signed(client, token, STATUS, params).status_code == 204
    params |= {"MessageStatus": "sent", "SmsStatus": "sent"}
    assert post_signed(client, token, STATUS, params).status_code == 204

    assert [e["status"] for e in sms_events(call)] == ["queued", "sent"]
    assert Notification.objects.get().provider_status == "sent"


def test_a_late_report_is_kept_but_never_moves_the_status_back(client, settings, token, message, call):
    post_signed(client, token, STATUS, report(settings, "delivered"))
    post_signed(client, token, STATUS, report(settings, "sent"))  # arrived after "delivered"

    message.refresh_from_db()
    assert message.provider_status == "delivered"
    assert message.payload["statuses"] == ["queued", "delivered", "sent"]
    assert [e["status"] for e in sms_events(call)] == ["delivered", "sent"]


def test_an_undelivered_message_is_failed_with_twilios_error_code(client, settings, token, message, call):
    post_signed(client, token, STATUS, report(settings, "undelivered", ErrorCode="30003"))

    message.refresh_from_db()
    assert message.status == Notification.Status.FAILED and message.provider_status == "undelivered"
    assert message.last_error == "Twilio: undelivered (error 30003)"
    (event,) = sms_events(call)
    assert event["status"] == "undelivered" and event["error_code"] == "30003"


def test_an_unsigned_or_wrongly_signed_report_is_refused_and_changes_nothing(client, settings, token, message, call):
    assert client.post(STATUS, report(settings, "delivered")).status_code == 403
    forged = client.post(STATUS, report(settings, "delivered"), HTTP_X_TWILIO_SIGNATURE="bm90IGEgc2lnbmF0dXJl")
    assert forged.status_code == 403
    signed_for_another_account = report(settings, "delivered", AccountSid="AC" + "f" * 32)
    assert post_signed(client, token, STATUS, signed_for_another_account).status_code == 403

    message.refresh_from_db()
    assert message.provider_status == "queued" and message.payload["statuses"] == ["queued"]
    assert not call.events.exists()


def test_a_report_for_a_message_we_never_sent_writes_nothing(client, settings, token, call):
    assert post_signed(client, token, STATUS, report(settings, "delivered")).status_code == 204
    assert not Notification.objects.exists() and not call.events.exists()


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"MessageStatus": "", "SmsStatus": ""}, "MessageStatus missing"),
        ({"MessageStatus": "exploded", "SmsStatus": "exploded"}, "unknown MessageStatus 'exploded'"),
        ({"MessageSid": "", "SmsSid": ""}, "MessageSid missing"),
    ],
)
def test_a_report_without_a_sid_or_a_known_status_is_a_bad_request(
    client, settings, token, message, call, params, problem
):
    response = post_signed(client, token, STATUS, report(settings, "delivered") | params)

    assert response.status_code == 400 and response.content.decode() == problem
    message.refresh_from_db()
    assert message.provider_status == "queued" and not call.events.exists()


def test_only_post_is_accepted(client):
    assert client.get(STATUS).status_code == 405


# -- the call-back bridge ------------------------------------------------------------------------------------
def test_the_bridge_tells_the_staff_member_who_they_call_then_dials_the_lead_from_our_number():
    xml = call_back_twiml(
        lead_number=CALLER, lead_name="דנה כהן", caller_id="+97233763805", ring_seconds=20, record=True
    )

    root = ET.fromstring(xml)
    say, dial = list(root)
    assert say.tag == "Say" and say.text == "מתקשרים אל דנה כהן" and say.get("language") == "he-IL"
    assert dial.tag == "Dial" and dial.findtext("Number") == CALLER
    assert dial.get("callerId") == "+97233763805" and dial.get("timeout") == "20"
    assert dial.get("action") == "http://testserver/webhook/call_back_dial_status"
    assert dial.get("record") == "record-from-answer-dual"
    assert dial.get("recordingStatusCallback") == "http://testserver/webhook/recording_status#rc=3&rp=all"


def test_the_bridge_is_not_recorded_when_the_business_does_not_record_and_names_nobody_without_a_name():
    root = ET.fromstring(
        call_back_twiml(lead_number=CALLER, lead_name="", caller_id="+97233763805", ring_seconds=20, record=False)
    )
    assert root.findtext("Say") == "מתקשרים אל הפונה"
    dial = root.find("Dial")
    assert dial is not None and dial.get("record") is None and dial.get("recordingStatusCallback") is None


def dial_outcome(settings, call, status: str, **extra: str) -> dict[str, str]:
    return {
        "CallSid": call.call_sid,
        "AccountSid": settings.TWILIO_ACCOUNT_SID,
        "DialCallSid": "CA" + "d" * 32,
        "DialCallStatus": status,
        "CallStatus": "in-progress",
        **extra,
    }


def test_the_leads_leg_goes_on_the_timeline_once_and_an_answered_call_hangs_up(client, settings, token, call):
    for _ in range(2):
        response = post_signed(
            client, token, DIAL_STATUS, dial_outcome(settings, call, "completed", DialCallDuration="95")
        )
        assert response.status_code == 200
        assert ET.fromstring(response.content).find("Hangup") is not None

    (event,) = call.events.filter(kind=CallEvent.Kind.CALL_BACK)
    assert event.payload == {"outcome": "completed", "duration": 95, "dial_call_sid": "CA" + "d" * 32}


def test_a_lead_who_does_not_answer_is_announced_to_the_staff_member(client, settings, token, call):
    response = post_signed(client, token, DIAL_STATUS, dial_outcome(settings, call, "no-answer"))

    root = ET.fromstring(response.content)
    assert root.findtext("Say") == NO_ANSWER and root.find("Hangup") is not None
    assert call.events.get(kind=CallEvent.Kind.CALL_BACK).payload["outcome"] == "no-answer"


def test_the_dial_status_is_signed_and_checked(client, settings, token, call):
    assert client.post(DIAL_STATUS, dial_outcome(settings, call, "completed")).status_code == 403
    bad = post_signed(client, token, DIAL_STATUS, dial_outcome(settings, call, "exploded"))
    assert bad.status_code == 400
    unknown = post_signed(
        client, token, DIAL_STATUS, dial_outcome(settings, call, "completed", CallSid="CA" + "e" * 32)
    )
    assert unknown.status_code == 404
    assert not call.events.exists()
