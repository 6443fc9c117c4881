"""The tools the model may call, as a registry handed to the session.

The core knows what a tool is (a schema for the model and an async handler) and one tool of its own,
``end_call``: ending the conversation is conversation control. Tools that know the CRM (saving what the
caller told us, notes for the sales team, handing the caller to a person) are built by the Django edge
(``voice.lead_tools``) and handed in; a session built without them still talks, it just cannot write to
the lead. A tool may be offered only to some calls (``offered``: a person to hand over to exists), and a
tool may hand the call over (``ToolOutcome.hand_over``): the session then says its transfer line and the
stream ends with the ``HAND_OVER`` reason, which the edge turns into a ``<Dial>``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from voice.agent.config import AgentConfig
from voice.agent.ports import CallReporter
from voice.providers.base import ToolSpec

HAND_OVER = "transfer"  # the end reason of a call handed to a person (the edge dials them)


@dataclass(frozen=True)
class ToolOutcome:
    """What a tool did, for the model (its result), the timeline and the session."""

    changed: dict[str, Any] | None = None  # what the CRM changed (None: the tool writes nothing)
    facts: dict[str, str] = field(default_factory=dict)  # facts the prompt knows about the caller from now on
    end_reason: str | None = None  # the call should end after this reply's goodbye
    hand_over: bool = False  # the call goes to a person after this reply (the transfer line, not the goodbye)


# A handler gets the model's arguments and the call's reporter (the only door to the CRM).
ToolHandler = Callable[[Mapping[str, Any], CallReporter], Awaitable[ToolOutcome]]


@dataclass(frozen=True)
class Tool:
    spec: ToolSpec
    handler: ToolHandler
    # Whether this call is offered the tool (None: always). Read once, when the session is built.
    offered: Callable[[AgentConfig], bool] | None = None
    hands_over: bool = False  # calling it hands the caller to a person (DTMF "0" runs it too)

    @property
    def name(self) -> str:
        return self.spec.name


class ToolBox:
    """The tools of one session, by name, in the order the model is shown them."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(f"two tools are called {tool.name}")
            self._tools[tool.name] = tool

    def __add__(self, other: ToolBox) -> ToolBox:
        return ToolBox([*self, *other])

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    @property
    def specs(self) -> list[ToolSpec]:
        return [tool.spec for tool in self._tools.values()]

    def offered_to(self, config: AgentConfig) -> ToolBox:
        """The tools this call's model is shown (and may run)."""
        return ToolBox(tool for tool in self if tool.offered is None or tool.offered(config))

    @property
    def hand_over_tool(self) -> Tool | None:
        """The tool that hands the caller to a person, when this box has one."""
        return next((tool for tool in self if tool.hands_over), None)


async def _end_call(args: Mapping[str, Any], reporter: CallReporter) -> ToolOutcome:
    return ToolOutcome(end_reason=str(args.get("reason") or "completed"))


END_CALL = Tool(
    ToolSpec(
        name="end_call",
        description="End the call politely when the conversation is over. A goodbye is played for you.",
        parameters={
            "type": "object",
            "properties": {"reason": {"type": "string", "description": "Why the call ends"}},
        },
    ),
    _end_call,
)

CORE_TOOLS = ToolBox([END_CALL])
