"""Handing the caller to a person, end to end: the model (the real OpenAI adapter, talking to the local
OpenAI stand-in) calls ``transfer_to_human`` → the agent says the transfer line and the stream ends with a
"transfer" hang-up stored by the call's real ``CallStore`` → the signed <Connect action> answers a <Dial> to
the business's transfer number → the signed <Dial action> (dial_status) sends an unanswered transfer to
voicemail and hangs up after an answered one, with the outcome and the person's leg duration on the
timeline. Bad input to dial_status changes nothing."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from asgiref.sync import async_to_sync

from crm.models import Call, CallEvent
from crm.services import ensure_default_business
from tests.support.agent_doubles import FakeTwilio, until
from tests.support.openai_standin import OpenAIStandin, Reply
from tests.support.twilio_fixtures import fixture, post_signed
from voice.agent.config import AgentConfig
from voice.agent.session import AgentSession
from voice.audio.pacer import LoopClock
from voice.lead_tools import LEAD_TOOLS, transfer_offered
from voice.providers.base import Providers
from voice.providers.fake import FakeASR, FakeTTS
from voice.providers.openai_api import OpenAILLM
from voice.store import CallStore, load_call_info

pytestmark = pytest.mark.django_db(transaction=True)

API_KEY = "sk-test"
PERSON = "+972521234567"
INCOMING, STREAM_ENDED, DIAL_STATUS = "/webhook/incoming_call", "/webhook/stream_ended", "/webhook/dial_status"


def with_transfer(config: AgentConfig) -> AgentConfig:
    return dataclasses.replace(config, transfer_available=True)


@pytest.fixture
def standin() -> Iterator[OpenAIStandin]:
    with OpenAIStandin(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def token(settings) -> str:
    return settings.TWILIO_AUTH_TOKEN


@pytest.fixture
def business():
    business = ensure_default_business()
    business.transfer_number = PERSON
    business.transfer_ring_seconds = 20
    business.record_calls = True
    business.twilio_recording = False
    business.save()
    return business


def incoming(**overrides: str) -> dict[str, str]:
    return {**fixture("callbacks", "incoming_call"), **overrides}


def twiml(response) -> ET.Element:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    return ET.fromstring(response.content)


def ring(client, token) -> Call:
    twiml(post_signed(client, token, INCOMING, incoming()))
    return Call.objects.get(call_sid=incoming()["CallSid"])


def talk(call: Call, standin: OpenAIStandin, *, transfer: bool) -> list[str]:
    """One AI session on ``call``: the caller presses 5#, the model answers with what the stand-in was
    scripted to say; returns the tool names the model was shown."""

    info = load_call_info(call.call_sid)
    assert info is not None

    async def run() -> None:
        config = with_transfer(info.config) if transfer else info.config
        llm = OpenAILLM(api_key=API_KEY, base_url=standin.base_url)
        providers = Providers(asr=FakeASR(default=""), llm=llm, tts=FakeTTS())
        twilio = FakeTwilio(echo_marks=True)
        session: AgentSession | None = None
        store = CallStore(
            dataclasses.replace(info, config=config), media_ms=lambda: session.media_ms if session else 0, on_end=_noop
        )
        session = AgentSession(
            config, providers, twilio, store, tools=LEAD_TOOLS, deadlines=None, clock=LoopClock(speed=50)
        )
        twilio.handler = session
        await store.stream_started("MZ" + "0" * 32, {"stream_sid": "MZ" + "0" * 32})
        await session.start()
        await until(lambda: not session.busy)
        await session.dtmf("5")
        await session.dtmf("#")
        await until(lambda: store.ended is not None or (not session.busy and len(standin.requests) > 0), within=10)
        await session.stop()
        await store.close()

    async_to_sync(run)()
    (request,) = standin.requests_to("/v1/chat/completions")[:1]
    return [tool["function"]["name"] for tool in request.json["tools"]]


async def _noop() -> None:
    return None


def dial_params(call: Call, status: str, duration: str = "") -> dict[str, str]:
    params = {
        "AccountSid": incoming()["AccountSid"],
        "CallSid": call.call_sid,
        "CallStatus": "in-progress",
        "From": call.from_number,
        "To": call.to_number,
        "DialCallSid": "CA" + "d" * 32,
        "DialCallStatus": status,
    }
    if duration:
        params["DialCallDuration"] = duration
    return params


def hand_over(client, token, call: Call, standin: OpenAIStandin) -> ET.Element:
    """The model hands the caller over; the stream ends; the <Connect action>'s answer."""
    standin.chat.append(Reply(text="", tool_calls=[("transfer_to_human", {"reason": "the caller asked for a person"})]))
    assert "transfer_to_human" in talk(call, standin, transfer=True)
    hangup = call.events.get(kind=CallEvent.Kind.HANGUP)
    assert hangup.payload == {"reason": "transfer", "voicemail": False}
    agent_lines = list(call.utterances.filter(speaker="agent").values_list("text", flat=True))
    assert agent_lines[-1] == AgentConfig.transfer_line
    return twiml(post_signed(client, token, STREAM_ENDED, {**incoming(), "CallStatus": "in-progress"}))


