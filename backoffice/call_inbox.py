"""The calls inbox: what the admin's calls list knows about each call beyond its own row, read in the list's
one query (tags, the first reply's latency, whether staff still owe the caller something), and the search
in what was said.

Every read starts from a scoped queryset (crm.selectors.calls_for), so the inbox, its order and its search
never reach another business's calls.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Case, Exists, JSONField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

from backoffice.dashboard import FIRST_REPLY_KEY
from crm import selectors
from crm.models import Call, CallEvent, Lead, Recording, Utterance
from followup.models import FollowUp

# Leads that left the sales funnel: their follow-up date no longer asks anything of staff (as on the dashboard).
CLOSED_LEAD_STATUSES = (Lead.Status.WON, Lead.Status.LOST)


@dataclass(frozen=True)
class Tag:
    """A chip on a call's row: the annotation that says it applies, its class and what staff read."""

    name: str  # the annotation on the inbox's queryset, and the chip's CSS class (tag-<name>)
    label: str | Promise


TAGS = (
    Tag("voicemail", pgettext_lazy("call tag", "Voicemail")),
    Tag("transfer", pgettext_lazy("call tag", "Transfer")),
    Tag("callback_requested", pgettext_lazy("call tag", "Callback requested")),
    Tag("had_error", pgettext_lazy("call tag", "Error")),
)
NEEDS_FOLLOW_UP_LABEL = pgettext_lazy("call tag", "Needs follow-up")

WORD_RUN = re.compile(r"[^\W_]+")  # letters and digits of any script


def needs_follow_up(today: dt.date) -> Q:
    """The one rule for "this call still needs follow-up", the inbox's first rows. A call needs it while staff
    still owe its caller something:

    - a follow-up task made for this call (a callback request, a voicemail to answer, one added by hand) is
      still open; or
    - it is its lead's latest call, the lead is still in the funnel (not won or lost) and the lead's own next
      follow-up date has come (today or earlier).

    Only the lead's latest call carries the lead's date, so one lead with many calls is one row to act on.
    """
    open_task = Exists(FollowUp.objects.filter(call=OuterRef("pk"), state=FollowUp.State.OPEN))
    later_call = Exists(Call.objects.filter(lead=OuterRef("lead"), started_at__gt=OuterRef("started_at")))
    lead_due = Q(lead__next_follow_up__lte=today) & ~Q(lead__status__in=CLOSED_LEAD_STATUSES) & ~Q(later_call)
    return Q(open_task) | lead_due


def _event(kind: str) -> Exists:
    return Exists(CallEvent.objects.filter(call=OuterRef("pk"), kind=kind))


def _flag(condition: Q | Exists) -> Case:
    """A yes/no column that is never NULL (a NULL would sort first on PostgreSQL)."""
    return Case(When(condition, then=Value(True)), default=Value(False), output_field=BooleanField())


def first_reply_latency_column() -> Subquery:
    """The latency dict of the agent's first reply: its earliest utterance that carries the first-reply stage.
    Only replies are timed (voice.agent.utterance: the greeting and fixed lines have no latency)."""
    replies = Utterance.objects.filter(
        call=OuterRef("pk"), speaker=Utterance.Speaker.AGENT, latency__has_key=FIRST_REPLY_KEY
    ).order_by("start_ms", "pk")
    return Subquery(replies.values("latency")[:1], output_field=JSONField())


def with_inbox_columns(calls: QuerySet[Call], today: dt.date | None = None) -> QuerySet[Call]:
    """The calls with the inbox's columns: each tag, ``needs_follow_up`` and ``first_reply_latency``."""
    today = today or timezone.localdate()
    return calls.annotate(
        voicemail=_flag(Q(outcome=Call.Outcome.VOICEMAIL)),
        transfer=_flag(_event(CallEvent.Kind.TRANSFER)),  # handed to a person, answered or not
        callback_requested=_flag(Exists(FollowUp.objects.filter(call=OuterRef("pk"), source=FollowUp.Source.CALLBACK))),
        had_error=_flag(_event(CallEvent.Kind.ERROR)),
        needs_follow_up=_flag(needs_follow_up(today)),
        first_reply_latency=first_reply_latency_column(),
    )


def inbox_for(user: selectors.User) -> QuerySet[Call]:
    """The calls this user may see, with the inbox's columns."""
    return with_inbox_columns(selectors.calls_for(user))


def tags_of(call: Call) -> list[Tag]:
    """The tags that apply to a call read through ``with_inbox_columns``."""
    return [tag for tag in TAGS if getattr(call, tag.name, False)]


def first_reply_ms(call: Call) -> int | None:
    """The first reply's latency in ms (end of the caller's speech to the reply's first audio frame sent), or
    None when the agent never replied or the figure is not a number."""
    latency = getattr(call, "first_reply_latency", None)
    value = latency.get(FIRST_REPLY_KEY) if isinstance(latency, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return int(value)
    return None


# -- search in what was said ------------------------------------------------------------------------------------
def full_text_search_available() -> bool:
    """PostgreSQL has full-text search; SQLite gets a plain substring search."""
    return connection.vendor == "postgresql"


def _words(term: str) -> list[str]:
    return [word for word in term.split() if word]


def _lexemes(term: str) -> list[str]:
    """The letters-and-digits runs of the search, the only parts that reach a tsquery: &, |, !, (, ), :, *, <->
    and quotes typed by the user are separators, never operators."""
    return WORD_RUN.findall(term)


def _postgres_matches(model: Any, field: str, term: str) -> QuerySet:
    from django.contrib.postgres.search import SearchQuery, SearchVector

    # 'simple': PostgreSQL has no Hebrew dictionary, so words are matched as written, without stemming; each
    # word as a prefix ("שיני" finds "שיניים"), all of them in one text.
    lexemes = _lexemes(term)
    if not lexemes:
        return model.objects.none()
    query = SearchQuery(" & ".join(f"{lexeme}:*" for lexeme in lexemes), config="simple", search_type="raw")
    return model.objects.annotate(found_in=SearchVector(field, config="simple")).filter(found_in=query)


def _substring_matches(model: Any, field: str, term: str) -> QuerySet:
    words = Q()
    for word in _words(term):
        words &= Q(**{f"{field}__icontains": word})
    return model.objects.filter(words)


def transcript_matches(term: str, calls: QuerySet[Call]) -> Q:
    """Those of ``calls`` (the user's, filtered) whose transcript holds every word of ``term`` in one
    utterance, or in a voicemail's transcript. Full-text search on PostgreSQL (whole words, each typed word a
    prefix, through GIN indexes on the same expression: crm migration 0012), a substring search elsewhere.
    Only the texts of ``calls`` are searched."""
    if not _words(term):
        return Q(pk__in=[])
    matches = _postgres_matches if full_text_search_available() else _substring_matches
    within = calls.order_by().values("pk")
    said = matches(Utterance, "text", term).filter(call__in=within).values("call_id")
    voicemails = matches(Recording, "transcript", term).filter(call__in=within).values("call_id")
    return Q(pk__in=said) | Q(pk__in=voicemails)
