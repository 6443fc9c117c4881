"""Our Twilio REST calls, made by the real ``twilio`` client against the local stand-in."""

from __future__ import annotations

import pytest

from tests.support.twilio_standin import hebrew_voicemail_wav
from voice import twilio_rest
from voice.twilio import twiml

CALL_SID = "CA0123456789abcdef0123456789abcdef"


def test_a_live_call_is_moved_to_voicemail_with_its_twiml(twilio):
    xml = twiml.voicemail(
        record_action_url="https://voice.example.com/webhook/handle_recording",
        recording_status_url="https://voice.example.com/webhook/recording_status",
        message="השאירו הודעה",
    )

    twilio_rest.move_to_voicemail(CALL_SID, xml)

    (update,) = twilio.call_updates(CALL_SID)
    assert update == {"Twiml": xml}
    assert all(r.authorized for r in twilio.requests)


def test_hang_up_completes_the_call(twilio):
    twilio_rest.hang_up(CALL_SID)
    assert twilio.call_updates(CALL_SID) == [{"Status": "completed"}]


def test_twilio_is_asked_for_a_dual_channel_recording_with_our_status_callback(twilio):
    sid = twilio_rest.start_twilio_recording(CALL_SID, "https://voice.example.com/webhook/recording_status")

    assert sid.startswith("RE")
    (request,) = [r for r in twilio.requests if r.path.endswith(f"/Calls/{CALL_SID}/Recordings.json")]
    assert request.form["RecordingStatusCallback"] == ["https://voice.example.com/webhook/recording_status"]
    assert request.form["RecordingChannels"] == ["dual"]
    assert request.form["RecordingStatusCallbackEvent"] == ["completed", "absent"]


def test_rest_errors_surface_as_twilio_exceptions(twilio, settings):
    settings.TWILIO_AUTH_TOKEN = "wrong"
    with pytest.raises(twilio_rest.TwilioRestException) as failure:
        twilio_rest.hang_up(CALL_SID)
    assert failure.value.status == 401


def test_a_download_appends_wav_and_normalises_the_content_type(twilio):
    audio = hebrew_voicemail_wav()
    url = twilio.add_recording("RE" + "a" * 32, audio)

    assert twilio_rest.download_recording(url) == (audio, "audio/wav")
    assert twilio.downloads("RE" + "a" * 32)[0].path.endswith(".wav")


def test_credentials_are_never_sent_to_a_host_that_is_not_twilio(twilio):
    with pytest.raises(twilio_rest.DownloadError) as failure:
        twilio_rest.download_recording("https://attacker.example.com/2010-04-01/Accounts/AC1/Recordings/RE1")
    assert failure.value.permanent
    assert twilio.requests == []


def test_an_unreachable_twilio_is_a_transient_failure(settings):
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(twilio_rest.DownloadError) as failure:
        twilio_rest.download_recording("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1")
    assert not failure.value.permanent