# -- end to end ---------------------------------------------------------------------------------------------
def test_the_agent_hands_over_and_an_unanswered_transfer_goes_to_voicemail(client, token, business, standin):
    call = ring(client, token)

    root = hand_over(client, token, call, standin)

    dial = root.find("Dial")
    assert dial is not None and dial.findtext("Number") == PERSON
    assert dial.get("action") == "http://testserver" + DIAL_STATUS
    assert dial.get("timeout") == "20"
    assert dial.get("callerId") == call.to_number  # the number the caller dialled: ours
    assert dial.get("record") == "record-from-answer-dual"
    assert dial.get("recordingStatusCallback").startswith("http://testserver/webhook/recording_status")
    decision = call.events.get(kind=CallEvent.Kind.WEBHOOK, payload__webhook="stream_ended")
    assert decision.payload["decision"] == "transfer"

    answer = twiml(post_signed(client, token, DIAL_STATUS, dial_params(call, "no-answer")))

    assert answer.find("Record") is not None  # the business's voicemail
    outcome = call.events.get(kind=CallEvent.Kind.TRANSFER, payload__outcome="no-answer")
    assert outcome.payload["reason"] == "transfer" and outcome.payload["voicemail"] is True
    assert outcome.payload["duration"] == 0
    assert call.events.filter(kind=CallEvent.Kind.FALLBACK, payload__reason="transfer_no-answer").count() == 1

    before = CallEvent.objects.count()
    again = twiml(post_signed(client, token, DIAL_STATUS, dial_params(call, "no-answer")))  # Twilio retries
    assert again.find("Record") is not None and CallEvent.objects.count() == before


def test_an_answered_transfer_hangs_up_with_the_persons_leg_duration(client, token, business, standin):
    call = ring(client, token)
    hand_over(client, token, call, standin)

    answer = twiml(post_signed(client, token, DIAL_STATUS, dial_params(call, "completed", "42")))

    assert [child.tag for child in answer] == ["Hangup"]
    outcome = call.events.get(kind=CallEvent.Kind.TRANSFER, payload__outcome="completed")
    assert outcome.payload["duration"] == 42 and outcome.payload["voicemail"] is False
    assert not call.events.filter(kind=CallEvent.Kind.FALLBACK).exists()


def test_a_business_with_a_transfer_number_offers_the_tool(client, token, business, standin):
    call = ring(client, token)
    standin.chat.append(Reply(text="בסדר."))

    names = talk(call, standin, transfer=False)  # the call's own configuration, as the socket builds it

    assert "transfer_to_human" in names
    assert transfer_offered(load_call_info(call.call_sid).config)


def test_the_tool_is_not_offered_without_a_transfer_number(client, token, business, standin):
    business.transfer_number = ""
    business.save()
    call = ring(client, token)
    standin.chat.append(Reply(text="בסדר."))

    names = talk(call, standin, transfer=False)

    assert "transfer_to_human" not in names and "end_call" in names
    assert not transfer_offered(load_call_info(call.call_sid).config)


def test_a_transfer_number_removed_mid_call_sends_the_caller_to_voicemail(client, token, business, standin):
    call = ring(client, token)
    standin.chat.append(Reply(text="", tool_calls=[("transfer_to_human", {"reason": "asked"})]))
    talk(call, standin, transfer=True)
    business.transfer_number = ""
    business.save()

    root = twiml(post_signed(client, token, STREAM_ENDED, {**incoming(), "CallStatus": "in-progress"}))

    assert root.find("Dial") is None and root.find("Record") is not None
    assert call.events.filter(kind=CallEvent.Kind.FALLBACK, payload__reason="no_transfer_number").exists()


# -- bad input ----------------------------------------------------------------------------------------------
def test_dial_status_without_a_signature_is_refused_and_writes_nothing(client, token, business):
    call = ring(client, token)
    before = CallEvent.objects.count()
    response = client.post(DIAL_STATUS, dial_params(call, "no-answer"))
    assert response.status_code == 403 and CallEvent.objects.count() == before


def test_dial_status_for_another_account_is_refused(client, token, business):
    call = ring(client, token)
    before = CallEvent.objects.count()
    params = {**dial_params(call, "no-answer"), "AccountSid": "AC" + "f" * 32}
    response = post_signed(client, token, DIAL_STATUS, params)
    assert response.status_code == 403 and b"AccountSid" in response.content
    assert CallEvent.objects.count() == before


def test_dial_status_for_an_unknown_call_is_not_found(client, token, business):
    call = ring(client, token)
    before = CallEvent.objects.count()
    params = {**dial_params(call, "no-answer"), "CallSid": "CA" + "9" * 32}
    response = post_signed(client, token, DIAL_STATUS, params)
    assert response.status_code == 404 and CallEvent.objects.count() == before


@pytest.mark.parametrize("status", ["", "ringing"])
def test_dial_status_without_a_known_outcome_is_a_bad_request(client, token, business, status):
    call = ring(client, token)
    before = CallEvent.objects.count()
    response = post_signed(client, token, DIAL_STATUS, dial_params(call, status))
    assert response.status_code == 400 and b"DialCallStatus" in response.content
    assert CallEvent.objects.count() == before


def test_when_the_caller_hangs_up_while_the_person_rings_nothing_more_is_played(client, token, business):
    call = ring(client, token)
    params = {**dial_params(call, "canceled"), "CallStatus": "completed"}
    answer = twiml(post_signed(client, token, DIAL_STATUS, params))
    assert [child.tag for child in answer] == ["Hangup"]
    outcome = call.events.get(kind=CallEvent.Kind.TRANSFER, payload__outcome="canceled")
    assert outcome.payload["voicemail"] is False
