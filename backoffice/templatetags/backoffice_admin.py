"""Template tags for our admin pages: the dashboard on the admin's front page."""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils import timezone

from backoffice.charts import daily_bar_chart
from backoffice.dashboard import dashboard_stats

register = template.Library()


@register.inclusion_tag("admin/crm/dashboard.html", takes_context=True)
def crm_dashboard(context) -> dict:
    request = context["request"]
    stats = dashboard_stats(request.user)
    today = timezone.localdate().isoformat()
    average = stats.average_duration_s
    return {
        "stats": stats,
        "chart": daily_bar_chart(stats.days),
        "average_duration": f"{int(average) // 60}:{int(average) % 60:02d}" if average is not None else "—",
        "calls_url": reverse("admin:crm_call_changelist"),
        "live_url": reverse("admin:crm_call_live"),
        "leads_url": reverse("admin:crm_lead_changelist"),
        "follow_ups_today_url": reverse("admin:crm_lead_changelist") + "?follow_up=today",
        "follow_ups_overdue_url": reverse("admin:crm_lead_changelist") + "?follow_up=overdue",
        "today": today,
    }
