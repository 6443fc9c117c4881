"""Keys pressed reach the model as one input (until "#", a pause of media time, or a bound), each key
still a timeline event; a burst of keys is a handful of turns, not one per key."""

from __future__ import annotations

from tests.support.agent_doubles import until
from tests.support.caller_audio import silence
from tests.voice.agent.calls import CONFIG
from voice.providers.fake import FakeLLM

LONG = "תשובה ארוכה מאוד שלוקח זמן להשמיע אותה עד הסוף, ועוד קצת."


async def test_a_phone_number_is_one_input_after_the_pause(call):
    c = call(llm=FakeLLM(["תודה, רשמתי."]))
    await c.greeted()
    for key in "0501234567":
        await c.session.dtmf(key)
    await c.feed(silence(CONFIG.dtmf_pause_ms - 100))
    assert c.llm.calls == []  # the caller may go on typing
    await c.feed(silence(200))
    await until(lambda: len(c.agent()) == 2)
    assert [m for m in c.llm.calls[0] if m["role"] == "user"] == [{"role": "user", "content": "[DTMF: 0501234567]"}]
    assert [p["digit"] for p in c.crm.payloads("dtmf")] == list("0501234567")


async def test_hash_ends_the_input_at_once(call):
    c = call(llm=FakeLLM(["בסדר."]))
    await c.greeted()
    for key in "123#":
        await c.session.dtmf(key)
    await until(lambda: len(c.llm.calls) == 1)
    assert c.llm.calls[0][-1] == {"role": "user", "content": "[DTMF: 123]"}


async def test_a_hundred_keys_make_a_handful_of_turns_and_no_clears(call):
    c = call(llm=FakeLLM(default="בסדר."))
    await c.greeted()
    keys = "0123456789" * 10
    for key in keys:
        await c.session.dtmf(key)
    await c.feed(silence(CONFIG.dtmf_pause_ms + 100))
    await until(lambda: len(c.llm.calls) == 4 and not c.session.busy)
    assert len(c.crm.payloads("dtmf")) == 100
    inputs = [call[-1]["content"] for call in c.llm.calls]
    assert inputs == [f"[DTMF: {keys[i : i + 32]}]" for i in range(0, 100, 32)]  # 32 + 32 + 32 + 4
    assert c.twilio.clears == 0


async def test_the_first_key_of_an_input_interrupts_the_agent_the_rest_do_not(call):
    c = call(llm=FakeLLM([LONG, "בסדר."]), echo_marks=False)
    c.clock.speed = 1
    await c.session.start()
    await until(lambda: c.twilio.frames >= 15)  # the greeting is playing
    for key in "4321":
        await c.session.dtmf(key)
    assert c.twilio.clears == 1
    assert c.crm.kinds().count("barge_in") == 1
