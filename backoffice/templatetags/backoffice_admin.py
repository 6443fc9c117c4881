"""Template tags for our admin pages: the dashboard on the admin's front page, and the `phone` filter, the one
way a phone number is shown in a template (backoffice/phone_display.py)."""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils import timezone

from backoffice.charts import daily_bar_chart
from backoffice.dashboard import dashboard_stats
from backoffice.phone_display import phone_html

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


@register.filter
def phone(number: str | None) -> str:
    """`{{ lead.phone|phone }}`: the number as people dial it ("050-123-4567"), isolated from the Hebrew around
    it and kept on one line; "—" for no number or a hidden caller."""
    return phone_html(number)
