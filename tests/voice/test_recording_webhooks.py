"""Twilio's recording callbacks: signed, answered at once, the download queued after commit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crm.models import Call, CallEvent, Recording
from crm.services import ensure_default_business
from tests.support.celery_eager import eager_tasks
from tests.support.twilio_standin import hebrew_voicemail_wav
from voice.providers.registry import FAKE_TRANSCRIPT
from voice.twilio.security import sign

pytestmark = pytest.mark.django_db

FIXTURES = Path("/work/shared/twilio/callbacks")
if not FIXTURES.exists():  # CI: shared/ sits beside the clone
    FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "twilio" / "callbacks"


def fixture(name: str) -> dict[str, str]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def post_signed(client, settings, path: str, params: dict[str, str], *, signature: str | None = None):
    url = "http://testserver" + path
    signature = signature if signature is not None else sign(settings.TWILIO_AUTH_TOKEN, url, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


@pytest.fixture(autouse=True)
def fake_providers(settings):
    settings.VOICE_ASR, settings.VOICE_LLM, settings.VOICE_TTS = "fake", "fake", "fake"


@pytest.fixture
def call() -> Call:
    params = fixture("recording_status")
    return Call.objects.create(
        call_sid=params["CallSid"], business=ensure_default_business(), from_number="+972501234567"
    )


def test_a_completed_voicemail_is_downloaded_transcribed_and_summarised_after_commit(
    client, settings, twilio, call, django_capture_on_commit_callbacks
):
    params = fixture("recording_status")  # RecordingUrl points at api.twilio.com: rebased to the stand-in
    twilio.add_recording(params["RecordingSid"], hebrew_voicemail_wav())

    with eager_tasks(), django_capture_on_commit_callbacks(execute=True) as queued:
        response = post_signed(client, settings, "/webhook/recording_status", params)

    assert response.status_code == 204
    assert len(queued) == 1
    recording = Recording.objects.get(recording_sid=params["RecordingSid"])
    assert recording.status == Recording.Status.TRANSCRIBED
    assert recording.kind == Recording.Kind.VOICEMAIL and recording.transcript == FAKE_TRANSCRIPT
    assert recording.source_url == params["RecordingUrl"]
    call.refresh_from_db()
    assert call.lead is not None and recording.summary in call.lead.notes


def test_twilio_retrying_the_callback_creates_nothing_twice(
    client, settings, twilio, call, django_capture_on_commit_callbacks
):
    params = fixture("recording_status")
    twilio.add_recording(params["RecordingSid"], hebrew_voicemail_wav())

    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        first = post_signed(client, settings, "/webhook/recording_status", params)
        second = post_signed(client, settings, "/webhook/recording_status", params)

    assert first.status_code == second.status_code == 204
    assert Recording.objects.count() == 1
    assert len(twilio.downloads(params["RecordingSid"])) == 1
    assert call.events.filter(kind=CallEvent.Kind.TRANSCRIBED).count() == 1


def test_the_callback_registers_a_pending_recording_even_before_any_worker_runs(
    client, settings, call, django_capture_on_commit_callbacks
):
    params = fixture("recording_status")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = post_signed(client, settings, "/webhook/recording_status", params)

    assert response.status_code == 204 and len(queued) == 1
    recording = Recording.objects.get()
    assert recording.status == Recording.Status.PENDING and recording.call == call
    call.refresh_from_db()
    assert call.outcome == Call.Outcome.VOICEMAIL


def test_an_unsigned_callback_is_refused_and_changes_nothing(client, settings, call):
    params = fixture("recording_status")
    response = post_signed(client, settings, "/webhook/recording_status", params, signature="bm9wZQ==")

    assert response.status_code == 403
    assert Recording.objects.count() == 0


def test_an_absent_recording_is_recorded_as_failed_with_the_reason(
    client, settings, call, django_capture_on_commit_callbacks
):
    params = {**fixture("recording_status"), "RecordingStatus": "absent", "RecordingDuration": "0"}
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = post_signed(client, settings, "/webhook/recording_status", params)

    assert response.status_code == 204 and queued == []
    recording = Recording.objects.get()
    assert recording.status == Recording.Status.FAILED and "no audio" in recording.failure_reason
    assert call.events.filter(kind=CallEvent.Kind.RECORDING_FAILED).count() == 1
    call.refresh_from_db()
    assert call.outcome == Call.Outcome.NO_MESSAGE


def test_a_twilio_call_recording_is_stored_as_a_full_call_recording(
    client, settings, twilio, call, django_capture_on_commit_callbacks
):
    params = {
        **fixture("recording_status"),
        "RecordingSource": "StartCallRecordingAPI",
        "RecordingChannels": "2",
    }
    twilio.add_recording(params["RecordingSid"], hebrew_voicemail_wav())

    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        post_signed(client, settings, "/webhook/recording_status", params)

    recording = Recording.objects.get()
    assert recording.kind == Recording.Kind.CALL and recording.status == Recording.Status.STORED
    call.refresh_from_db()
    assert call.outcome == Call.Outcome.NONE


def test_handle_recording_thanks_the_caller_in_hebrew_and_hangs_up(client, settings, call):
    response = post_signed(client, settings, "/webhook/handle_recording", fixture("handle_recording"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    body = response.content.decode()
    assert body.startswith("<?xml")
    assert 'language="he-IL"' in body and "תודה" in body
    assert body.rstrip().endswith("<Hangup /></Response>")
    assert call.events.filter(kind=CallEvent.Kind.WEBHOOK, payload__webhook="handle_recording").count() == 1


def test_handle_recording_needs_a_signature_too(client, settings, call):
    response = post_signed(client, settings, "/webhook/handle_recording", fixture("handle_recording"), signature="x")
    assert response.status_code == 403
