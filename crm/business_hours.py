"""Is the business open, and when does it open next: in the business's own time zone.

Reads ``Business.opening_hours``, ``closed_dates`` and ``time_zone`` (format in ``crm.opening_hours``).
A business with no hours set at all counts as always open (it answers as it did before hours existed).
Ranges that meet at midnight (Thursday until 24:00, Friday from 00:00) are one stretch: Friday 00:00 is
not an "opening". A closed date closes the whole local day.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm.defaults import DEFAULT_TIME_ZONE, NEXT_OPEN_UNKNOWN
from crm.opening_hours import minutes, weekday_key

log = logging.getLogger(__name__)

# How far ahead to look for the next opening (a long closure list may close weeks in a row).
LOOKAHEAD_DAYS = 400

DAY_NAMES = {
    "sun": "יום ראשון",
    "mon": "יום שני",
    "tue": "יום שלישי",
    "wed": "יום רביעי",
    "thu": "יום חמישי",
    "fri": "יום שישי",
    "sat": "שבת",
}


class HasHours(Protocol):
    """What these functions read of a ``Business`` (so tests and previews can pass a plain object)."""

    opening_hours: dict[str, list[list[str]]]
    closed_dates: list[str]
    time_zone: str


def zone_of(business: HasHours) -> ZoneInfo:
    try:
        return ZoneInfo(business.time_zone or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r: using %s", business.time_zone, DEFAULT_TIME_ZONE)
        return ZoneInfo(DEFAULT_TIME_ZONE)


def local_time(business: HasHours, at: dt.datetime) -> dt.datetime:
    """``at`` (aware) on the business's clock."""
    return at.astimezone(zone_of(business))


def hours_are_set(business: HasHours) -> bool:
    return any(business.opening_hours.get(day) for day in (business.opening_hours or {}))


def _moment(day: dt.date, hhmm: str, zone: ZoneInfo) -> dt.datetime:
    # "24:00" is the next day's midnight; wall-clock times, so a DST change shifts them as it does the door.
    return dt.datetime.combine(day, dt.time(), tzinfo=zone) + dt.timedelta(minutes=minutes(hhmm))


def _stretches(business: HasHours, first: dt.date, days: int) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Open stretches from ``first`` on, in order, ranges that touch (across midnight too) merged."""
    zone = zone_of(business)
    closed = set(business.closed_dates or [])
    hours = business.opening_hours or {}
    current: tuple[dt.datetime, dt.datetime] | None = None
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        if day.isoformat() in closed:
            continue
        for start_hhmm, end_hhmm in hours.get(weekday_key(day), []):
            start, end = _moment(day, start_hhmm, zone), _moment(day, end_hhmm, zone)
            if current is not None and start <= current[1]:
                current = (current[0], max(current[1], end))
                continue
            if current is not None:
                yield current
            current = (start, end)
    if current is not None:
        yield current


def is_open(business: HasHours, at: dt.datetime) -> bool:
    """Open at ``at`` (an aware datetime)? Always true when no hours are set."""
    if not hours_are_set(business):
        return True
    local = local_time(business, at)
    # From yesterday: a stretch that began last night may still be running.
    stretches = _stretches(business, local.date() - dt.timedelta(days=1), 3)
    return any(start <= at < end for start, end in stretches)


def next_opening(business: HasHours, at: dt.datetime) -> dt.datetime | None:
    """When the business next opens after ``at``, on its own clock; None when no hours are set or nothing
    opens within ``LOOKAHEAD_DAYS``. While open, that is the start of the next stretch."""
    if not hours_are_set(business):
        return None
    local = local_time(business, at)
    for start, _end in _stretches(business, local.date() - dt.timedelta(days=1), LOOKAHEAD_DAYS):
        if start > at:
            return start.astimezone(local.tzinfo)
    return None


def say_next_opening(opening: dt.datetime | None, now: dt.datetime) -> str:
    """Hebrew for when it opens, relative to ``now`` (both on the business's clock): "היום בשעה 16:00",
    "מחר בשעה 09:00", "ביום ראשון בשעה 09:00", "ביום ראשון, 20/04, בשעה 09:00" beyond a week. The digits
    stay digits: the text-to-speech normaliser says them."""
    if opening is None:
        return NEXT_OPEN_UNKNOWN
    opening = opening.astimezone(now.tzinfo)
    time = opening.strftime("%H:%M")
    days = (opening.date() - now.date()).days
    if days == 0:
        return f"היום בשעה {time}"
    if days == 1:
        return f"מחר בשעה {time}"
    name = DAY_NAMES[weekday_key(opening.date())]
    if days < 7:
        return f"ב{name} בשעה {time}"
    return f"ב{name}, {opening.strftime('%d/%m')}, בשעה {time}"


def say_now(now: dt.datetime) -> str:
    """Hebrew for a moment on the business's clock, for the prompt: "יום ראשון, 13/04/2025, 10:30"."""
    return f"{DAY_NAMES[weekday_key(now.date())]}, {now.strftime('%d/%m/%Y')}, {now.strftime('%H:%M')}"
