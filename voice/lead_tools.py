"""The agent's CRM tools: what the model may write to this call's lead.

The Django edge's side of the tool registry (``voice.agent.tools``): the schemas come from the one list of
lead facts (``crm.lead_facts.LEAD_FACTS``), the handlers write through the call's ``CallReporter``, which
applies them with the one merge policy. ``voice.handlers`` hands ``LEAD_TOOLS`` to every AI session.

``transfer_to_human`` writes nothing: it hands the caller to the business's person (the session says the
transfer line and ends the stream; ``voice.transfer`` dials them). It is offered only to calls whose business
has a transfer number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm.callback_times import parse_iso
from crm.lead_facts import CALLBACK_AT, CALLBACK_AT_DESCRIPTION, LEAD_FACT_FIELDS, LEAD_FACTS, NOTE
from voice.agent.config import AgentConfig
from voice.agent.ports import CallReporter
from voice.agent.tools import Tool, ToolBox, ToolOutcome
from voice.providers.base import ToolSpec


async def _save_lead_details(args: Mapping[str, Any], reporter: CallReporter) -> ToolOutcome:
    """Save the facts given. A ``callback_at`` that is not an ISO 8601 time fails the whole call (the model is
    told why and may try again) and writes nothing; the merge checks it against the business's clock too."""
    facts = {field: str(args[field]) for field in LEAD_FACT_FIELDS if args.get(field)}
    if str(args.get(CALLBACK_AT) or "").strip():
        parse_iso(str(args[CALLBACK_AT]))  # raises BadCallbackTime before anything is written
        facts[CALLBACK_AT] = str(args[CALLBACK_AT]).strip()
    changed = await reporter.update_lead(facts) if facts else {}
    return ToolOutcome(changed=changed, facts=facts)


async def _add_note(args: Mapping[str, Any], reporter: CallReporter) -> ToolOutcome:
    return ToolOutcome(changed=await reporter.update_lead({NOTE: str(args.get(NOTE, ""))}))


SAVE_LEAD_DETAILS = Tool(
    ToolSpec(
        name="save_lead_details",
        description="Save what the caller told you about themselves: name, what they are interested in, "
        "and when to call them back (their words in callback_time, and the time itself in callback_at). "
        "Pass only the fields you learned.",
        parameters={
            "type": "object",
            "properties": {
                **{fact.field: {"type": "string", "description": fact.description} for fact in LEAD_FACTS},
                CALLBACK_AT: {"type": "string", "description": CALLBACK_AT_DESCRIPTION},
            },
        },
    ),
    _save_lead_details,
)

ADD_NOTE = Tool(
    ToolSpec(
        name="add_note",
        description="Add a short note for the sales team about this caller.",
        parameters={
            "type": "object",
            "properties": {NOTE: {"type": "string"}},
            "required": [NOTE],
        },
    ),
    _add_note,
)


async def _transfer_to_human(args: Mapping[str, Any], reporter: CallReporter) -> ToolOutcome:
    return ToolOutcome(hand_over=True)


def transfer_offered(config: AgentConfig) -> bool:
    """A person can take this call: the business has a transfer number (``voice.business_config``)."""
    return config.transfer_available


TRANSFER_TO_HUMAN = Tool(
    ToolSpec(
        name="transfer_to_human",
        description="Hand the caller to a person of the business when they ask for one, or when you cannot "
        "help them. A short line saying so is played for you; the call then leaves you.",
        parameters={
            "type": "object",
            "properties": {"reason": {"type": "string", "description": "Why the caller needs a person"}},
            "required": ["reason"],
        },
    ),
    _transfer_to_human,
    offered=transfer_offered,
    hands_over=True,
)

LEAD_TOOLS = ToolBox([SAVE_LEAD_DETAILS, ADD_NOTE, TRANSFER_TO_HUMAN])
