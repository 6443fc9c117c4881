"""Phone numbers in plain text that sits among Hebrew: page titles, breadcrumbs, the admin's history, select
options, messages. None of these can hold HTML, so the number is wrapped in the Unicode isolates
(U+2066 LEFT-TO-RIGHT ISOLATE … U+2069 POP DIRECTIONAL ISOLATE): without them the bidi algorithm lays the
digit groups of "050-123 4567" out right to left ("4567 050-123") and moves the "+" of "+972…" to the end.

HTML places use `backoffice.phone_display.phone_html` (a <bdi dir="ltr">), built on the same `shown_phone`.
"""

from __future__ import annotations

from django.utils.translation import get_language_bidi

from crm.phones import display_phone, normalize_phone

LRI = "\u2066"  # LEFT-TO-RIGHT ISOLATE
PDI = "\u2069"  # POP DIRECTIONAL ISOLATE
NO_PHONE = "—"  # no number, or a hidden caller ("anonymous", "client:…")


def isolate_ltr(text: str) -> str:
    """`text` as one left-to-right unit that its right-to-left surroundings cannot reorder."""
    return f"{LRI}{text}{PDI}"


def shown_phone(number: str | None) -> str:
    """The number the way people dial it: local format for Israeli numbers ("050-123-4567"), international
    for others ("+1 415-867-5309"); "" for no number or a hidden caller, which are not numbers at all."""
    e164 = normalize_phone(number)
    return display_phone(e164) if e164 else ""


def phone_text(number: str | None) -> str:
    """A number for plain text among Hebrew: isolated, in the local format; "—" when there is none."""
    shown = shown_phone(number)
    return isolate_ltr(shown) if shown else NO_PHONE


def route_arrow() -> str:
    """An arrow from the first of two items to the second in the active language's reading direction: in
    right-to-left text the first item is laid out on the right, so the arrow must point left. Measured in
    Chromium (tests/e2e/test_phones_rtl.py): "→" there points back at the caller."""
    return "←" if get_language_bidi() else "→"


def route_text(from_number: str | None, to_number: str | None) -> str:
    """Who called whom, in plain text: "050-123-4567 ← 03-376-3805" reads caller first in Hebrew."""
    return f"{phone_text(from_number)} {route_arrow()} {phone_text(to_number)}"
