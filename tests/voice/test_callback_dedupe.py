"""Duplicate callbacks are no-ops; another account's signed webhook is refused; statuses never go back."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from crm.models import Call, CallEvent, Lead, Recording
from tests.support.celery_eager import eager_tasks
from tests.support.twilio_fixtures import fixture, post_signed
from voice.twilio.security import sign

pytestmark = pytest.mark.django_db

INCOMING = "/webhook/incoming_call"


@pytest.fixture
def token(settings) -> str:
    return settings.TWILIO_AUTH_TOKEN


@pytest.fixture
def call(client, token) -> Call:
    post_signed(client, token, INCOMING, fixture("callbacks", "incoming_call"))
    return Call.objects.get()


def kinds(call: Call, kind: str) -> list[dict]:
    return [e.payload for e in CallEvent.objects.filter(call=call, kind=kind).order_by("id")]


@pytest.mark.parametrize("path", ["/webhook/incoming_call", "/webhook/call_status", "/webhook/recording_status"])
def test_a_valid_signature_for_another_account_is_403_and_writes_nothing(client, token, path):
    params = {**fixture("callbacks", "incoming_call"), "AccountSid": "AC" + "f" * 32}
    response = post_signed(client, token, path, params)
    assert response.status_code == 403
    assert not Call.objects.exists() and not Lead.objects.exists() and not CallEvent.objects.exists()


def test_the_same_call_status_five_times_is_one_event_and_one_after_call_job(
    client, token, call, django_capture_on_commit_callbacks
):
    params = {**fixture("callbacks", "call_status_completed"), "SequenceNumber": "3"}
    with django_capture_on_commit_callbacks() as queued:
        for _ in range(5):
            assert post_signed(client, token, "/webhook/call_status", params).status_code == 204
    assert kinds(call, "call_status") == [{"status": "completed", "duration": "42", "sequence": "3"}]
    assert len(queued) == 1  # one after-call job


def test_a_late_in_progress_never_reopens_a_completed_call(client, token, call):
    completed = {**fixture("callbacks", "call_status_completed"), "SequenceNumber": "3"}
    late = {**completed, "CallStatus": "in-progress", "SequenceNumber": "2"}
    late.pop("CallDuration")
    post_signed(client, token, "/webhook/call_status", completed)
    post_signed(client, token, "/webhook/call_status", late)
    call.refresh_from_db()
    assert call.status == "completed" and call.ended_at is not None


def test_the_same_stream_status_twice_is_one_event(client, token, call):
    params = fixture("callbacks", "stream_status")
    for _ in range(2):
        assert post_signed(client, token, "/webhook/stream_status", params).status_code == 204
    assert len(kinds(call, "stream_status")) == 1


def test_the_same_recording_status_twice_downloads_once(
    client, token, call, twilio, django_capture_on_commit_callbacks
):
    params = {**fixture("callbacks", "recording_status"), "CallSid": call.call_sid}
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            assert post_signed(client, token, "/webhook/recording_status", params).status_code == 204
    downloads = [r for r in twilio.requests if params["RecordingSid"] in r.path and r.method == "GET"]
    assert len(downloads) == 1
    assert Recording.objects.filter(recording_sid=params["RecordingSid"]).count() == 1


# -- connection overrides and signatures --------------------------------------------------------------------
@pytest.mark.parametrize("signed_with_fragment", [False, True])
def test_callbacks_with_connection_overrides_validate_either_way(client, token, call, signed_with_fragment):
    """The fragment (#rc=3&rp=all) never reaches the server. Whether Twilio signs the URL with it or without,
    the webhook accepts it: Twilio's own RequestValidator checks both forms here."""
    url = "http://testserver/webhook/stream_status"
    signed_url = url + "#rc=3&rp=all" if signed_with_fragment else url
    params = fixture("callbacks", "stream_status")
    signature = sign(token, signed_url, params)
    assert RequestValidator(token).validate(signed_url, params, signature)
    # The two forms give different signatures: the server must know which URLs to try.
    assert RequestValidator(token).validate(url, params, signature) is not signed_with_fragment
    response = client.post("/webhook/stream_status", params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 204
    assert len(kinds(call, "stream_status")) == 1
