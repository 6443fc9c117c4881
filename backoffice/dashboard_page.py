"""What the dashboard on the admin's front page needs: the period from the GET form, the figures for it, and
their charts (empty charts are not drawn; the template says there is nothing to show)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from backoffice import charts
from backoffice.dashboard import DashboardStats, dashboard_stats
from backoffice.dashboard_range import DEFAULT_DAYS, chosen_period, presets


def call_series(stats: DashboardStats) -> list[charts.Series]:
    days = stats.calls_per_day
    return [
        charts.Series("answered", _("Answered by the agent"), [d.answered for d in days]),
        charts.Series("transferred", _("Transferred to a person"), [d.transferred for d in days]),
        charts.Series("voicemail", _("Voicemail"), [d.voicemail for d in days]),
        charts.Series("other", _("No message"), [d.other for d in days]),
    ]


def error_series(stats: DashboardStats) -> list[charts.Series]:
    days = stats.errors_per_day
    labels = {
        "asr": _("Speech recognition"),
        "llm": _("Language model"),
        "tts": _("Speech synthesis"),
        "other": _("Other"),
    }
    return [charts.Series(key, label, [d.by_group.get(key, 0) for d in days]) for key, label in labels.items()]


def duration_text(seconds: float | None) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}" if seconds is not None else "—"


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    today = timezone.localdate()
    period, form = chosen_period(request.GET, today)
    stats = dashboard_stats(request.user, period=period, today=today)
    days = [d.day for d in stats.calls_per_day]
    calls = call_series(stats)
    errors = error_series(stats)
    latency_rows = [(d.day, d.p50, d.p95, d.replies) for d in stats.latency_per_day]
    funnel = [(stage.status, stage.label, stage.count) for stage in stats.funnel]
    rtl = translation.get_language_bidi()
    return {
        "stats": stats,
        "period": period,
        "form": form,
        "relative_days": period.length if period.last == today else None,
        "default_days": DEFAULT_DAYS,
        "presets": [(n, p.query(), p == period) for n, p in presets(today)],
        "calls_chart": charts.stacked_day_chart(days, calls, _("Calls per day, by outcome"), css="calls")
        if stats.calls
        else "",
        "call_series": calls,
        "hours_chart": charts.hour_chart(stats.busiest_hours, _("Calls by hour of the day")) if stats.calls else "",
        "funnel_chart": charts.funnel_chart(funnel, _("Lead funnel"), rtl=rtl) if stats.leads_created else "",
        "latency_chart": charts.latency_day_chart(latency_rows, _("Time to the agent's first reply, per day"))
        if stats.replies
        else "",
        "errors_chart": charts.stacked_day_chart(days, errors, _("Provider errors per day"), css="errors")
        if stats.errors
        else "",
        "error_series": errors,
        "average_duration": duration_text(stats.average_duration_s),
        "calls_url": reverse("admin:crm_call_changelist"),
        "live_url": reverse("admin:crm_call_live"),
        "leads_url": reverse("admin:crm_lead_changelist"),
        "follow_ups_url": reverse("admin:followup_followup_changelist"),
        "follow_ups_today_url": reverse("admin:crm_lead_changelist") + "?follow_up=today",
        "follow_ups_overdue_url": reverse("admin:crm_lead_changelist") + "?follow_up=overdue",
        "today": today.isoformat(),
    }
