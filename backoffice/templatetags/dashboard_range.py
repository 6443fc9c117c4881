"""The dashboard on the admin's front page, for the period chosen in its GET form (backoffice/dashboard_page.py)."""

from __future__ import annotations

from typing import Any

from django import template

from backoffice.dashboard_page import dashboard_context

register = template.Library()


@register.inclusion_tag("admin/crm/dashboard.html", takes_context=True)
def crm_dashboard_for_period(context: template.Context) -> dict[str, Any]:
    return dashboard_context(context["request"])
