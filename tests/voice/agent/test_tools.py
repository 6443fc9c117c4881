"""The tool registry the session is handed."""

from __future__ import annotations

import pytest

from tests.support.agent_doubles import MemoryReporter
from voice.agent.tools import CORE_TOOLS, END_CALL, Tool, ToolBox, ToolOutcome
from voice.providers.base import ToolSpec


async def _nothing(args, reporter) -> ToolOutcome:
    return ToolOutcome()


def tool(name: str) -> Tool:
    return Tool(ToolSpec(name=name, description=name, parameters={"type": "object", "properties": {}}), _nothing)


def test_tools_keep_their_order_and_are_found_by_name():
    box = ToolBox([tool("b"), tool("a")]) + CORE_TOOLS
    assert [spec.name for spec in box.specs] == ["b", "a", "end_call"]
    assert "a" in box and box.get("end_call") is END_CALL and box.get("nope") is None


def test_two_tools_may_not_share_a_name():
    with pytest.raises(ValueError):
        ToolBox([tool("a")]) + ToolBox([tool("a")])


async def test_end_call_reads_its_reason():
    reporter = MemoryReporter()
    assert (await END_CALL.handler({"reason": "done"}, reporter)).end_reason == "done"
    assert (await END_CALL.handler({}, reporter)).end_reason == "completed"
