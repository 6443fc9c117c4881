"""Twilio's webhooks: signed or refused, TwiML that Twilio accepts, the call on the timeline."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from django.utils import timezone

from crm.models import Business, Call, CallEvent, Lead, PhoneNumber, Utterance
from crm.services import ensure_default_business
from tests.support.celery_eager import eager_tasks
from tests.support.twilio_fixtures import fixture, post_signed
from voice.twilio.security import call_token_problem, sign

pytestmark = pytest.mark.django_db

INCOMING = "/webhook/incoming_call"


@pytest.fixture
def token(settings) -> str:
    return settings.TWILIO_AUTH_TOKEN


def incoming(**overrides: str) -> dict[str, str]:
    return {**fixture("callbacks", "incoming_call"), **overrides}


def twiml(response) -> ET.Element:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b"<?xml")
    return ET.fromstring(response.content)


def events(call_sid: str, kind: str) -> list[CallEvent]:
    return list(CallEvent.objects.filter(call__call_sid=call_sid, kind=kind).order_by("id"))


# -- signatures ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    ["/webhook/incoming_call", "/webhook/stream_status", "/webhook/call_status", "/webhook/stream_ended"],
)
@pytest.mark.parametrize("signature", [None, "", "RSOYDt4T1cUTdK1PDd93/VVr8B8="])
def test_missing_or_wrong_signature_is_403_and_changes_nothing(client, path, signature, caplog):
    extra = {} if signature is None else {"HTTP_X_TWILIO_SIGNATURE": signature}
    response = client.post(path, incoming(), **extra)
    assert response.status_code == 403
    assert not Call.objects.exists() and not Lead.objects.exists() and not CallEvent.objects.exists()
    assert "Twilio signature" in caplog.text


def test_a_signature_for_other_parameters_is_refused(client, token):
    signature = sign(token, "http://testserver" + INCOMING, incoming(From="+972509999999"))
    assert client.post(INCOMING, incoming(), HTTP_X_TWILIO_SIGNATURE=signature).status_code == 403
    assert not Call.objects.exists()


def test_a_signature_made_with_another_token_is_refused(client):
    assert post_signed(client, "not-the-token", INCOMING, incoming()).status_code == 403


def test_validation_can_be_switched_off_explicitly(client, settings):
    settings.TWILIO_VALIDATE_SIGNATURES = False
    assert client.post(INCOMING, incoming()).status_code == 200


def test_webhooks_take_post_only(client, token):
    assert client.get(INCOMING).status_code == 405


# -- incoming_call ----------------------------------------------------------------------------------------
def test_incoming_call_connects_the_stream(client, token, settings):
    root = twiml(post_signed(client, token, INCOMING, incoming()))
    connect = root.find("Connect")
    assert connect.get("action") == "http://testserver/webhook/stream_ended"
    stream = connect.find("Stream")
    assert stream.get("url") == "wss://testserver/ws/twilio-media"
    # Twilio retries its own callbacks through a short outage (connection overrides).
    assert stream.get("statusCallback") == "http://testserver/webhook/stream_status#rc=3&rp=all"
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    sid = "CA0123456789abcdef0123456789abcdef"
    assert call_token_problem(settings.SECRET_KEY, sid, params, max_age_s=settings.CALL_TOKEN_MAX_AGE_SECONDS) == ""


def test_incoming_call_opens_the_call_with_business_and_lead(client, token):
    business = Business.objects.create(name="Shop", agent_mode=Business.AgentMode.ECHO)
    PhoneNumber.objects.create(business=business, number="+97233763805")
    post_signed(client, token, INCOMING, incoming())
    call = Call.objects.get(call_sid="CA0123456789abcdef0123456789abcdef")
    assert call.business == business
    assert call.lead == Lead.objects.get(business=business, phone="+972501234567")
    assert (call.from_number, call.to_number, call.status, call.agent_mode) == (
        "+972501234567",
        "+97233763805",
        "ringing",
        "echo",
    )
    [event] = events(call.call_sid, "webhook")
    assert event.payload["webhook"] == "incoming_call" and event.payload["repeat"] is False


def test_an_unclaimed_number_goes_to_the_default_business(client, token):
    post_signed(client, token, INCOMING, incoming(To="+12025550100"))
    assert Call.objects.get().business == ensure_default_business()


def test_a_hidden_caller_gets_a_call_without_a_lead(client, token):
    twiml(post_signed(client, token, INCOMING, incoming(From="anonymous", Caller="anonymous")))
    assert Call.objects.get().lead is None and not Lead.objects.exists()


def stream_token(root: ET.Element) -> dict[str, str]:
    """The ``<Parameter>``s of the TwiML's ``<Stream>``, taken out of ``root``."""
    stream = root.find("Connect/Stream")
    parameters = stream.findall("Parameter")
    for parameter in parameters:
        stream.remove(parameter)
    return {p.get("name"): p.get("value") for p in parameters}


