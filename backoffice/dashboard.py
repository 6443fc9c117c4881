"""The numbers on the admin's front page, for the businesses a user belongs to, over a chosen period.

Every read goes through crm/selectors.py (and the follow-ups' own scoped read), so a user only counts the calls,
leads and tasks of their own businesses. Days and hours are the site's local ones (``TIME_ZONE``, the current
time zone), as everywhere else in the admin.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Avg, Count, Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import ExtractHour, TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.admin_followups import follow_ups_for
from backoffice.dashboard_range import Period
from crm import selectors
from crm.models import Call, CallEvent, Lead, Utterance
from followup.models import FollowUp
from voice.transfer import ANSWERED as TRANSFER_ANSWERED

# The turn latency shown: from the end of the caller's speech (the end-of-utterance decision) to the reply's
# first audio frame sent to the caller, the figure the benchmark reports too (Utterance.latency, voice/agent).
FIRST_REPLY_KEY = "first_frame"

# Which provider an error row names (payload "role", voice/agent/failures.py and the listener): the recogniser,
# the language model, the voice (the fallback voice too), anything else (VAD, providers not configured).
ERROR_GROUPS: dict[str, str] = {"asr": "asr", "llm": "llm", "tts": "tts", "fallback_tts": "tts"}
ERROR_ROLES = (*ERROR_GROUPS, "vad", "providers")

# The funnel's stages in the order a lead passes them; "lost" leaves the funnel at an unknown stage.
FUNNEL = (Lead.Status.NEW, Lead.Status.CONTACTED, Lead.Status.QUALIFIED, Lead.Status.WON)


def percentile(values: Iterable[float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile (0 < p ≤ 100): the smallest value with at least p% of the values at
    or below it, always one of the values; None for no values."""
    data = sorted(values)
    if not data:
        return None
    rank = math.ceil(p / 100 * len(data))
    return data[min(max(rank, 1), len(data)) - 1]


@dataclass(frozen=True)
class DayCalls:
    """One local day's calls by what became of them (each call counted once)."""

    day: date
    answered: int = 0  # talked with the agent
    voicemail: int = 0
    transferred: int = 0  # a person took the call
    other: int = 0  # hung up without a message, failed, not over yet

    @property
    def total(self) -> int:
        return self.answered + self.voicemail + self.transferred + self.other


@dataclass(frozen=True)
class FunnelStage:
    status: str
    label: str
    count: int


@dataclass(frozen=True)
class StaffFollowUps:
    """One person's follow-up tasks: open and overdue now, done (and done by the due time) in the period."""

    name: str
    open: int
    overdue: int
    done: int
    done_on_time: int


@dataclass(frozen=True)
class DayLatency:
    day: date
    replies: int
    p50: float | None
    p95: float | None


@dataclass(frozen=True)
class DayErrors:
    day: date
    by_group: dict[str, int] = field(default_factory=dict)  # "asr", "llm", "tts", "other"

    @property
    def total(self) -> int:
        return sum(self.by_group.values())


@dataclass(frozen=True)
class DashboardStats:
    period: Period
    calls_per_day: list[DayCalls]  # every day of the period, oldest first
    average_duration_s: float | None
    leads_created: int
    follow_ups_today: int  # leads whose next follow-up is today
    follow_ups_overdue: int  # open leads whose next follow-up has passed
    funnel: list[FunnelStage]
    lost: int  # leads of the period marked lost
    staff: list[StaffFollowUps]
    latency_per_day: list[DayLatency]
    errors_per_day: list[DayErrors]
    busiest_hours: list[int]  # calls by local hour of the day, 0 to 23

    @property
    def days(self) -> list[tuple[date, int]]:
        """Calls per day, all outcomes together."""
        return [(d.day, d.total) for d in self.calls_per_day]

    @property
    def calls(self) -> int:
        return sum(d.total for d in self.calls_per_day)

    @property
    def answered_by_agent(self) -> int:
        return sum(d.answered for d in self.calls_per_day)

    @property
    def voicemail(self) -> int:
        return sum(d.voicemail for d in self.calls_per_day)

    @property
    def transferred(self) -> int:
        return sum(d.transferred for d in self.calls_per_day)

    @property
    def agent_share(self) -> int | None:
        """Percent of calls with an outcome that the agent handled (rather than voicemail)."""
        handled = self.answered_by_agent + self.voicemail
        return round(100 * self.answered_by_agent / handled) if handled else None

    @property
    def replies(self) -> int:
        return sum(d.replies for d in self.latency_per_day)

    @property
    def errors(self) -> int:
        return sum(d.total for d in self.errors_per_day)


