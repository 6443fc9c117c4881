"""TwiML answers, built with Twilio's own builder so every value is XML-escaped.

Twilio refuses TwiML (error 12100) unless the body starts with ``<?xml`` and is served with an XML
content type; every URL passed in here is absolute (``https://`` for callbacks, ``wss://`` for streams).
"""

from __future__ import annotations

from collections.abc import Mapping

# twilio ships no type hints: what its builder returns is annotated where we return it.
from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

CONTENT_TYPE = "text/xml; charset=utf-8"
HEBREW = "he-IL"
HEBREW_VOICE = "Google.he-IL-Standard-A"  # a Twilio <Say> voice that speaks Hebrew
THANKS = "תודה, ההודעה שלכם התקבלה. נחזור אליכם בהקדם. להתראות."
GOODBYE = "תודה שהתקשרתם. להתראות."
RECORD_MAX_SECONDS = 120
RECORD_SILENCE_TIMEOUT = 5


def connect_stream(
    *,
    stream_url: str,
    action_url: str,
    status_callback_url: str,
    parameters: Mapping[str, str],
) -> str:
    """``<Connect action><Stream url statusCallback><Parameter .../>`` : a bidirectional media stream.
    Query strings on the stream URL are dropped by Twilio, so everything goes in ``parameters``."""
    if not stream_url.startswith("wss://"):
        raise ValueError("Twilio connects media streams over wss:// only")
    response = VoiceResponse()
    connect = Connect(action=action_url, method="POST")
    stream = connect.stream(url=stream_url, status_callback=status_callback_url, status_callback_method="POST")
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    xml: str = response.to_xml()
    return xml


def voicemail(
    *,
    record_action_url: str,
    recording_status_url: str,
    message: str = "",
    audio_url: str = "",
    thanks: str = GOODBYE,
) -> str:
    """The business's fallback message (uploaded audio, else spoken text), then a recorded message,
    then thanks and hang-up (reached when the caller says nothing: <Record> goes to its action otherwise)."""
    response = VoiceResponse()
    if audio_url:
        response.play(audio_url)
    elif message:
        response.say(message, language=HEBREW, voice=HEBREW_VOICE)
    response.record(
        action=record_action_url,
        method="POST",
        recording_status_callback=recording_status_url,
        recording_status_callback_method="POST",
        recording_status_callback_event="completed",
        max_length=RECORD_MAX_SECONDS,
        timeout=RECORD_SILENCE_TIMEOUT,
        finish_on_key="#",
        play_beep=True,
    )
    response.say(thanks, language=HEBREW, voice=HEBREW_VOICE)
    response.hangup()
    xml: str = response.to_xml()
    return xml


def dial(
    *,
    number: str,
    action_url: str,
    timeout_s: int,
    caller_id: str = "",
    recording_status_url: str = "",
) -> str:
    """``<Dial action timeout callerId record><Number>`` : ring a person; when their leg ends Twilio asks
    ``action_url`` (DialCallStatus, DialCallDuration) what the caller gets next. ``recording_status_url``
    set: the bridged call is recorded (both parties, one channel each) and reported there."""
    if not number.startswith("+"):
        raise ValueError("dial an E.164 number (+...)")
    response = VoiceResponse()
    options: dict[str, object] = {"action": action_url, "method": "POST", "timeout": timeout_s}
    if caller_id:
        options["caller_id"] = caller_id
    if recording_status_url:
        options |= {
            "record": "record-from-answer-dual",
            "recording_status_callback": recording_status_url,
            "recording_status_callback_method": "POST",
            "recording_status_callback_event": "completed",
        }
    verb = Dial(**options)
    verb.number(number)
    response.append(verb)
    xml: str = response.to_xml()
    return xml


def hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    xml: str = response.to_xml()
    return xml


def thanks_and_hangup(text: str = THANKS) -> str:
    response = VoiceResponse()
    response.say(text, language=HEBREW, voice=HEBREW_VOICE)
    response.hangup()
    xml: str = response.to_xml()
    return xml
