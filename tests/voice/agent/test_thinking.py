"""The model's side of a call, driven through the session: tool calls, the end_call tool and the facts
the prompt knows about the caller."""

from __future__ import annotations

from dataclasses import replace

from tests.support.agent_doubles import until
from tests.support.caller_audio import silence, voiced
from tests.voice.agent.calls import CONFIG
from voice.lead_tools import LEAD_TOOLS
from voice.providers.base import ToolCall
from voice.providers.fake import FakeASR, FakeLLM, FakeReply


async def test_tool_calls_update_the_lead_and_the_reply_continues(call):
    save = ToolCall("call_1", "save_lead_details", {"name": "דנה", "interest": "ביטוח רכב"})
    note = ToolCall("call_2", "add_note", {"note": "מעדיפה וואטסאפ"})
    c = call(
        tools=LEAD_TOOLS,
        asr=FakeASR(["קוראים לי דנה ואני מחפשת ביטוח רכב", "מתי תתקשרו?"]),
        llm=FakeLLM([FakeReply(text="רגע, אני רושמת.", tool_calls=[save, note]), "תודה דנה, נחזור אלייך."]),
    )
    await c.greeted()
    await c.feed(voiced(800) + silence(800))
    await until(lambda: len(c.agent()) == 2)
    assert c.crm.lead == {"name": "דנה", "interest": "ביטוח רכב"}
    assert c.crm.notes == ["מעדיפה וואטסאפ"]
    tool_events = c.crm.payloads("tool_call")
    assert tool_events[0] == {
        "name": "save_lead_details",
        "arguments": {"name": "דנה", "interest": "ביטוח רכב"},
        "changed": {"name": "דנה", "interest": "ביטוח רכב"},
        "ok": True,
    }
    assert tool_events[1]["name"] == "add_note"
    # The second model call saw its tool calls and their results.
    second = c.llm.calls[1]
    assert second[-3]["role"] == "assistant" and [t["id"] for t in second[-3]["tool_calls"]] == [
        "call_1",
        "call_2",
    ]
    assert second[-2]["role"] == "tool" and second[-2]["tool_call_id"] == "call_1"
    assert '"changed"' in second[-2]["content"]
    assert c.agent()[-1].text == "רגע, אני רושמת. תודה דנה, נחזור אלייך."
    # Known facts go into the system prompt of the next turn.
    await c.feed(voiced(600) + silence(800))
    await until(lambda: len(c.llm.calls) == 3)
    assert "דנה" in c.llm.calls[2][0]["content"]


async def test_end_call_tool_says_goodbye_then_ends(call):
    bye = ToolCall("call_9", "end_call", {"reason": "caller_done"})
    c = call(asr=FakeASR(["זהו, תודה"]), llm=FakeLLM([FakeReply(text="שמחתי לעזור.", tool_calls=[bye])]))
    await c.greeted()
    await c.feed(voiced(600) + silence(800))
    await until(lambda: c.crm.ended != [])
    assert c.crm.ended == [("caller_done", False)]
    assert c.agent()[-1].text == f"שמחתי לעזור. {CONFIG.goodbye}"
    assert c.agent()[-1].interrupted is False  # it played out before the call ended
    assert len(c.llm.calls) == 1


async def test_lead_facts_known_before_the_call_reach_the_model(call):
    config = replace(CONFIG, lead_facts={"name": "יוסי"})
    c = call(config=config, asr=FakeASR(["היי"]))
    await c.greeted()
    await c.feed(voiced(600) + silence(800))
    await until(lambda: c.llm.calls != [])
    assert "יוסי" in c.llm.calls[0][0]["content"]


async def test_a_session_without_the_edges_tools_only_offers_end_call(call):
    save = ToolCall("call_1", "save_lead_details", {"name": "דנה"})
    c = call(asr=FakeASR(["קוראים לי דנה"]), llm=FakeLLM([FakeReply(tool_calls=[save]), "בסדר."]))
    await c.greeted()
    await c.feed(voiced(600) + silence(800))
    await until(lambda: len(c.llm.calls) == 2)
    assert [spec.name for spec in c.llm.tools_seen[0]] == ["end_call"]
    [event] = c.crm.payloads("tool_call")
    assert event == {"name": "save_lead_details", "arguments": {"name": "דנה"}, "changed": {}, "ok": False}
    assert c.crm.lead_updates == []
    assert "unknown tool save_lead_details" in c.llm.calls[1][-1]["content"]


async def test_the_known_facts_heading_comes_from_the_configuration(call):
    config = replace(CONFIG, lead_facts={"name": "יוסי"}, known_facts_heading="Known about the caller:")
    c = call(config=config, asr=FakeASR(["היי"]))
    await c.greeted()
    await c.feed(voiced(600) + silence(800))
    await until(lambda: c.llm.calls != [])
    assert c.llm.calls[0][0]["content"] == f"{CONFIG.system_prompt}\n\nKnown about the caller:\n- name: יוסי"
    assert [spec.name for spec in c.llm.tools_seen[0]] == ["end_call"]
