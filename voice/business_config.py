"""A call's ``AgentConfig`` from its ``Business`` row: the owner's settings, the business's name filled in,
and the business's hours as they stand when the call rings.

Placeholders are replaced as plain text (``str.replace``, not ``format``): an owner's prompt may hold other
braces. After hours (hours set, closed now) the agent greets with the after-hours line; the prompt tells
it the business is closed and when it opens, so it offers a message or a callback.
"""

from __future__ import annotations

import datetime as dt

from crm import business_hours
from crm.defaults import BUSINESS_PLACEHOLDER, NEXT_OPEN_PLACEHOLDER
from crm.models import Business
from voice.agent.config import AgentConfig
from voice.agent.prompt import BusinessContext


def fill_business(text: str, business: Business) -> str:
    """``text`` with ``{business}`` replaced by the business's name."""
    return text.replace(BUSINESS_PLACEHOLDER, business.name)


def fillers_of(business: Business) -> tuple[str, ...]:
    """The business's fillers, one per non-empty line."""
    return tuple(line.strip() for line in business.fillers.splitlines() if line.strip())


def after_hours_line(business: Business, at: dt.datetime) -> str:
    """The after-hours line as a caller at ``at`` hears it (when it opens again filled in)."""
    now = business_hours.local_time(business, at)
    next_open = business_hours.say_next_opening(business_hours.next_opening(business, at), now)
    return fill_business(business.after_hours_line, business).replace(NEXT_OPEN_PLACEHOLDER, next_open)


def spoken_greeting(business: Business, at: dt.datetime) -> str:
    """What the caller hears first at ``at``: the greeting, or after hours the after-hours line."""
    if not business_hours.is_open(business, at):
        return after_hours_line(business, at)
    return fill_business(business.greeting, business)


def business_context(business: Business, at: dt.datetime) -> BusinessContext:
    now = business_hours.local_time(business, at)
    open_now = business_hours.is_open(business, at)
    opening = None if open_now else business_hours.next_opening(business, at)
    return BusinessContext(
        name=business.name,
        now=business_hours.say_now(now),
        address=business.address,
        open_now=open_now,
        next_open=business_hours.say_next_opening(opening, now) if opening is not None else "",
        hours_known=business_hours.hours_are_set(business),
        knowledge=fill_business(business.knowledge, business),
        addresses_callers=business.addresses_callers,
        speaks_as=business.speaks_as,
    )


def agent_config_for(business: Business, lead_facts: dict[str, str], at: dt.datetime) -> AgentConfig:
    """The configuration of a call to ``business`` ringing at ``at`` (aware)."""
    context = business_context(business, at)
    closed_line = after_hours_line(business, at)
    return AgentConfig(
        greeting=fill_business(business.greeting, business) if context.open_now else closed_line,
        system_prompt=fill_business(business.system_prompt, business),
        language=business.language,
        voice=business.voice_name,
        apology=fill_business(business.apology, business),
        idle_prompt=fill_business(business.idle_prompt, business),
        goodbye=fill_business(business.goodbye, business),
        fillers=fillers_of(business) or AgentConfig.fillers,  # none set: the core's own
        after_hours_line=closed_line,
        eou_silence_ms=business.eou_silence_ms,
        barge_in_min_ms=business.barge_in_min_ms,
        idle_prompt_ms=business.idle_prompt_seconds * 1000,
        max_call_ms=business.max_call_minutes * 60_000,
        lead_facts=lead_facts,
        business=context,
        open_now=context.open_now,
        transfer_available=bool(business.transfer_number),
    )