def test_twilio_retries_are_idempotent(client, token, settings):
    first = twiml(post_signed(client, token, INCOMING, incoming()))
    second = twiml(post_signed(client, token, INCOMING, incoming()))
    # The same answer, but each with a token issued when it is sent: a retry that comes late still has the
    # token's whole lifetime to open the stream (the two may straddle a second, so the tokens may differ).
    tokens = [stream_token(first), stream_token(second)]
    assert ET.tostring(first) == ET.tostring(second)
    sid = "CA0123456789abcdef0123456789abcdef"
    max_age_s = settings.CALL_TOKEN_MAX_AGE_SECONDS
    assert [call_token_problem(settings.SECRET_KEY, sid, t, max_age_s=max_age_s) for t in tokens] == ["", ""]
    assert Call.objects.count() == 1 and Lead.objects.count() == 1
    assert [e.payload["repeat"] for e in events("CA0123456789abcdef0123456789abcdef", "webhook")] == [
        False,
        True,
    ]


def test_the_path_is_served_with_and_without_a_trailing_slash_without_redirect(client, token):
    response = post_signed(client, token, INCOMING + "/", incoming())
    assert response.status_code == 200  # APPEND_SLASH never redirects a POST here


def test_a_call_without_callsid_is_a_bad_request(client, token):
    params = incoming()
    del params["CallSid"]
    assert post_signed(client, token, INCOMING, params).status_code == 400


def test_agent_disabled_goes_straight_to_voicemail(client, token):
    business = ensure_default_business()
    business.agent_enabled = False
    business.fallback_message = "אנחנו לא זמינים <כרגע>"
    business.save()
    root = twiml(post_signed(client, token, INCOMING, incoming()))
    assert [el.tag for el in root] == ["Say", "Record", "Say", "Hangup"]
    assert root[0].text == "אנחנו לא זמינים <כרגע>"
    record = root.find("Record")
    assert record.get("action") == "http://testserver/webhook/handle_recording"
    assert record.get("recordingStatusCallback") == "http://testserver/webhook/recording_status#rc=3&rp=all"
    [fallback] = events("CA0123456789abcdef0123456789abcdef", "fallback")
    assert fallback.payload == {"reason": "agent_disabled"}


def test_uploaded_fallback_audio_is_played_from_a_url_twilio_can_fetch(client, token):
    from django.core.files.base import ContentFile

    business = ensure_default_business()
    business.agent_enabled = False
    business.fallback_audio.save("greeting.wav", ContentFile(b"RIFF-audio"))
    root = twiml(post_signed(client, token, INCOMING, incoming()))
    play = root.find("Play")
    assert play is not None and root.find("Say").tag == "Say"  # the thank-you after <Record>
    url = play.text
    assert url.startswith("http://testserver/voice/fallback-audio/")
    fetched = client.get(url.removeprefix("http://testserver"))
    assert fetched.status_code == 200 and b"".join(fetched.streaming_content) == b"RIFF-audio"
    assert client.get(url.removeprefix("http://testserver")[:-3] + "abc").status_code == 404


# -- the public base URL ---------------------------------------------------------------------------------
def test_public_base_url_wins(client, token, settings):
    settings.PUBLIC_BASE_URL = "https://voice.example.com"
    params = incoming()
    signature = sign(token, "https://voice.example.com" + INCOMING, params)
    root = twiml(client.post(INCOMING, params, HTTP_X_TWILIO_SIGNATURE=signature))
    assert root.find("Connect").get("action") == "https://voice.example.com/webhook/stream_ended"
    assert root.find("Connect/Stream").get("url") == "wss://voice.example.com/ws/twilio-media"


