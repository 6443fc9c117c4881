"""TwiML as Twilio accepts it: XML declaration first, escaped values, the verbs and attributes we rely on."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from voice.twilio import twiml


def parse(xml: str) -> ET.Element:
    assert xml.startswith("<?xml")
    return ET.fromstring(xml)


def test_connect_stream():
    xml = twiml.connect_stream(
        stream_url="wss://voice.example.com/ws/twilio-media",
        action_url="https://voice.example.com/webhook/stream_ended",
        status_callback_url="https://voice.example.com/webhook/stream_status",
        parameters={"call_token": "abc", "note": 'a<b & "c"'},
    )
    root = parse(xml)
    connect = root.find("Connect")
    assert connect.get("action") == "https://voice.example.com/webhook/stream_ended"
    stream = connect.find("Stream")
    assert stream.get("url") == "wss://voice.example.com/ws/twilio-media"
    assert stream.get("statusCallback") == "https://voice.example.com/webhook/stream_status"
    assert {p.get("name"): p.get("value") for p in stream.findall("Parameter")} == {
        "call_token": "abc",
        "note": 'a<b & "c"',
    }
    assert "a&lt;b &amp;" in xml  # escaped by the builder


def test_connect_stream_refuses_anything_but_wss():
    with pytest.raises(ValueError):
        twiml.connect_stream(
            stream_url="ws://x/ws/twilio-media",
            action_url="https://x/a",
            status_callback_url="https://x/s",
            parameters={},
        )


def test_voicemail_says_the_message_records_and_hangs_up():
    root = parse(
        twiml.voicemail(
            record_action_url="https://x/webhook/handle_recording",
            recording_status_url="https://x/webhook/recording_status",
            message="השאירו הודעה",
        )
    )
    say, record, thanks, hangup = list(root)
    assert (say.tag, say.text, say.get("language"), say.get("voice")) == (
        "Say",
        "השאירו הודעה",
        "he-IL",
        "Google.he-IL-Standard-A",
    )
    assert record.tag == "Record"
    assert record.attrib == {
        "action": "https://x/webhook/handle_recording",
        "method": "POST",
        "recordingStatusCallback": "https://x/webhook/recording_status",
        "recordingStatusCallbackMethod": "POST",
        "recordingStatusCallbackEvent": "completed",
        "maxLength": "120",
        "timeout": "5",
        "finishOnKey": "#",
        "playBeep": "true",
    }
    assert thanks.tag == "Say" and thanks.get("language") == "he-IL" and thanks.text
    assert hangup.tag == "Hangup"


def test_voicemail_plays_uploaded_audio_instead_of_the_text():
    root = parse(
        twiml.voicemail(
            record_action_url="https://x/a",
            recording_status_url="https://x/b",
            message="text",
            audio_url="https://x/audio.mp3?sig=1&x=2",
        )
    )
    assert root[0].tag == "Play" and root[0].text == "https://x/audio.mp3?sig=1&x=2"
    assert [el.tag for el in root] == ["Play", "Record", "Say", "Hangup"]


def test_hangup_and_thanks():
    assert [el.tag for el in parse(twiml.hangup())] == ["Hangup"]
    root = parse(twiml.thanks_and_hangup())
    assert [el.tag for el in root] == ["Say", "Hangup"] and root[0].get("language") == "he-IL"