def bounds(period: Period) -> tuple[datetime, datetime]:
    """The period as aware datetimes: the start of its first local day, the start of the day after its last."""
    start = timezone.make_aware(datetime.combine(period.first, time.min))
    return start, timezone.make_aware(datetime.combine(period.last + timedelta(days=1), time.min))


def calls_in(user: selectors.User, period: Period) -> QuerySet[Call]:
    start, end = bounds(period)
    return selectors.calls_for(user).filter(started_at__gte=start, started_at__lt=end)


def calls_per_day(calls: QuerySet[Call], period: Period) -> list[DayCalls]:
    """Each call once, in this order: a person took it (a transfer the person answered), the caller left a
    voicemail, the caller talked with the agent, anything else."""
    tz = timezone.get_current_timezone()
    transferred = CallEvent.objects.filter(
        call=OuterRef("pk"), kind=CallEvent.Kind.TRANSFER, payload__outcome__in=sorted(TRANSFER_ANSWERED)
    )
    rows = (
        calls.order_by()
        .annotate(day=TruncDate("started_at", tzinfo=tz), transferred=Exists(transferred))
        .values_list("day", "outcome", "transferred")
        .annotate(n=Count("id"))
    )
    counts: dict[date, Counter[str]] = defaultdict(Counter)
    for day, outcome, was_transferred, n in rows:
        if was_transferred:
            kind = "transferred"
        elif outcome == Call.Outcome.VOICEMAIL:
            kind = "voicemail"
        elif outcome == Call.Outcome.CONVERSATION:
            kind = "answered"
        else:
            kind = "other"
        counts[day][kind] += n
    return [DayCalls(day, **counts.get(day, Counter())) for day in period.days]


def busiest_hours(calls: QuerySet[Call]) -> list[int]:
    """Calls by the local hour they started in, 0 to 23."""
    tz = timezone.get_current_timezone()
    per_hour = dict(
        calls.order_by().annotate(hour=ExtractHour("started_at", tzinfo=tz)).values_list("hour").annotate(n=Count("id"))
    )
    return [per_hour.get(hour, 0) for hour in range(24)]


def lead_funnel(leads: QuerySet[Lead]) -> tuple[list[FunnelStage], int]:
    """The leads created in the period, each counted at every stage up to the one it has reached now: a lead
    at "qualified" was new and contacted before, so it counts for new, contacted and qualified. A lost lead counts
    only as new (we do not know how far it got before) and is also returned apart, as the number lost."""
    by_status = dict(leads.order_by().values_list("status").annotate(n=Count("id")))
    labels = dict(Lead.Status.choices)
    stages = []
    for index, status in enumerate(FUNNEL):
        reached = sum(by_status.get(later, 0) for later in FUNNEL[index:])
        if status == Lead.Status.NEW:
            reached += by_status.get(Lead.Status.LOST, 0)
        stages.append(FunnelStage(status, str(labels[status]), reached))
    return stages, by_status.get(Lead.Status.LOST, 0)


