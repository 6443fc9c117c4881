"""A caller who pauses inside a sentence and goes on before their words are in, on a real call: daphne, the
real OpenAI adapters on the local stand-in (a slow recogniser), the simulator as Twilio. The agent drops
the answer it was making for the first part, hears the caller out and answers the whole sentence once."""

from __future__ import annotations

import pytest

from tests.support.caller_audio import caller_says, silence
from tests.support.media_socket import stream_stopped
from tests.support.openai_standin import Reply
from tests.voice.test_ai_call import ai_business, speech_seconds, stored
from voice.audio import wav
from voice.business_config import fill_business
from voice.simulator.client import CallOptions, pad_to_frames, simulate_call

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


async def test_a_caller_who_goes_on_before_their_words_are_in_is_answered_once(ai_server, standin, settings, tmp_path):
    business = await ai_business()
    greeting = fill_business(business.greeting, business)
    first, rest, answer = "אני רוצה לקבוע תור", "לשבוע הבא בבוקר", "בשמחה, יש תור ביום שני בתשע."
    standin.transcriptions.append(Reply(text=first, delay_s=3.0))  # still working when the caller goes on
    standin.transcriptions.append(Reply(text=f"{first} {rest}"))
    standin.chat.append(Reply(text=answer))
    lead = silence(round((speech_seconds(greeting) + 4.0) * 1000))  # the greeting plays out first
    said, more = pad_to_frames(caller_says(first, tmp_path)), pad_to_frames(caller_says(rest, tmp_path))
    audio = lead + said + silence(900) + more  # a pause the agent takes for the end of the sentence
    options = CallOptions(
        base_url=ai_server.url,
        auth_token=settings.TWILIO_AUTH_TOKEN,
        caller_audio=audio,
        speed=1.0,
        silence_s=speech_seconds(answer) + 4,
    )

    summary = await simulate_call(options)

    assert summary.protocol_errors == []
    await stream_stopped(summary.call_sid)
    data = await stored(summary.call_sid)
    assert [u.text for u in data.utterances if u.speaker == "caller"] == [f"{first} {rest}"]
    [caller] = [u for u in data.utterances if u.speaker == "caller"]
    assert caller.start_ms <= len(lead) / 8 + 300 and caller.end_ms >= (len(audio) - len(more)) / 8
    # The first part went to the recogniser and was dropped unanswered; the whole went once, both parts in it.
    first_upload, whole_upload = standin.requests_to("/v1/audio/transcriptions")
    first_samples, rate = wav.parse_wav(first_upload.files["file"][2])
    whole_samples, _ = wav.parse_wav(whole_upload.files["file"][2])
    assert (len(whole_samples) - len(first_samples)) / rate >= len(more) / 8000
    [chat] = standin.requests_to("/v1/chat/completions")
    assert chat.json["messages"][-1] == {"role": "user", "content": f"{first} {rest}"}
    assert [u.text for u in data.utterances if u.speaker == "agent"][-1] == answer
    assert summary.clears == 0 and "barge_in" not in data.kinds()
    [went_on] = [payload for kind, payload in data.events if kind == "went_on"]
    assert went_on["pause_ms"] >= 600  # the pause the agent had taken for the end
