"""The Media Streams wire format, against Twilio's documented messages (tests/fixtures/twilio)."""

from __future__ import annotations

import base64
import json

import pytest

from tests.support.twilio_fixtures import fixture, fixture_text
from voice.twilio import messages
from voice.twilio.messages import MessageError

STREAM = "MZ0123456789abcdef0123456789abcdef"


def test_connected_parses():
    assert messages.parse(fixture_text("inbound", "connected")) == messages.Connected("Call", "1.0.0")


def test_start_carries_the_call_the_format_and_the_custom_parameters():
    start = messages.parse(fixture_text("inbound", "start"))
    assert isinstance(start, messages.Start)
    assert start.stream_sid == STREAM
    assert start.call_sid == "CA0123456789abcdef0123456789abcdef"
    assert start.account_sid == "AC0123456789abcdef0123456789abcdef"
    assert start.tracks == ["inbound"]
    assert start.media_format == messages.MediaFormat("audio/x-mulaw", 8000, 1)
    assert start.custom_parameters == {"call_token": "3f9c2b7e41d04a6c", "caller": "+972501234567"}
    assert start.sequence_number == 1


def test_media_decodes_the_payload_and_the_string_numbers():
    media = messages.parse(fixture_text("inbound", "media"))
    assert isinstance(media, messages.Media)
    assert media.stream_sid == STREAM
    assert media.payload == b"\xff" * 160
    assert (media.track, media.chunk, media.timestamp, media.sequence_number) == ("inbound", 1, 20, 2)


def test_dtmf_mark_and_stop_parse():
    assert messages.parse(fixture_text("inbound", "dtmf")) == messages.Dtmf(STREAM, "5", "inbound_track", 3)
    assert messages.parse(fixture_text("inbound", "mark")) == messages.Mark(STREAM, "turn-1-chunk-3", 4)
    stop = messages.parse(fixture_text("inbound", "stop"))
    assert stop == messages.Stop(STREAM, "CA0123456789abcdef0123456789abcdef", "AC0123456789abcdef0123456789abcdef", 5)


def test_bytes_input_is_accepted():
    assert isinstance(messages.parse(fixture_text("inbound", "media").encode()), messages.Media)


def _media_with(payload: str) -> str:
    data = fixture("inbound", "media")
    data["media"]["payload"] = payload
    return json.dumps(data)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_json"),
        ('{"event": "hello"}', "unknown_event"),
        ("{}", "unknown_event"),
        (_media_with("!!!not base64!!!"), "invalid_base64"),
        (_media_with("/w="), "invalid_base64"),  # bad padding: strict mode refuses it
        (_media_with(base64.b64encode(b"\xff" * 100).decode()), "bad_frame_size"),
        (_media_with(""), "bad_frame_size"),
        ('{"event": "media", "streamSid": "MZ1"}', "invalid_fields"),
        ('{"event": "start", "start": {}}', "invalid_fields"),
        ('{"event": "mark", "streamSid": "MZ1", "mark": {}}', "invalid_fields"),
        ('{"event": "dtmf", "streamSid": "MZ1"}', "invalid_fields"),
        ('{"event": "stop"}', "invalid_fields"),
        ('{"event": "connected", "pad": "' + "x" * (64 * 1024) + '"}', "oversized"),
    ],
)
def test_bad_input_raises_a_message_error_with_a_stable_reason(text, reason):
    with pytest.raises(MessageError) as raised:
        messages.parse(text)
    assert raised.value.reason == reason


def test_several_whole_frames_in_one_media_message_are_accepted():
    media = messages.parse(_media_with(base64.b64encode(b"\x7f" * 480).decode()))
    assert media.payload == b"\x7f" * 480


def test_frame_size_is_not_enforced_when_asked_not_to():
    media = messages.parse(_media_with(base64.b64encode(b"\x7f" * 100).decode()), whole_frames=False)
    assert len(media.payload) == 100


def test_outbound_media_matches_twilios_example():
    expected = fixture("outbound", "media")
    payload = base64.b64decode(expected["media"]["payload"])
    assert json.loads(messages.build_media(STREAM, payload)) == expected


def test_outbound_mark_and_clear_match_twilios_examples():
    assert json.loads(messages.build_mark(STREAM, "turn-1-chunk-3")) == fixture("outbound", "mark")
    assert json.loads(messages.build_clear(STREAM)) == fixture("outbound", "clear")


def test_outbound_media_must_be_whole_frames():
    with pytest.raises(ValueError):
        messages.build_media(STREAM, b"\xff" * 100)
    with pytest.raises(ValueError):
        messages.build_media(STREAM, b"")


def test_outbound_strings_are_json_escaped():
    text = messages.build_mark('MZ"x', 'מרק "1"')
    assert json.loads(text) == {"event": "mark", "streamSid": 'MZ"x', "mark": {"name": 'מרק "1"'}}


def test_what_a_server_sends_parses_back_for_the_simulator():
    payload = bytes(range(160))
    assert messages.parse_outbound(messages.build_media(STREAM, payload)) == messages.Outbound(
        "media", STREAM, payload=payload
    )
    assert messages.parse_outbound(messages.build_mark(STREAM, "m1")).name == "m1"
    assert messages.parse_outbound(messages.build_clear(STREAM)).event == "clear"
    with pytest.raises(MessageError) as raised:
        messages.parse_outbound('{"event": "start", "streamSid": "MZ1"}')
    assert raised.value.reason == "unknown_event"


def test_inbound_messages_built_for_the_simulator_parse_as_twilios():
    media = messages.parse(messages.build_inbound_media(STREAM, b"\x01" * 160, chunk=3, sequence_number=4))
    assert media == messages.Media(STREAM, b"\x01" * 160, "inbound", 3, 40, 4)
    start = messages.parse(
        messages.build_start(stream_sid=STREAM, call_sid="CA1", account_sid="AC1", custom_parameters={"a": "b"})
    )
    assert (start.call_sid, start.custom_parameters) == ("CA1", {"a": "b"})
    assert messages.parse(messages.build_dtmf(STREAM, "7", sequence_number=9)).digit == "7"
    assert messages.parse(messages.build_inbound_mark(STREAM, "m", sequence_number=2)).name == "m"
    stop = messages.parse(messages.build_stop(STREAM, call_sid="CA1", account_sid="AC1", sequence_number=5))
    assert stop.call_sid == "CA1"
    assert isinstance(messages.parse(messages.build_connected()), messages.Connected)