def staff_follow_ups(user: selectors.User, period: Period, now: datetime | None = None) -> list[StaffFollowUps]:
    """Per assignee (unassigned tasks together): tasks open now, overdue now, done within the period and, of
    those, done by their due time. People with none of these are left out; busiest first."""
    now = now or timezone.now()
    start, end = bounds(period)
    done_in_period = Q(state=FollowUp.State.DONE, done_at__gte=start, done_at__lt=end)
    is_open = Q(state=FollowUp.State.OPEN)
    rows = (
        follow_ups_for(user)
        .order_by()
        .values("assignee", "assignee__username", "assignee__first_name", "assignee__last_name")
        .annotate(
            open=Count("id", filter=is_open),
            overdue=Count("id", filter=is_open & Q(due_at__lt=now)),
            done=Count("id", filter=done_in_period),
            done_on_time=Count("id", filter=done_in_period & Q(done_at__lte=F("due_at"))),
        )
    )
    people = []
    for row in rows:
        if not (row["open"] or row["done"]):
            continue
        parts = (row["assignee__first_name"], row["assignee__last_name"])
        full_name = " ".join(part for part in parts if part)
        name = full_name or row["assignee__username"] or _("Unassigned")
        people.append(StaffFollowUps(name, row["open"], row["overdue"], row["done"], row["done_on_time"]))
    return sorted(people, key=lambda p: (-(p.open + p.done), p.name))


def latency_per_day(user: selectors.User, period: Period) -> list[DayLatency]:
    """p50 and p95 of how soon each of the agent's replies starts (the end of the caller's words to the reply's
    first frame, ``FIRST_REPLY_KEY``), per local day of their call. Every reply counts, not only a call's
    first: the caller waits at each turn."""
    start, end = bounds(period)
    tz = timezone.get_current_timezone()
    rows = (
        selectors.utterances_for(user)
        .filter(speaker=Utterance.Speaker.AGENT, call__started_at__gte=start, call__started_at__lt=end)
        .filter(latency__has_key=FIRST_REPLY_KEY)
        .annotate(day=TruncDate("call__started_at", tzinfo=tz))
        .values_list("day", "latency")
    )
    values: dict[date, list[float]] = defaultdict(list)
    for day, latency in rows:
        value = latency.get(FIRST_REPLY_KEY) if isinstance(latency, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            values[day].append(float(value))
    return [
        DayLatency(day, len(values[day]), percentile(values[day], 50), percentile(values[day], 95))
        for day in period.days
    ]


def errors_per_day(user: selectors.User, period: Period) -> list[DayErrors]:
    """Provider errors on calls' timelines (``error`` rows naming a provider role), per local day they happened,
    by provider. Errors of the jobs after a call (they name a stage, not a role) are not the providers' live
    failures and are left out."""
    start, end = bounds(period)
    tz = timezone.get_current_timezone()
    rows = (
        selectors.events_for(user)
        .filter(kind=CallEvent.Kind.ERROR, created_at__gte=start, created_at__lt=end, payload__role__in=ERROR_ROLES)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values_list("day", "payload")
    )
    counts: dict[date, Counter[str]] = defaultdict(Counter)
    for day, payload in rows:
        counts[day][ERROR_GROUPS.get(payload.get("role", ""), "other")] += 1
    return [DayErrors(day, dict(counts.get(day, {}))) for day in period.days]


def dashboard_stats(
    user: selectors.User, *, period: Period | None = None, days: int = 14, today: date | None = None
) -> DashboardStats:
    """Everything the front page shows for ``period`` (by default the last ``days`` local days, today included)."""
    today = today or timezone.localdate()
    period = period or Period.ending(today, days)
    calls = calls_in(user, period)
    average = calls.filter(duration_seconds__isnull=False).aggregate(avg=Avg("duration_seconds"))["avg"]
    start, end = bounds(period)
    leads = selectors.leads_for(user)
    created = leads.filter(created_at__gte=start, created_at__lt=end)
    funnel, lost = lead_funnel(created)
    return DashboardStats(
        period=period,
        calls_per_day=calls_per_day(calls, period),
        average_duration_s=float(average) if average is not None else None,
        leads_created=created.count(),
        follow_ups_today=leads.filter(next_follow_up=today).count(),
        follow_ups_overdue=leads.filter(next_follow_up__lt=today).exclude(status__in=["won", "lost"]).count(),
        funnel=funnel,
        lost=lost,
        staff=staff_follow_ups(user, period),
        latency_per_day=latency_per_day(user, period),
        errors_per_day=errors_per_day(user, period),
        busiest_hours=busiest_hours(calls),
    )
