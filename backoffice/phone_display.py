"""Phone numbers on our admin pages: one way to show them, everywhere (the `phone` template filter, list
columns, the call and live pages, the line check, the recordings list).

A number is shown the way people dial it ("050-123-4567"; international for foreign numbers) inside
<bdi dir="ltr" class="phone">: isolated, so Hebrew around it cannot reorder its digit groups or move a "+" to
its end, and kept on one line by the `.phone` rule in static/crm/admin.css. Plain text (titles, messages)
uses the same format with Unicode isolates: `crm.phone_text`.
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.safestring import SafeString

from crm.phone_text import NO_PHONE, isolate_ltr, phone_text, route_arrow, route_text, shown_phone

__all__ = ["NO_PHONE", "isolated_hint", "ltr_html", "phone_html", "phone_text", "route_html", "route_text"]


def phone_html(number: str | None) -> str:
    """A phone number isolated from the surrounding RTL text, in the local format people dial; "—" for none."""
    shown = shown_phone(number)
    if not shown:
        return NO_PHONE
    return format_html('<bdi dir="ltr" class="phone">{}</bdi>', shown)


def route_html(from_number: str | None, to_number: str | None) -> SafeString:
    """Who called whom: both numbers isolated, with an arrow that points from the caller in the page's
    reading direction (on a right-to-left page the caller is on the right)."""
    return format_html(
        '<span class="phone-route">{} {} {}</span>', phone_html(from_number), route_arrow(), phone_html(to_number)
    )


def ltr_html(text: str) -> SafeString:
    """A left-to-right fragment among Hebrew, such as a unit ("8 kHz") or a number typed as an example."""
    return format_html('<bdi dir="ltr">{}</bdi>', text)


def _interpolate_isolated(message: Any, values: dict[str, str]) -> str:
    return str(message) % {key: isolate_ltr(value) for key, value in values.items()}


_lazy_interpolate = lazy(_interpolate_isolated, str)


def isolated_hint(message: Any, **examples: str) -> str:
    """A (lazily translated) plain-text hint whose %(name)s placeholders are filled with isolated examples:
    search hints are escaped text, so the examples ("050-123 4567", "+972…") are wrapped in Unicode isolates
    rather than HTML. Translated when shown, in the user's language."""
    return _lazy_interpolate(message, examples)
