"""Template tags for follow-up tasks on our admin pages: the user's tasks on the front page, their count in
the header, and whether the "call back" button can be shown (backoffice/admin_followups.py)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from backoffice.admin_followups import call_back_enabled as _call_back_enabled
from backoffice.admin_followups import my_open_follow_ups, today_bounds, works_for_a_business
from backoffice.phone_display import phone_html

register = template.Library()

UPCOMING_SHOWN = 10


@register.simple_tag(takes_context=True)
def follow_ups_due_count(context: template.Context) -> int | None:
    """The user's open tasks whose time has come; None for someone who works for no business (no list)."""
    request = context.get("request")
    if request is None or not works_for_a_business(request.user):
        return None
    return my_open_follow_ups(request.user).filter(due_at__lte=timezone.now()).count()


@register.simple_tag
def call_back_enabled() -> bool:
    return _call_back_enabled()


@register.inclusion_tag("backoffice/followups/my_follow_ups.html", takes_context=True)
def my_follow_ups(context: template.Context) -> dict[str, Any]:
    """The user's open tasks: overdue, today's, and the next few."""
    request = context["request"]
    now = timezone.now()
    _, end_of_today = today_bounds(now)
    tasks = list(my_open_follow_ups(request.user).filter(due_at__lt=end_of_today))
    upcoming = list(my_open_follow_ups(request.user).filter(due_at__gte=end_of_today)[:UPCOMING_SHOWN])
    return {
        "request": request,
        "show": works_for_a_business(request.user),
        "overdue": [t for t in tasks if t.due_at < now],
        "today": [t for t in tasks if t.due_at >= now],
        "upcoming": upcoming,
        "call_back_enabled": _call_back_enabled(),
    }


@register.filter
def local_phone(number: str | None) -> str:
    """The same as the `phone` filter of backoffice_admin (one way to show a phone), for the follow-up
    templates that load only this library."""
    return phone_html(number)
