"""The CRM tools the Django edge hands to every AI session."""

from __future__ import annotations

import pytest

from crm.callback_times import BadCallbackTime
from crm.lead_facts import CALLBACK_AT, LEAD_FACT_FIELDS
from tests.support.agent_doubles import MemoryReporter
from voice.agent.config import AgentConfig
from voice.lead_tools import ADD_NOTE, LEAD_TOOLS, SAVE_LEAD_DETAILS, TRANSFER_TO_HUMAN


def test_the_lead_tool_schema_is_the_list_of_lead_facts():
    # Issue 13: handing the caller to a person joined the edge's tools (offered per call, see below).
    assert [tool.name for tool in LEAD_TOOLS] == ["save_lead_details", "add_note", "transfer_to_human"]
    properties = SAVE_LEAD_DETAILS.spec.parameters["properties"]
    # Issue 14: the callback request also as a time, beside the words (callback_time) that stay as said.
    assert tuple(properties) == (*LEAD_FACT_FIELDS, CALLBACK_AT)
    assert "ISO 8601" in properties[CALLBACK_AT]["description"]
    assert all(p["type"] == "string" and p["description"] for p in properties.values())


async def test_saving_details_writes_only_the_facts_given_and_remembers_them():
    reporter = MemoryReporter(lead={"name": "דנה"})
    outcome = await SAVE_LEAD_DETAILS.handler({"name": "דנה", "interest": "דירה", "budget": "גבוה"}, reporter)
    assert reporter.lead_updates == [{"name": "דנה", "interest": "דירה"}]
    assert outcome.changed == {"interest": "דירה"}
    assert outcome.facts == {"name": "דנה", "interest": "דירה"}  # for the prompt from now on
    assert outcome.end_reason is None


async def test_nothing_to_save_writes_nothing():
    reporter = MemoryReporter()
    outcome = await SAVE_LEAD_DETAILS.handler({"name": ""}, reporter)
    assert reporter.lead_updates == [] and outcome.changed == {} and outcome.facts == {}


async def test_a_note_is_added_for_the_sales_team():
    reporter = MemoryReporter()
    outcome = await ADD_NOTE.handler({"note": "מעדיפה וואטסאפ"}, reporter)
    assert reporter.notes == ["מעדיפה וואטסאפ"] and outcome.changed == {"note": "מעדיפה וואטסאפ"}


async def test_transfer_to_human_hands_over_and_writes_nothing():
    reporter = MemoryReporter()
    outcome = await TRANSFER_TO_HUMAN.handler({"reason": "ביקשה נציג"}, reporter)
    assert outcome.hand_over and outcome.changed is None and reporter.lead_updates == []
    assert TRANSFER_TO_HUMAN.hands_over and TRANSFER_TO_HUMAN.spec.parameters["required"] == ["reason"]


def test_transfer_to_human_is_not_offered_by_default():
    assert [tool.name for tool in LEAD_TOOLS.offered_to(AgentConfig())] == ["save_lead_details", "add_note"]


async def test_a_callback_time_is_saved_with_the_words_as_said():
    reporter = MemoryReporter()
    args = {"callback_time": "מחר אחרי ארבע", "callback_at": "2025-04-14T16:00:00+03:00"}
    outcome = await SAVE_LEAD_DETAILS.handler(args, reporter)
    assert reporter.lead_updates == [args]
    assert outcome.changed == args


async def test_a_callback_at_that_is_not_a_time_is_refused_and_nothing_is_written():
    reporter = MemoryReporter()
    with pytest.raises(BadCallbackTime, match="not an ISO 8601 date and time"):
        await SAVE_LEAD_DETAILS.handler({"name": "דנה", "callback_at": "מחר בארבע"}, reporter)
    assert reporter.lead_updates == []
