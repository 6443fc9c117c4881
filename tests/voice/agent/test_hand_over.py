"""Handing the caller to a person, in the conversation core: a tool that hands over makes the agent say the
transfer line (not the goodbye) and end the stream with the ``transfer`` reason; "0" on the keypad does the
same when the session was given such a tool, and is an ordinary input otherwise. Tools offered only to some
calls are left out of what the model sees."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.agent_doubles import MemoryReporter, until
from tests.support.caller_audio import silence
from tests.voice.agent.calls import CONFIG
from voice.agent.keypad import asks_for_a_person
from voice.agent.tools import END_CALL, HAND_OVER, Tool, ToolBox, ToolOutcome
from voice.providers.base import ToolCall, ToolSpec
from voice.providers.fake import FakeLLM, FakeReply

TRANSFER_LINE = "אני מעביר אתכם לנציג, רק רגע."


async def _hand_over(args, reporter) -> ToolOutcome:
    return ToolOutcome(hand_over=True)


def hand_over_tool(*, offered=None) -> Tool:
    spec = ToolSpec(name="to_a_person", description="", parameters={"type": "object", "properties": {}})
    return Tool(spec, _hand_over, offered=offered, hands_over=True)


PERSON = ToolBox([hand_over_tool()])


def tool_names(llm: FakeLLM, call: int = 0) -> list[str]:
    return [spec.name for spec in llm.tools_seen[call]]


async def test_a_tool_that_hands_over_says_the_transfer_line_and_ends_with_transfer(call):
    llm = FakeLLM([FakeReply(tool_calls=[ToolCall(id="1", name="to_a_person", arguments={"reason": "asked"})])])
    c = call(llm=llm, tools=PERSON)
    await c.greeted()
    await c.session.dtmf("5")
    await c.session.dtmf("#")
    await until(lambda: c.crm.ended)
    assert c.crm.ended == [(HAND_OVER, False)]
    assert c.agent()[-1].text == TRANSFER_LINE  # the transfer line, not the goodbye
    assert CONFIG.goodbye not in [u.text for u in c.agent()]
    assert len(llm.calls) == 1  # no second model call after the hand-over
    (tool_call,) = c.crm.payloads("tool_call")
    assert tool_call["name"] == "to_a_person" and tool_call["ok"] is True


@pytest.mark.parametrize("keys", ["0", "0#"])
async def test_zero_alone_asks_for_a_person(call, keys):
    llm = FakeLLM()
    c = call(llm=llm, tools=PERSON)
    await c.greeted()
    for key in keys:
        await c.session.dtmf(key)
    await c.feed(silence(CONFIG.dtmf_pause_ms + 100))
    await until(lambda: c.crm.ended)
    assert c.crm.ended == [(HAND_OVER, False)]
    assert llm.calls == []  # the model is not asked
    assert c.agent()[-1].text == TRANSFER_LINE
    assert [p["name"] for p in c.crm.payloads("tool_call")] == ["to_a_person"]
    assert [p["digit"] for p in c.crm.payloads("dtmf")] == list(keys)


async def test_zero_goes_to_the_model_when_nobody_takes_calls(call):
    llm = FakeLLM(["בסדר."])
    c = call(llm=llm)
    await c.greeted()
    await c.session.dtmf("0")
    await c.session.dtmf("#")
    await until(lambda: len(c.agent()) == 2)
    assert llm.calls[0][-1] == {"role": "user", "content": "[DTMF: 0]"}
    assert c.crm.ended == []


async def test_zero_inside_a_longer_input_is_just_digits(call):
    llm = FakeLLM(["רשמתי."])
    c = call(llm=llm, tools=PERSON)
    await c.greeted()
    for key in "050#":
        await c.session.dtmf(key)
    await until(lambda: len(c.agent()) == 2)
    assert llm.calls[0][-1] == {"role": "user", "content": "[DTMF: 050]"}
    assert c.crm.ended == []


async def test_a_tool_offered_to_other_calls_is_not_shown_to_the_model(call):
    llm = FakeLLM(["בסדר."])
    never = ToolBox([hand_over_tool(offered=lambda config: False)])
    c = call(llm=llm, tools=never)
    await c.greeted()
    await c.session.dtmf("0")  # and "0" does not hand over either: there is nobody
    await c.session.dtmf("#")
    await until(lambda: len(c.agent()) == 2)
    assert tool_names(llm) == ["end_call"]
    assert c.crm.ended == []


def test_offered_tools_are_chosen_per_config():
    box = ToolBox([hand_over_tool(offered=lambda config: config.language == "he-IL"), END_CALL])
    assert [t.name for t in box.offered_to(CONFIG)] == ["to_a_person", "end_call"]
    english = dataclasses.replace(CONFIG, language="en-US")
    assert [t.name for t in box.offered_to(english)] == ["end_call"]
    assert box.offered_to(english).hand_over_tool is None
    assert box.hand_over_tool is not None and box.hand_over_tool.name == "to_a_person"


def test_only_a_lone_zero_asks_for_a_person():
    assert asks_for_a_person("0")
    assert not any(asks_for_a_person(keys) for keys in ("", "#", "00", "05", "10", "*"))


async def test_the_tool_says_nothing_itself():
    assert (await hand_over_tool().handler({}, MemoryReporter())).hand_over
