"""Template tags for our admin pages: the `phone` filter, the one way a phone number is shown in a template
(backoffice/phone_display.py). The dashboard's tag is in dashboard_range.py."""

from __future__ import annotations

from django import template

from backoffice.phone_display import phone_html

register = template.Library()


@register.filter
def phone(number: str | None) -> str:
    """`{{ lead.phone|phone }}`: the number as people dial it ("050-123-4567"), isolated from the Hebrew around
    it and kept on one line; "—" for no number or a hidden caller."""
    return phone_html(number)
