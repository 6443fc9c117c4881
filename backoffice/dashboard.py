"""The numbers on the admin's front page, for the businesses a user belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Avg, Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from crm import selectors
from crm.models import Call


@dataclass(frozen=True)
class DashboardStats:
    days: list[tuple[date, int]]  # calls per local day, oldest first, every day present
    calls: int
    answered_by_agent: int  # the caller talked with the agent
    voicemail: int
    average_duration_s: float | None
    leads_created: int
    follow_ups_today: int
    follow_ups_overdue: int

    @property
    def agent_share(self) -> int | None:
        """Percent of calls with an outcome that the agent handled (rather than voicemail)."""
        handled = self.answered_by_agent + self.voicemail
        return round(100 * self.answered_by_agent / handled) if handled else None


def dashboard_stats(user: selectors.User, *, days: int = 14, today: date | None = None) -> DashboardStats:
    """Calls of the last ``days`` local days (today included), leads created in them, follow-ups due."""
    today = today or timezone.localdate()
    first = today - timedelta(days=days - 1)
    tz = timezone.get_current_timezone()
    calls = (
        selectors.calls_for(user)
        .annotate(day=TruncDate("started_at", tzinfo=tz))
        .filter(day__gte=first, day__lte=today)
    )
    per_day = dict(calls.order_by().values_list("day").annotate(n=Count("id")))
    outcomes = dict(calls.order_by().values_list("outcome").annotate(n=Count("id")))
    average = calls.filter(duration_seconds__isnull=False).aggregate(avg=Avg("duration_seconds"))["avg"]
    leads = selectors.leads_for(user)
    leads_created = (
        leads.annotate(day=TruncDate("created_at", tzinfo=tz)).filter(day__gte=first, day__lte=today).count()
    )
    return DashboardStats(
        days=[(first + timedelta(days=i), per_day.get(first + timedelta(days=i), 0)) for i in range(days)],
        calls=sum(per_day.values()),
        answered_by_agent=outcomes.get(Call.Outcome.CONVERSATION, 0),
        voicemail=outcomes.get(Call.Outcome.VOICEMAIL, 0),
        average_duration_s=float(average) if average is not None else None,
        leads_created=leads_created,
        follow_ups_today=leads.filter(next_follow_up=today).count(),
        follow_ups_overdue=leads.filter(next_follow_up__lt=today).exclude(status__in=["won", "lost"]).count(),
    )