def test_public_base_url_with_a_trailing_slash_gives_no_double_slash(client, token, settings):
    settings.PUBLIC_BASE_URL = "https://voice.example.com/"
    params = incoming()
    signature = sign(token, "https://voice.example.com" + INCOMING, params)
    root = twiml(client.post(INCOMING, params, HTTP_X_TWILIO_SIGNATURE=signature))
    for url in (root.find("Connect").get("action"), root.find("Connect/Stream").get("statusCallback")):
        assert "//" not in url.removeprefix("https://")


def test_a_signature_over_the_url_as_received_behind_a_tunnel_is_accepted_but_urls_stay_public(client, token):
    params = incoming()
    signature = sign(token, "https://abc.ngrok.app" + INCOMING, params)
    response = client.post(
        INCOMING,
        params,
        HTTP_X_TWILIO_SIGNATURE=signature,
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_HOST="abc.ngrok.app",
    )
    root = twiml(response)
    # What we hand Twilio comes from PUBLIC_BASE_URL (the test settings' http://testserver), never the header.
    assert root.find("Connect").get("action") == "http://testserver/webhook/stream_ended"
    assert root.find("Connect/Stream").get("url") == "wss://testserver/ws/twilio-media"
    assert b"ngrok" not in response.content


def test_a_signature_over_the_internal_url_is_refused_behind_a_proxy(client, token, settings):
    settings.PUBLIC_BASE_URL = "https://voice.example.com"
    response = post_signed(
        client,
        token,
        INCOMING,
        incoming(),
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_HOST="abc.ngrok.app",
    )
    assert response.status_code == 403


# -- stream_status and call_status --------------------------------------------------------------------------
@pytest.fixture
def call(client, token) -> Call:
    post_signed(client, token, INCOMING, incoming())
    return Call.objects.get()


def test_stream_status_is_recorded(client, token, call):
    response = post_signed(client, token, "/webhook/stream_status", fixture("callbacks", "stream_status_error"))
    assert response.status_code == 204
    [event] = events(call.call_sid, "stream_status")
    assert event.payload == {
        "event": "stream-error",
        "stream_sid": "MZ0123456789abcdef0123456789abcdef",
        "error": "Stream - WebSocket - Handshake Error",
        "timestamp": "2026-03-01T12:00:05.123Z",
    }


def test_call_status_updates_the_call(client, token, call):
    in_progress = {**fixture("callbacks", "call_status_completed"), "CallStatus": "in-progress"}
    in_progress.pop("CallDuration")
    assert post_signed(client, token, "/webhook/call_status", in_progress).status_code == 204
    call.refresh_from_db()
    assert call.status == "in-progress" and call.answered_at is not None and call.ended_at is None

    response = post_signed(client, token, "/webhook/call_status", fixture("callbacks", "call_status_completed"))
    assert response.status_code == 204
    call.refresh_from_db()
    assert (call.status, call.duration_seconds) == ("completed", 42)
    assert call.ended_at is not None and call.ended_at >= call.answered_at
    assert [e.payload for e in events(call.call_sid, "call_status")] == [
        {"status": "in-progress"},
        {"status": "completed", "duration": "42"},
    ]


def test_callbacks_for_unknown_calls_are_acknowledged(client, token):
    params = {**fixture("callbacks", "call_status_completed"), "CallSid": "CA" + "9" * 32}
    assert post_signed(client, token, "/webhook/call_status", params).status_code == 204
    assert post_signed(client, token, "/webhook/stream_status", params).status_code == 204
    assert not Call.objects.exists()


# -- stream_ended ----------------------------------------------------------------------------------------
def stream_ended(client, token, call: Call, status: str = "in-progress"):
    return post_signed(client, token, "/webhook/stream_ended", incoming(CallStatus=status))


def test_stream_that_never_started_goes_to_voicemail(client, token, call):
    root = twiml(stream_ended(client, token, call))
    assert root.find("Record") is not None and root[-1].tag == "Hangup"
    [fallback] = events(call.call_sid, "fallback")
    assert fallback.payload == {"reason": "stream_never_started"}


def test_stream_that_broke_mid_call_goes_to_voicemail(client, token, call):
    call.stream_sid = "MZ0123456789abcdef0123456789abcdef"
    call.save()
    root = twiml(stream_ended(client, token, call))
    assert root.find("Record") is not None
    assert events(call.call_sid, "fallback")[0].payload == {"reason": "stream_broke"}


