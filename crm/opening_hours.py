"""Opening hours as the owner writes them and as ``Business`` stores them.

Stored: ``opening_hours`` is ``{"sun": [["09:00", "13:00"], ["16:00", "19:00"]], ...}`` (weekday keys in
``WEEKDAYS``; a day with no ranges is closed; "24:00" ends a day, so a night that runs past midnight is two
ranges: Thursday "20:00-24:00" and Friday "00:00-02:00"); ``closed_dates`` is a list of ISO dates.
Written: "09:00-13:00, 16:00-19:00" per day, and one date per line. Parsing raises ``ValidationError`` with
a message for the person who typed it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# The Israeli week: Sunday first.
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
WEEKDAY_LABELS = {
    "sun": _("Sunday"),
    "mon": _("Monday"),
    "tue": _("Tuesday"),
    "wed": _("Wednesday"),
    "thu": _("Thursday"),
    "fri": _("Friday"),
    "sat": _("Saturday"),
}
MAX_CLOSED_DATES = 200

_RANGE = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*[-–—]\s*(\d{1,2})(?::(\d{2}))?$")
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y")


def weekday_key(day: dt.date) -> str:
    """The ``WEEKDAYS`` key of a date (Python counts from Monday)."""
    return WEEKDAYS[(day.weekday() + 1) % 7]


def minutes(hhmm: str) -> int:
    """Minutes since midnight of a stored "HH:MM" (up to "24:00")."""
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def _hhmm(hours: str, mins: str | None, text: str) -> str:
    h, m = int(hours), int(mins or 0)
    if h > 24 or m > 59 or (h == 24 and m):
        raise ValidationError(
            _("“%(range)s”: %(time)s is not a time of day."),
            code="invalid_time",
            params={"range": text, "time": f"{h}:{m:02d}"},
        )
    return f"{h:02d}:{m:02d}"


def parse_ranges(text: str) -> list[list[str]]:
    """One day's ranges from "09:00-13:00, 16:00-19:00" (commas, semicolons or lines between them; an
    empty text is a closed day). Ranges are sorted; one that ends before it starts, or two that overlap, is
    an error."""
    ranges: list[list[str]] = []
    for part in re.split(r"[,;\n]+", text or ""):
        part = part.strip()
        if not part:
            continue
        match = _RANGE.match(part)
        if match is None:
            raise ValidationError(
                _("“%(range)s” is not a range of hours. Write it like 09:00-17:00."),
                code="invalid_range",
                params={"range": part},
            )
        start = _hhmm(match[1], match[2], part)
        end = _hhmm(match[3], match[4], part)
        if minutes(end) <= minutes(start):
            raise ValidationError(
                _(
                    "“%(range)s” ends before it starts. A night past midnight is two ranges: "
                    "until 24:00, and from 00:00 on the next day."
                ),
                code="range_ends_before_start",
                params={"range": part},
            )
        ranges.append([start, end])
    ranges.sort(key=lambda r: minutes(r[0]))
    for before, after in itertools.pairwise(ranges):
        if minutes(after[0]) < minutes(before[1]):
            raise ValidationError(
                _("%(first)s and %(second)s overlap."),
                code="overlapping_ranges",
                params={"first": "-".join(before), "second": "-".join(after)},
            )
    return ranges


def format_ranges(ranges: list[list[str]]) -> str:
    return ", ".join(f"{start}-{end}" for start, end in ranges)


def parse_dates(text: str) -> list[str]:
    """Closure dates, one per line (2025-04-13, 13/04/2025 or 13.4.2025), as sorted unique ISO dates."""
    found: set[str] = set()
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        for fmt in _DATE_FORMATS:
            try:
                found.add(dt.datetime.strptime(line, fmt).date().isoformat())
                break
            except ValueError:
                continue
        else:
            raise ValidationError(
                _("“%(value)s” is not a date. Write one date per line, like 2025-04-13 or 13/04/2025."),
                code="invalid_date",
                params={"value": line},
            )
    if len(found) > MAX_CLOSED_DATES:
        raise ValidationError(
            _("Too many closed dates (%(count)d; at most %(max)d). Remove dates that have passed."),
            code="too_many_dates",
            params={"count": len(found), "max": MAX_CLOSED_DATES},
        )
    return sorted(found)


def format_dates(dates: list[str]) -> str:
    return "\n".join(dates)
