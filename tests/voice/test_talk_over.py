"""A caller talking over the agent on a real call: daphne, the real OpenAI adapters on the local stand-in,
the simulator as Twilio (it plays the agent's audio, honours ``clear`` and echoes marks as they play).
A "כן, כן" over the greeting pauses it, and the greeting goes on from where it stopped; a question over
it stops it for good and is answered."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tests.support.caller_audio import caller_says, silence
from tests.support.media_socket import stream_stopped
from tests.support.openai_standin import SPEECH_RATE, Reply, hebrew_speech_pcm
from tests.voice.test_ai_call import ai_business, speech_seconds, stored, voiced_ms
from voice.agent.sentences import split_sentences
from voice.audio import mulaw
from voice.audio.resample import resample
from voice.business_config import fill_business
from voice.simulator.client import CallOptions, pad_to_frames, simulate_call

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

OVER_THE_GREETING_MS = 1500  # the caller starts talking this far into the greeting


def spoken(text: str) -> bytes:
    """What the agent sends for ``text``: the stand-in's speech, sentence by sentence, at 8 kHz mu-law."""
    pcm = [np.frombuffer(hebrew_speech_pcm(sentence), dtype="<i2") for sentence in split_sentences(text)]
    return b"".join(mulaw.encode(resample(p, SPEECH_RATE, 8000)) for p in pcm)


def options(server, settings, audio: bytes, *, then_s: float) -> CallOptions:
    # Real time (speed 1): the server paces its audio in wall time, and the caller talks over it.
    return CallOptions(
        base_url=server.url, auth_token=settings.TWILIO_AUTH_TOKEN, caller_audio=audio, speed=1.0, silence_s=then_s
    )


async def test_a_yes_over_the_greeting_pauses_it_and_the_greeting_goes_on(ai_server, standin, settings, tmp_path):
    business = await ai_business()
    greeting = fill_business(business.greeting, business)
    standin.transcriptions.append(Reply(text="כן, כן"))
    yes = pad_to_frames(caller_says("כן כן", tmp_path))
    audio = silence(OVER_THE_GREETING_MS) + yes

    summary = await simulate_call(options(ai_server, settings, audio, then_s=speech_seconds(greeting) + 3))

    assert summary.protocol_errors == []
    assert summary.clears == 1  # the pause
    # All of the greeting reached the caller: what played after the pause is what had not played before.
    assert voiced_ms(summary.agent_audio) >= voiced_ms(spoken(greeting)) - 60
    await stream_stopped(summary.call_sid)
    data = await stored(summary.call_sid)
    [resumed] = [payload for kind, payload in data.events if kind == "resumed"]
    assert resumed["text"] == "כן, כן" and resumed["paused_ms"] > 0
    assert "barge_in" not in data.kinds()
    [agent] = [u for u in data.utterances if u.speaker == "agent"]
    assert agent.text == greeting and not agent.interrupted and agent.heard_text == greeting
    assert [u.text for u in data.utterances if u.speaker == "caller"] == ["כן, כן"]  # in the transcript...
    assert standin.requests_to("/v1/chat/completions") == []  # ...and nothing to answer


@dataclass
class QuestionOverTheGreeting:
    """A caller who asks a question into the greeting, and what the stand-in hears and answers."""

    greeting: str
    question: str
    answer: str
    audio: bytes  # the caller's side: silence, then the question OVER_THE_GREETING_MS into the greeting


async def question_over_the_greeting(standin, tmp_path) -> QuestionOverTheGreeting:
    business = await ai_business()
    question, answer = "רגע, כמה זה עולה", "המחיר מתחיל ממאתיים שקלים."
    standin.transcriptions.append(Reply(text=question))
    standin.chat.append(Reply(text=answer))
    audio = silence(OVER_THE_GREETING_MS) + pad_to_frames(caller_says(question, tmp_path))
    return QuestionOverTheGreeting(fill_business(business.greeting, business), question, answer, audio)


async def test_a_question_over_the_greeting_stops_it_and_is_answered(ai_server, standin, settings, tmp_path):
    asked = await question_over_the_greeting(standin, tmp_path)
    greeting, question, answer, audio = asked.greeting, asked.question, asked.answer, asked.audio

    summary = await simulate_call(options(ai_server, settings, audio, then_s=speech_seconds(answer) + 4))

    assert summary.protocol_errors == []
    assert summary.clears == 1  # the pause, which became the barge-in: no second clear
    await stream_stopped(summary.call_sid)
    data = await stored(summary.call_sid)
    [barge_in] = [payload for kind, payload in data.events if kind == "barge_in"]
    assert "resumed" not in data.kinds()
    greeting_row, reply_row = [u for u in data.utterances if u.speaker == "agent"]
    assert greeting_row.interrupted and greeting.startswith(greeting_row.heard_text)
    assert greeting_row.heard_text != greeting and barge_in["heard_text"] == greeting_row.heard_text
    assert (reply_row.text, reply_row.interrupted) == (answer, False)
    assert [u.text for u in data.utterances if u.speaker == "caller"] == [question]
    # The recogniser was asked once for the question: the paused agent's check and the answer shared it.
    assert len(standin.requests_to("/v1/audio/transcriptions")) == 1
    [chat] = standin.requests_to("/v1/chat/completions")
    assert chat.json["messages"][-2:] == [
        {"role": "assistant", "content": greeting_row.heard_text},
        {"role": "user", "content": question},
    ]