def test_conversation_ended_by_the_agent_hangs_up(client, token, call):
    call.stream_sid = "MZ0123456789abcdef0123456789abcdef"
    call.outcome = Call.Outcome.CONVERSATION
    call.save()
    CallEvent.objects.create(call=call, kind="hangup", payload={"reason": "goodbye", "voicemail": False})
    root = twiml(stream_ended(client, token, call))
    assert [el.tag for el in root] == ["Hangup"]
    assert not events(call.call_sid, "fallback")


def test_the_agent_asking_for_voicemail_gets_voicemail(client, token, call):
    call.stream_sid = "MZ0123456789abcdef0123456789abcdef"
    call.save()
    CallEvent.objects.create(call=call, kind="hangup", payload={"reason": "provider_failure", "voicemail": True})
    root = twiml(stream_ended(client, token, call))
    assert root.find("Record") is not None
    assert events(call.call_sid, "fallback")[0].payload == {"reason": "agent_requested_voicemail"}


def test_a_caller_who_hung_up_gets_no_voicemail(client, token, call):
    root = twiml(stream_ended(client, token, call, status="completed"))
    assert [el.tag for el in root] == ["Hangup"]
    assert not events(call.call_sid, "fallback")


def test_the_end_of_a_conversation_sits_after_its_last_utterance_on_the_timeline(client, token, call):
    # The bug "Timeline events from webhooks sit at 00:00": webhook events were stored at offset 0 while the
    # utterances count from the call's start, so the call page showed the hang-up before the conversation.
    # Both now count from the answer (crm.call_events).
    Call.objects.filter(pk=call.pk).update(
        answered_at=timezone.now() - dt.timedelta(seconds=12),
        status="in-progress",
        stream_sid="MZ0123456789abcdef0123456789abcdef",
        outcome=Call.Outcome.CONVERSATION,
    )
    Utterance.objects.create(call=call, speaker="agent", text="שלום, במה אפשר לעזור?", start_ms=300, end_ms=2500)
    Utterance.objects.create(call=call, speaker="caller", text="רציתי לשאול על מנוי", start_ms=3000, end_ms=5000)
    Utterance.objects.create(call=call, speaker="agent", text="בשמחה, להתראות", start_ms=5500, end_ms=9000)

    assert [el.tag for el in twiml(stream_ended(client, token, call))] == ["Hangup"]
    post_signed(client, token, "/webhook/call_status", fixture("callbacks", "call_status_completed"))

    last_said = max(Utterance.objects.filter(call=call).values_list("end_ms", flat=True))
    (ended,) = events(call.call_sid, "webhook")[1:]  # after the incoming call's
    (completed,) = events(call.call_sid, "call_status")
    assert ended.payload["webhook"] == "stream_ended"
    assert ended.offset_ms > last_said and completed.offset_ms >= ended.offset_ms
    assert events(call.call_sid, "webhook")[0].offset_ms == 0  # the incoming call came before the answer


# -- what the webhooks hand to Celery -----------------------------------------------------------------------
def test_a_business_that_asks_for_twilio_recordings_gets_one_per_call(
    client, token, twilio, django_capture_on_commit_callbacks
):
    business = ensure_default_business()
    business.twilio_recording = True
    business.save()
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        post_signed(client, token, INCOMING, incoming())
        post_signed(client, token, INCOMING, incoming())  # Twilio's retry asks for nothing more
    call_sid = incoming()["CallSid"]
    [request] = [r for r in twilio.requests if r.path.endswith(f"/Calls/{call_sid}/Recordings.json")]
    assert request.form["RecordingStatusCallback"] == ["http://testserver/webhook/recording_status#rc=3&rp=all"]


def test_no_twilio_recording_unless_the_business_asks(client, token, twilio, django_capture_on_commit_callbacks):
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        post_signed(client, token, INCOMING, incoming())
    assert twilio.requests == []


def test_a_finished_call_gets_its_after_call_summary(client, token, call, settings, django_capture_on_commit_callbacks):
    settings.VOICE_ASR, settings.VOICE_LLM, settings.VOICE_TTS = "fake", "fake", "fake"
    Utterance.objects.create(call=call, speaker="caller", text="אני רוצה לקבוע תור", start_ms=0, end_ms=1200)
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        post_signed(client, token, "/webhook/call_status", fixture("callbacks", "call_status_completed"))
    call.refresh_from_db()
    assert call.summary
    assert events(call.call_sid, "summary")
