"""Where a new call goes: the agent, or straight to voicemail (the agent is off, or the business is closed
and sends after-hours calls to voicemail). One rule, read by the incoming-call webhook and by the owner's
line-check preview, so the preview always shows what a caller really gets."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from crm import business_hours
from crm.models import Business

AGENT = "agent"
VOICEMAIL_AGENT_OFF = "voicemail_agent_off"
VOICEMAIL_AFTER_HOURS = "voicemail_after_hours"


@dataclass(frozen=True)
class Route:
    name: str  # AGENT, VOICEMAIL_AGENT_OFF or VOICEMAIL_AFTER_HOURS
    open_now: bool
    next_opening: dt.datetime | None = None  # when closed
    fallback: dict[str, Any] = field(default_factory=dict)  # the timeline payload of a voicemail route

    @property
    def to_voicemail(self) -> bool:
        return self.name != AGENT


def route_call(business: Business, at: dt.datetime) -> Route:
    """Where a call to ``business`` ringing at ``at`` (aware) goes."""
    open_now = business_hours.is_open(business, at)
    opening = None if open_now else business_hours.next_opening(business, at)
    if not business.agent_enabled:
        return Route(VOICEMAIL_AGENT_OFF, open_now, opening, {"reason": "agent_disabled"})
    if not open_now and business.after_hours == Business.AfterHours.VOICEMAIL:
        payload = {"reason": "after_hours", "next_open": opening.isoformat() if opening else ""}
        return Route(VOICEMAIL_AFTER_HOURS, open_now, opening, payload)
    return Route(AGENT, open_now, opening)
