"""The facts a call can teach us about a lead: defined once, here.

The agent's lead tool (its JSON schema), the prompt's "what we already know" block, the after-call and
voicemail digests and the merge into the ``Lead`` row (``apply_lead_facts``, the one merge policy) all read
this list, so adding a fact is one line here (plus the model field it names).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.utils import timezone

from crm.callback_times import callback_at_from_llm, resolve_callback_time

if TYPE_CHECKING:  # no model import at run time: the list is read before Django's apps may be ready
    from crm.models import Lead


@dataclass(frozen=True)
class LeadFact:
    field: str  # the ``crm.models.Lead`` field it fills
    description: str  # for the LLM (tool schema and digest), in English like the rest of the schemas


LEAD_FACTS: tuple[LeadFact, ...] = (
    LeadFact("name", "The caller's name"),
    LeadFact("interest", "What the caller wants or asks about"),
    LeadFact("callback_time", "When the caller wants a call back"),
)

LEAD_FACT_FIELDS: tuple[str, ...] = tuple(fact.field for fact in LEAD_FACTS)

NOTE = "note"
"""The key of a free-text note among the facts (the agent's add_note tool): appended, never a field."""

CALLBACK_AT = "callback_at"
"""The key of the callback request as a time (ISO 8601, on the business's clock) among the facts: the
agent's tool gives it beside ``callback_time``, the words as said. It fills ``Lead.callback_at``."""
CALLBACK_AT_DESCRIPTION = (
    "When to call the caller back as an ISO 8601 date and time in the business's time zone, e.g. "
    "2025-04-14T16:00:00+03:00, worked out from what they said and today's date and time. Only when they "
    "named a day or a time; the words themselves go to callback_time."
)


def apply_lead_facts(
    lead: Lead,
    facts: Mapping[str, object],
    *,
    said_at: dt.datetime | None = None,
    keep_callback_at: bool = False,
) -> dict[str, str]:
    """Merge what a call taught us into ``lead``; the one merge policy for the agent's tool and both digests.

    - A fact (``LEAD_FACT_FIELDS``): a non-empty new value replaces a different old one (what the caller
      says now is the freshest word, also over a name typed in earlier); empty never erases. Values are
      stripped and cut to the field's length.
    - ``CALLBACK_AT`` (the model's time, ``crm.callback_times.callback_at_from_llm``) sets ``callback_at``.
      A bad one raises ``BadCallbackTime`` (a ``ValueError``) before anything is changed. Without it, new
      ``callback_time`` words that name a day or a time fill ``callback_at`` (resolved against ``said_at``,
      default now), unless it already holds a time still ahead of ``said_at``: a time the model gave in
      this call is more precise than words resolved afterwards.
    - ``NOTE``: appended to the notes on a line of its own, stamped with the local date and time.

    The lead is changed in memory, not saved: the caller saves it, after any changes of its own (the digests
    also move the status and the follow-up date). Returns what changed: {field or "note": new value}; a new
    ``callback_at`` as ISO 8601.
    """
    said_at = said_at or timezone.now()
    callback_at = None
    if str(facts.get(CALLBACK_AT) or "").strip():
        callback_at = callback_at_from_llm(str(facts[CALLBACK_AT]), lead.business, said_at)  # raises first
    changed: dict[str, str] = {}
    for field in LEAD_FACT_FIELDS:
        limit = getattr(lead._meta.get_field(field), "max_length", None)  # every fact is a CharField
        value = str(facts.get(field) or "").strip()[:limit]
        if value and value != getattr(lead, field):
            setattr(lead, field, value)
            changed[field] = value
    # New words about when to call back replace the time too, unless the model gave that time itself in this
    # call (``keep_callback_at``, the digest's case: its words are the same request, less precisely).
    words_anew = callback_at is None and "callback_time" in changed
    if words_anew and not (keep_callback_at and lead.callback_at is not None and lead.callback_at > said_at):
        callback_at = resolve_callback_time(lead.callback_time, lead.business, said_at)
    if callback_at is not None and callback_at != lead.callback_at:
        lead.callback_at = callback_at
        changed[CALLBACK_AT] = callback_at.isoformat()
    note = str(facts.get(NOTE) or "").strip()
    if note:
        stamp = timezone.localtime().strftime("%Y-%m-%d %H:%M")
        lead.notes = f"{lead.notes}\n[{stamp}] {note}" if lead.notes else f"[{stamp}] {note}"
        changed[NOTE] = note
    return changed
