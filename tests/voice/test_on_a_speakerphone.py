"""A caller on a speakerphone, on a real call: daphne, the real OpenAI adapters on the local stand-in, the
simulator as Twilio and as the caller's phone, whose line carries back what the caller hears (15 dB down,
120 ms late: the loudest echo issue 12 asks the agent to ignore). The agent's own voice coming back never
stops it, and the call's timeline says the line echoes; a caller who talks over it still stops it."""

from __future__ import annotations

import pytest

from tests.support.media_socket import stream_stopped
from tests.voice.test_ai_call import ai_business, speech_seconds, stored, voiced_ms
from tests.voice.test_talk_over import question_over_the_greeting, spoken
from voice.business_config import fill_business
from voice.simulator.client import CallOptions, Speakerphone, simulate_call

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


def on_speaker(server, settings, audio: bytes, *, then_s: float, noise_dbfs: float | None = None) -> CallOptions:
    # Real time (speed 1): the server paces its audio in wall time, and the echo follows what played.
    return CallOptions(
        base_url=server.url,
        auth_token=settings.TWILIO_AUTH_TOKEN,
        caller_audio=audio,
        speed=1.0,
        silence_s=then_s,
        speakerphone=Speakerphone(-15, delay_ms=120, noise_dbfs=noise_dbfs),
    )


# A line silent between words (the guard masks our echo by its loudness: what a canceller leaves of it would
# stand above the silence), and one with an ordinary hiss (the canceller takes our echo out).
@pytest.mark.parametrize("noise_dbfs", [None, -55.0])
async def test_the_agents_own_voice_coming_back_never_stops_it(ai_server, standin, settings, noise_dbfs):
    business = await ai_business()
    greeting = fill_business(business.greeting, business)
    then_s = speech_seconds(greeting) + 4

    summary = await simulate_call(on_speaker(ai_server, settings, b"", then_s=then_s, noise_dbfs=noise_dbfs))

    assert summary.protocol_errors == []
    assert summary.clears == 0  # never paused, let alone stopped
    # The whole greeting played (frames counted from wherever its audio starts: a few straddle the threshold).
    assert voiced_ms(summary.agent_audio) >= 0.9 * voiced_ms(spoken(greeting))
    await stream_stopped(summary.call_sid)
    data = await stored(summary.call_sid)
    assert not {"barge_in", "resumed"} & set(data.kinds())
    [echo] = [payload for kind, payload in data.events if kind == "line_echoes"]
    assert 60 <= echo["delay_ms"] <= 240  # 120 ms, as the guard lines it up with the pacer's estimate
    [agent] = [u for u in data.utterances if u.speaker == "agent"]
    assert agent.text == greeting and not agent.interrupted and agent.heard_text == greeting
    assert [u for u in data.utterances if u.speaker == "caller"] == []  # our echo was no one's words
    assert standin.requests_to("/v1/audio/transcriptions") == []


@pytest.mark.parametrize("playout_delay_ms", [300, 700])
async def test_where_twilio_plays_our_voice_late_it_is_still_known_for_ours(
    ai_server, standin, settings, playout_delay_ms
):
    """Twilio plays what we send 300 or 700 ms after it arrives (a slow network, a deep jitter buffer), so our
    echo comes back 420 or 820 ms after the pacer's estimate says it played, on a hissy speakerphone line. The
    greeting's first frame goes out with a mark, whose echo says how late Twilio plays: the guard lines the
    caller's audio up with ours by it, and finds the phone's own 120 ms. (Before, at 700 ms, the echo was beyond
    what the guard looked at: the agent paused on its own voice three times, and its echo became three of the
    caller's utterances.)"""
    business = await ai_business()
    greeting = fill_business(business.greeting, business)
    options = on_speaker(ai_server, settings, b"", then_s=speech_seconds(greeting) + 4, noise_dbfs=-55.0)
    options.playout_delay_ms = playout_delay_ms

    summary = await simulate_call(options)

    assert summary.protocol_errors == []
    assert summary.clears == 0  # never paused
    await stream_stopped(summary.call_sid)
    data = await stored(summary.call_sid)
    assert not {"barge_in", "resumed"} & set(data.kinds())
    [echo] = [payload for kind, payload in data.events if kind == "line_echoes"]
    assert 60 <= echo["delay_ms"] <= 240  # the phone's 120 ms: Twilio's delay is measured, not searched for
    [stopped] = [payload for kind, payload in data.events if kind == "stream_stopped"]
    assert playout_delay_ms - 40 <= stopped["played_late_ms"] <= playout_delay_ms + 100  # the call's own reading
    [agent] = [u for u in data.utterances if u.speaker == "agent"]
    assert agent.text == greeting and not agent.interrupted
    assert [u for u in data.utterances if u.speaker == "caller"] == []


@pytest.mark.parametrize("playout_delay_ms", [0, 700])
async def test_a_caller_on_a_speakerphone_who_talks_over_the_agent_still_stops_it(
    ai_server, standin, settings, tmp_path, playout_delay_ms
):
    asked = await question_over_the_greeting(standin, tmp_path)
    greeting, question, answer = asked.greeting, asked.question, asked.answer
    options = on_speaker(ai_server, settings, asked.audio, then_s=speech_seconds(answer) + 4)
    options.playout_delay_ms = playout_delay_ms

    summary = await simulate_call(options)

    assert summary.protocol_errors == []
    await stream_stopped(summary.call_sid)
    data = await stored(summary.call_sid)
    assert "barge_in" in data.kinds()
    greeting_row, reply_row = [u for u in data.utterances if u.speaker == "agent"]
    assert greeting_row.interrupted and greeting_row.heard_text != greeting
    assert (reply_row.text, reply_row.interrupted) == (answer, False)
    assert [u.text for u in data.utterances if u.speaker == "caller"] == [question]
