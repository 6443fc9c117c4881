"""OpenAI adapters, driven through the real ``openai`` SDK against a local HTTP stand-in."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.support.openai_standin import OpenAIStandin, Reply
from voice.audio import mulaw
from voice.audio.wav import write_wav
from voice.providers.base import ProviderError, TextDelta, ToolCall, ToolSpec
from voice.providers.openai_api import OpenAIASR, OpenAILLM, OpenAITTS

KEY = "sk-test-standin"
SAVE_LEAD = ToolSpec(
    name="save_lead",
    description="Store the caller's details",
    parameters={"type": "object", "properties": {"name": {"type": "string"}, "phone": {"type": "string"}}},
)
END_CALL = ToolSpec(name="end_call", description="Hang up politely", parameters={"type": "object"})
MESSAGES = [{"role": "system", "content": "ענה בעברית"}, {"role": "user", "content": "שלום"}]


@pytest.fixture
def standin():
    with OpenAIStandin() as server:
        yield server


def tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 300 * t) * 8000).astype(np.int16)


def llm_for(standin: OpenAIStandin, **kwargs) -> OpenAILLM:
    return OpenAILLM(api_key=KEY, base_url=standin.base_url, model="gpt-test", max_retries=0, **kwargs)


async def events_of(llm: OpenAILLM, tools: list[ToolSpec]) -> list:
    return [event async for event in llm.stream_reply(MESSAGES, tools)]


async def test_streamed_reply_gives_text_then_whole_tool_calls(standin):
    standin.chat.append(
        Reply(
            text="תודה דנה, רשמתי את הפרטים.",
            tool_calls=[("save_lead", {"name": "דנה", "phone": "050-1234567"}), ("end_call", {})],
        )
    )
    events = await events_of(llm_for(standin), [SAVE_LEAD, END_CALL])
    texts = [e for e in events if isinstance(e, TextDelta)]
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert len(texts) > 1  # streamed, not one block
    assert "".join(t.text for t in texts) == "תודה דנה, רשמתי את הפרטים."
    assert calls == [
        ToolCall(id="call_0_save_lead", name="save_lead", arguments={"name": "דנה", "phone": "050-1234567"}),
        ToolCall(id="call_1_end_call", name="end_call", arguments={}),
    ]
    assert isinstance(events[-1], ToolCall) and isinstance(events[0], TextDelta)


async def test_chat_request_carries_model_messages_tools_and_key(standin):
    await events_of(llm_for(standin), [SAVE_LEAD])
    (request,) = standin.requests_to("/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json["model"] == "gpt-test"
    assert request.json["stream"] is True
    assert request.json["messages"] == MESSAGES
    assert request.json["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "save_lead",
                "description": SAVE_LEAD.description,
                "parameters": SAVE_LEAD.parameters,
            },
        }
    ]


async def test_no_tools_means_no_tools_field(standin):
    events = await events_of(llm_for(standin), [])
    assert "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "tools" not in standin.requests_to("/v1/chat/completions")[0].json


async def test_text_arrives_before_the_stream_ends(standin):
    standin.chat.append(Reply(text="אחת שתיים שלוש ארבע חמש", chunk_delay_s=0.1))
    started = time.monotonic()
    arrivals = [time.monotonic() - started async for _ in llm_for(standin).stream_reply(MESSAGES, [])]
    assert arrivals[0] < arrivals[-1] - 0.3


async def test_tool_arguments_that_are_not_json_are_a_provider_error(standin):
    standin.chat.append(Reply(tool_calls=[("save_lead", '{"name": "דנ')]))
    with pytest.raises(ProviderError, match="save_lead"):
        await events_of(llm_for(standin), [SAVE_LEAD])


async def test_server_error_is_a_provider_error(standin):
    standin.chat.append(Reply(status=500))
    with pytest.raises(ProviderError, match="500"):
        await events_of(llm_for(standin), [])


async def test_a_silent_server_times_out_as_a_provider_error(standin):
    standin.chat.append(Reply(delay_s=2.0))
    started = time.monotonic()
    with pytest.raises(ProviderError):
        await events_of(llm_for(standin, timeout_s=0.3), [])
    assert time.monotonic() - started < 1.5


async def test_complete_returns_the_whole_answer(standin):
    standin.chat.append(Reply(text="  הלקוחה דנה מתעניינת בדירת 4 חדרים.  "))
    assert await llm_for(standin).complete(MESSAGES) == "הלקוחה דנה מתעניינת בדירת 4 חדרים."
    assert not standin.requests_to("/v1/chat/completions")[0].json.get("stream")


async def test_complete_failure_is_a_provider_error(standin):
    standin.chat.append(Reply(status=503))
    with pytest.raises(ProviderError):
        await llm_for(standin).complete(MESSAGES)


def asr_for(standin: OpenAIStandin, **kwargs) -> OpenAIASR:
    return OpenAIASR(api_key=KEY, base_url=standin.base_url, max_retries=0, **kwargs)


async def test_utterance_is_sent_as_8k_wav_in_hebrew(standin):
    standin.transcriptions.append(Reply(text=" אני מחפש דירה "))
    transcriber = asr_for(standin, model="whisper-test").new_transcriber("he-IL")
    await transcriber.push_audio(b"\xff" * 160)  # ignored: batch recognition
    assert await transcriber.end_of_utterance(mulaw.encode(tone(0.5, 8000))) == "אני מחפש דירה"
    await transcriber.close()
    (request,) = standin.requests_to("/v1/audio/transcriptions")
    assert request.fields["language"] == "he"
    assert request.fields["model"] == "whisper-test"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.wav_info() == (8000, 1, 2)
    assert len(request.files["file"][2]) == 44 + 2 * 4000


async def test_empty_utterance_costs_no_request(standin):
    assert await asr_for(standin).new_transcriber("he-IL").end_of_utterance(b"") == ""
    assert standin.requests == []


async def test_voicemail_file_is_transcribed_as_is(standin):
    standin.transcriptions.append(Reply(text="תחזרו אליי מחר"))
    wav = write_wav(tone(1.0, 8000))
    assert await asr_for(standin).transcribe(wav, content_type="audio/wav", language="he-IL") == "תחזרו אליי מחר"
    request = standin.requests_to("/v1/audio/transcriptions")[0]
    assert request.files["file"][2] == wav
    assert request.fields["language"] == "he"


async def test_transcription_failure_is_a_provider_error(standin):
    standin.transcriptions.append(Reply(status=500))
    with pytest.raises(ProviderError):
        await asr_for(standin).new_transcriber("he-IL").end_of_utterance(b"\x10" * 800)


def tts_for(standin: OpenAIStandin, **kwargs) -> OpenAITTS:
    return OpenAITTS(api_key=KEY, base_url=standin.base_url, max_retries=0, **kwargs)


async def test_speech_is_streamed_as_8k_mulaw(standin):
    standin.speech.append(Reply(pcm=tone(1.0, 24_000).astype("<i2").tobytes()))
    chunks = [c async for c in tts_for(standin).synthesize("שלום", voice="he-IL-Wavenet-A", language="he-IL")]
    audio = b"".join(chunks)
    assert len(chunks) > 2  # resampled as it arrived, not after the whole body
    assert abs(len(audio) - 8000) <= 16  # 24 kHz -> 8 kHz, one byte per sample
    # It is the same tone: decoded, its energy matches the 8000-amplitude sine.
    rms = np.sqrt(np.mean(mulaw.decode(audio[100:-100]).astype(np.float64) ** 2))
    assert 5000 < rms < 6300


async def test_speech_request_asks_pcm_with_an_openai_voice(standin):
    tts = tts_for(standin, voice="nova", model="tts-test")
    async for _ in tts.synthesize("שלום", voice="he-IL-Wavenet-A", language="he-IL"):
        pass
    async for _ in tts.synthesize("שלום", voice="shimmer", language="he-IL"):
        pass
    first, second = (r.json for r in standin.requests_to("/v1/audio/speech"))
    assert first == {"model": "tts-test", "voice": "nova", "input": "שלום", "response_format": "pcm"}
    assert second["voice"] == "shimmer"


async def test_speech_failure_is_a_provider_error(standin):
    standin.speech.append(Reply(status=500))
    with pytest.raises(ProviderError):
        async for _ in tts_for(standin).synthesize("שלום", voice="alloy", language="he-IL"):
            pass
