"""Never silent while the caller waits: fillers after ``first_ms`` of silence, the apology after
``total_ms`` without an answer, a hung provider cancelled. Time is a manual clock; providers are held at a
gate the test opens (or never opens: a hung provider)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.support.agent_doubles import ManualClock, until
from tests.support.caller_audio import silence, voiced
from tests.voice.agent.calls import CONFIG
from voice.agent.ready_audio import ReadyAudio
from voice.agent.sentences import split_sentences
from voice.agent.waiting import Fillers, ResponseDeadlines
from voice.providers.fake import FakeASR, FakeLLM, FakeTTS

REPLY = "התשובה שלי."


class GatedLLM(FakeLLM):
    """Answers only once ``gate`` is open; counts the streams cancelled while waiting at it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()
        self.cancelled = 0

    async def stream_reply(self, messages, tools):
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        async for event in super().stream_reply(messages, tools):
            yield event


class GatedTTS(FakeTTS):
    """Holds the texts in ``gated`` at a gate that never opens (a hung TTS); says the others."""

    def __init__(self, gated: set[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.gated = gated
        self.cancelled = 0

    async def synthesize(self, text, *, voice, language):
        if text in self.gated:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        async for chunk in super().synthesize(text, voice=voice, language=language):
            yield chunk


async def waiting_call(call, *, ready: bool = True, **options):
    """A greeted call on a manual clock with the default deadlines and (unless told) ready audio made by
    an offline voice of its own."""
    clock = ManualClock()
    offline = FakeTTS(name="offline")
    audio = ReadyAudio([("fallback_tts", offline)]) if ready else None
    options.setdefault("asr", FakeASR(["שאלה"]))
    c = call(clock=clock, deadlines=ResponseDeadlines(), ready=audio, **options)
    await c.session.start()
    await c.quiet()
    if audio is not None:
        await audio.wait()  # made while the greeting played
    # FakeTwilio echoed the greeting's marks at once; by the clock it is still playing. Let it end.
    await clock.advance(c.session.pacer.buffered_ms() / 1000 + 0.1)
    return c, clock


async def ask(c, clock) -> None:
    """The caller speaks; returns once the answer is being waited for."""
    await c.feed(voiced(600) + silence(800))
    await until(lambda: c.session.busy, clock=clock)


async def test_a_slow_first_token_gets_a_filler_then_the_reply(call):
    llm = GatedLLM([REPLY])
    c, clock = await waiting_call(call, llm=llm)
    await ask(c, clock)
    frames_before = c.twilio.frames
    await clock.advance(1.1)
    assert c.crm.payloads("filler") == [] and c.twilio.frames == frames_before
    await clock.advance(0.2)
    assert c.crm.payloads("filler") == [{"reason": "llm_slow", "text": CONFIG.fillers[0], "number": 1}]
    assert c.twilio.frames > frames_before  # it is playing

    llm.gate.set()
    await until(lambda: len(c.agent()) == 2, clock=clock)
    await c.quiet()
    # The filler played before the reply, and is no part of it: not in its transcript, not in the history.
    assert c.twilio.marks.index("f1") < c.twilio.marks.index("t2-s1")
    assert [u.text for u in c.agent()] == [CONFIG.greeting, REPLY]
    assert c.agent()[-1].heard_text == REPLY
    assert c.session.history[-1] == {"role": "assistant", "content": REPLY}
    assert "error" not in c.crm.kinds() and c.twilio.clears == 0


async def test_a_hung_llm_is_cancelled_and_the_caller_hears_fillers_then_the_apology(call):
    llm = GatedLLM()
    c, clock = await waiting_call(call, llm=llm)
    await ask(c, clock)
    await until(lambda: "error" in c.crm.kinds(), clock=clock, within=10)
    fillers = c.crm.payloads("filler")
    assert 2 <= len(fillers) <= ResponseDeadlines().max_fillers
    assert {f["reason"] for f in fillers} == {"llm_slow"}
    texts = [f["text"] for f in fillers]
    assert all(a != b for a, b in itertools.pairwise(texts))  # never the same twice in a row
    assert c.crm.payloads("error") == [{"role": "llm", "message": "no answer within 7 s"}]
    assert llm.cancelled == 1  # the hung request was closed, not awaited

    await until(lambda: len(c.agent()) == 2, clock=clock)
    await c.quiet()
    assert c.agent()[-1].text == CONFIG.apology  # in the live voice: it answered within the budget
    assert c.tts.texts[-2:] == ["סליחה, הייתה לי תקלה קטנה.", "אפשר לחזור על זה?"]
    assert c.crm.ended == []  # one failure: apologise and keep listening


async def test_a_hung_tts_is_cancelled_and_the_ready_apology_plays(call):
    tts = GatedTTS({REPLY})
    c, clock = await waiting_call(call, llm=FakeLLM([REPLY]), tts=tts)
    await ask(c, clock)
    await until(lambda: "error" in c.crm.kinds(), clock=clock, within=10)
    assert {f["reason"] for f in c.crm.payloads("filler")} == {"tts_slow"}
    assert c.crm.payloads("error") == [{"role": "tts", "message": "no answer within 7 s"}]
    assert tts.cancelled == 1

    await until(lambda: len(c.agent()) == 2, clock=clock)
    assert c.agent()[-1].text == CONFIG.apology
    assert {"role": "tts", "text": CONFIG.apology, "ready": True} in c.crm.payloads("fallback")
    assert CONFIG.apology not in " ".join(tts.texts)  # never asked of the voice that hung


async def test_a_slow_recogniser_gets_a_filler_too(call):
    c, clock = await waiting_call(call, asr=FakeASR(["שאלה"], delay=0.05))  # real seconds: the clock stands
    await c.feed(voiced(600) + silence(800))
    await clock.advance(1.3)
    assert [f["reason"] for f in c.crm.payloads("filler")] == ["asr_slow"]
    await until(lambda: len(c.agent()) == 2, clock=clock)


async def test_without_ready_audio_the_total_deadline_still_ends_the_wait(call):
    c, clock = await waiting_call(call, llm=GatedLLM(), ready=False)
    await ask(c, clock)
    await clock.advance(6.9)
    assert c.crm.kinds().count("error") == 0 and c.crm.payloads("filler") == []
    await until(lambda: len(c.agent()) == 2, clock=clock)
    assert c.crm.payloads("error") == [{"role": "llm", "message": "no answer within 7 s"}]
    assert c.agent()[-1].text == CONFIG.apology


async def test_a_live_apology_that_does_not_come_in_time_gives_way_to_the_ready_one(call):
    apology_sentences = {"סליחה, הייתה לי תקלה קטנה.", "אפשר לחזור על זה?"}
    tts = GatedTTS(apology_sentences)
    c, clock = await waiting_call(call, llm=GatedLLM(), tts=tts)
    await ask(c, clock)
    await until(lambda: len(c.agent()) == 2, clock=clock, within=10)
    errors = c.crm.payloads("error")
    assert errors[0] == {"role": "llm", "message": "no answer within 7 s"}
    assert errors[1]["role"] == "tts" and errors[1]["message"].startswith("no audio within")
    assert c.agent()[-1].text == CONFIG.apology
    assert tts.cancelled == 1


def test_fillers_take_turns_and_skip_what_is_not_ready():
    fillers = Fillers(["א", "ב", "ג"])
    assert [fillers.pick(lambda t: True) for _ in range(4)] == ["א", "ב", "ג", "א"]
    assert fillers.pick(lambda t: t == "ג") == "ג"
    assert fillers.pick(lambda t: t == "ג") is None  # the only one ready was just played
    assert Fillers(["א"]).pick(lambda t: False) is None


@pytest.mark.parametrize("deadlines", [{"first_ms": 0}, {"first_ms": 8000, "total_ms": 7000}, {"max_fillers": -1}])
def test_deadlines_that_make_no_sense_are_refused(deadlines):
    with pytest.raises(ValueError, match="first_ms < total_ms"):
        ResponseDeadlines(**deadlines)


async def test_a_greeting_the_first_voice_does_not_start_in_time_comes_in_the_second_voice(call):
    tts = GatedTTS(set(split_sentences(CONFIG.greeting)))  # the first voice hangs on the greeting
    clock = ManualClock()
    c = call(clock=clock, deadlines=ResponseDeadlines(), tts=tts, fallback=FakeTTS(name="offline"))
    await c.session.start()
    await until(lambda: "fallback" in c.crm.kinds(), clock=clock, within=3)  # within first_ms, not 10 s
    assert c.crm.payloads("error") == [{"role": "tts", "message": "no audio within 1.2 s"}]
    assert tts.cancelled == 1
    await c.quiet()
    assert [u.text for u in c.agent()] == [CONFIG.greeting]
    assert c.fallback.texts  # said by the second voice
