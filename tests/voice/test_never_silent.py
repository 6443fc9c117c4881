"""Never silent while the caller waits, and keys collected, not replayed: real daphne, the real OpenAI
adapters, the OpenAI stand-in made slow or hung, and the simulator as Twilio's side of the call.

Silence is measured on what the caller heard (``TwilioSide`` places every frame at the media position
where it played), in media time, from our end-of-utterance decision (the caller's last audible frame plus
the business's end-of-utterance silence: the pause that gives them the turn) to the last thing we said.
The caller's side runs at real speed, as the server paces its audio by the wall clock.
"""

from __future__ import annotations

import itertools

import pytest

from tests.support.caller_audio import caller_says, silence
from tests.support.live import LiveServer
from tests.support.media_socket import stream_stopped
from tests.support.openai_standin import Reply
from tests.voice.test_ai_call import REPLY, TRANSCRIPT, ai_business, speech_seconds, stored
from voice.agent.config import AgentConfig
from voice.business_config import fill_business
from voice.simulator.client import CallOptions, CallSummary, pad_to_frames, simulate_call
from voice.simulator.silence import last_voiced_ms, longest_silence_ms

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

MAX_SILENCE_MS = 1600
TOTAL_DEADLINE_S = 7.0  # VOICE_TOTAL_RESPONSE_DEADLINE_MS's default
KEYS = "0123456789" * 10
GREETING_MARGIN_S = 3.0  # the greeting starts late on a busy machine: never talk over it


async def call_and_wait(
    server: LiveServer, settings, tmp_path, greeting: str, tail_s: float
) -> tuple[CallSummary, int]:
    """The caller waits out the greeting, says ``TRANSCRIPT`` and stays on for ``tail_s``; returns the call
    and the media ms at which the caller started waiting for us."""
    lead = silence(round((speech_seconds(greeting) + GREETING_MARGIN_S) * 1000))
    speech = pad_to_frames(caller_says(TRANSCRIPT, tmp_path))
    options = CallOptions(
        base_url=server.url, auth_token=settings.TWILIO_AUTH_TOKEN, caller_audio=lead + speech, silence_s=tail_s
    )
    summary = await simulate_call(options)
    eou_ms = AgentConfig().eou_silence_ms
    return summary, len(lead) // 8 + last_voiced_ms(speech) + eou_ms


async def test_a_hung_llm_is_never_silence_it_ends_in_the_apology(ai_server, standin, settings, tmp_path):
    business = await ai_business()
    apology = AgentConfig().apology
    standin.transcriptions.append(Reply(text=TRANSCRIPT))
    standin.chat.append(Reply(hang=True))  # accepted, never answered

    tail_s = TOTAL_DEADLINE_S + speech_seconds(apology) + 3.0
    summary, waiting_from = await call_and_wait(
        ai_server, settings, tmp_path, fill_business(business.greeting, business), tail_s
    )

    silence_ms = longest_silence_ms(summary.agent_audio, waiting_from)
    print(f"\nhung LLM: longest silence while waiting {silence_ms} ms")
    assert silence_ms < MAX_SILENCE_MS
    assert summary.protocol_errors == [] and summary.clears == 0
    assert len(standin.abandoned) == 1  # we closed the hung request, not the stand-in
    assert len(standin.requests_to("/v1/chat/completions")) == 1

    await stream_stopped(summary.call_sid)
    data = await stored(summary.call_sid)
    assert [(u.speaker, u.text) for u in data.utterances] == [
        ("agent", fill_business(business.greeting, business)),
        ("caller", TRANSCRIPT),
        ("agent", apology),
    ]
    fillers = [p for k, p in data.events if k == "filler"]
    assert len(fillers) >= 2 and {f["reason"] for f in fillers} == {"llm_slow"}
    texts = [f["text"] for f in fillers]
    assert all(a != b for a, b in itertools.pairwise(texts))
    assert [p for k, p in data.events if k == "error"] == [{"role": "llm", "message": "no answer within 7 s"}]
    kinds = data.kinds()
    assert kinds.index("filler") < kinds.index("error")
    assert data.call.status == "completed"


async def test_a_slow_first_token_gets_a_filler_then_the_reply(ai_server, standin, settings, tmp_path):
    business = await ai_business()
    standin.transcriptions.append(Reply(text=TRANSCRIPT))
    standin.chat.append(Reply(text=REPLY, first_chunk_delay_s=3.0))

    tail_s = 3.0 + speech_seconds(REPLY) + 3.0
    summary, waiting_from = await call_and_wait(
        ai_server, settings, tmp_path, fill_business(business.greeting, business), tail_s
    )

    silence_ms = longest_silence_ms(summary.agent_audio, waiting_from)
    print(f"\nslow first token (3 s): longest silence while waiting {silence_ms} ms")
    assert silence_ms < MAX_SILENCE_MS
    assert summary.protocol_errors == [] and summary.clears == 0

    await stream_stopped(summary.call_sid)
    data = await stored(summary.call_sid)
    # The filler is an event, not a line of the transcript: the reply's row is the reply.
    assert [(u.speaker, u.text) for u in data.utterances] == [
        ("agent", fill_business(business.greeting, business)),
        ("caller", TRANSCRIPT),
        ("agent", REPLY),
    ]
    assert data.utterances[2].heard_text == REPLY
    fillers = [p for k, p in data.events if k == "filler"]
    assert fillers and fillers[0]["reason"] == "llm_slow"
    kinds = data.kinds()
    assert kinds.index("filler") < kinds.index("turn")
    assert "error" not in kinds
    # What the model saw next time would not include the filler either: its request had only the turn.
    (chat,) = standin.requests_to("/v1/chat/completions")
    assert [m["role"] for m in chat.json["messages"]] == ["system", "assistant", "user"]


async def test_a_hundred_keys_make_a_handful_of_llm_requests(ai_server, standin, settings, tmp_path):
    business = await ai_business()
    standin.chat_default = Reply(text="בסדר.")
    lead = silence(round((speech_seconds(fill_business(business.greeting, business)) + GREETING_MARGIN_S) * 1000))
    options = CallOptions(
        base_url=ai_server.url,
        auth_token=settings.TWILIO_AUTH_TOKEN,
        caller_audio=lead,
        dtmf=KEYS,  # pressed at once, right after the greeting
        silence_s=2.0 + 4 * (speech_seconds("בסדר.") + 1.0) + 2.0,
    )

    summary = await simulate_call(options)

    assert summary.dtmf_sent == 100 and summary.protocol_errors == []
    requests = standin.requests_to("/v1/chat/completions")
    print(f"\n100 DTMF keys: {len(requests)} LLM requests, {summary.clears} clears")
    assert 1 <= len(requests) <= 4
    assert summary.clears <= 1
    await stream_stopped(summary.call_sid)
    data = await stored(summary.call_sid)
    assert [p["digit"] for k, p in data.events if k == "dtmf"] == list(KEYS)  # each key still on the timeline
