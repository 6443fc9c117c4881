import pytest

from voice.providers.base import ProviderError, TextDelta, ToolCall
from voice.providers.fake import FakeASR, FakeLLM, FakeReply, FakeTTS


async def collect(stream):
    return [item async for item in stream]


async def test_asr_returns_the_script_in_order_then_the_default():
    asr = FakeASR(["שלום", ProviderError("down")], default="")
    transcriber = asr.new_transcriber("he-IL")
    await transcriber.push_audio(b"\xff" * 160)
    assert await transcriber.end_of_utterance(b"\x01" * 800) == "שלום"
    with pytest.raises(ProviderError):
        await transcriber.end_of_utterance(b"")
    assert await transcriber.end_of_utterance(b"") == ""
    assert asr.utterances[0] == b"\x01" * 800
    assert transcriber.frames == 1


async def test_llm_streams_text_in_chunks_then_tool_calls():
    call = ToolCall("c1", "add_note", {"note": "x"})
    llm = FakeLLM([FakeReply(text="שלום לכם.", tool_calls=[call])], chunk_chars=4)
    events = await collect(llm.stream_reply([{"role": "user", "content": "היי"}], []))
    assert events == [TextDelta("שלום"), TextDelta(" לכם"), TextDelta("."), call]
    assert llm.calls == [[{"role": "user", "content": "היי"}]]
    # After the script: the default reply.
    assert "".join(e.text for e in await collect(llm.stream_reply([], []))) == "בסדר."


async def test_llm_can_fail_midway():
    llm = FakeLLM([FakeReply(text="חצי", fail="model overloaded")])
    stream = llm.stream_reply([], [])
    assert await anext(stream) == TextDelta("חצי")
    with pytest.raises(ProviderError, match="overloaded"):
        await anext(stream)


async def test_tts_gives_about_60_ms_of_audio_per_character_capped():
    tts = FakeTTS(chunk_ms=100, max_ms=1000)
    chunks = await collect(tts.synthesize("שלום", voice="v", language="he-IL"))
    assert sum(map(len, chunks)) == 4 * 60 * 8
    assert [len(c) for c in chunks] == [800, 800, 320]
    long = await collect(tts.synthesize("א" * 100, voice="v", language="he-IL"))
    assert sum(map(len, long)) == 8000
    assert tts.texts == ["שלום", "א" * 100]


async def test_tts_fails_the_next_n_calls():
    tts = FakeTTS(fail_times=1, fail_after_chunks=1, chunk_ms=20)
    stream = tts.synthesize("שלום", voice="v", language="he-IL")
    assert len(await anext(stream)) == 160
    with pytest.raises(ProviderError):
        await anext(stream)
    assert await collect(tts.synthesize("שלום", voice="v", language="he-IL"))


async def test_tts_says_the_speech_it_was_given_from_its_start_each_time_and_wraps_round():
    speech = bytes(range(256)) * 5  # 1,280 bytes: 160 ms
    tts = FakeTTS(chunk_ms=100, speech=speech)
    first = b"".join(await collect(tts.synthesize("שלום", voice="v", language="he-IL")))  # 240 ms
    assert first == speech + speech[: 4 * 60 * 8 - len(speech)]
    again = b"".join(await collect(tts.synthesize("כן", voice="v", language="he-IL")))
    assert again == speech[: 2 * 60 * 8]


def test_tts_refuses_empty_speech():
    with pytest.raises(ValueError, match="empty"):
        FakeTTS(speech=b"")
