"""Open or closed, and when it opens next: on the business's own clock, across midnight and closures."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from crm.business_hours import is_open, next_opening, say_next_opening, say_now
from crm.opening_hours import parse_dates, parse_ranges, weekday_key

JERUSALEM = ZoneInfo("Asia/Jerusalem")
WEEKDAY_HOURS = {day: [["09:00", "17:00"]] for day in ("sun", "mon", "tue", "wed", "thu")}


@dataclass
class Hours:
    """Just what crm.business_hours reads of a Business."""

    opening_hours: dict[str, list[list[str]]] = field(default_factory=lambda: dict(WEEKDAY_HOURS))
    closed_dates: list[str] = field(default_factory=list)
    time_zone: str = "Asia/Jerusalem"


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0, zone: ZoneInfo = JERUSALEM) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=zone)


# 2025-04-06 is a Sunday.
def test_the_weekday_keys_start_on_sunday():
    assert weekday_key(dt.date(2025, 4, 6)) == "sun"
    assert weekday_key(dt.date(2025, 4, 12)) == "sat"


def test_open_inside_a_range_closed_outside_it_and_the_end_is_exclusive():
    hours = Hours()
    assert is_open(hours, local(2025, 4, 6, 9, 0))
    assert is_open(hours, local(2025, 4, 6, 16, 59))
    assert not is_open(hours, local(2025, 4, 6, 17, 0))
    assert not is_open(hours, local(2025, 4, 6, 8, 59))
    assert not is_open(hours, local(2025, 4, 11, 12, 0))  # Friday: no ranges


def test_no_hours_at_all_means_always_open_and_no_next_opening():
    hours = Hours(opening_hours={})
    assert is_open(hours, local(2025, 4, 12, 3, 0))
    assert next_opening(hours, local(2025, 4, 12, 3, 0)) is None


def test_is_judged_on_the_business_clock_not_utc():
    hours = Hours()
    # 06:30 UTC on a Sunday in April is 09:30 in Jerusalem (UTC+3): open.
    assert is_open(hours, dt.datetime(2025, 4, 6, 6, 30, tzinfo=dt.UTC))
    # The same instant for a business in New York is 02:30 on Sunday: closed.
    assert not is_open(Hours(time_zone="America/New_York"), dt.datetime(2025, 4, 6, 6, 30, tzinfo=dt.UTC))


def test_a_night_past_midnight_is_one_stretch():
    # Thursday 20:00-24:00 and Friday 00:00-02:00: open through midnight, closed at 02:00.
    hours = Hours(opening_hours={"thu": [["20:00", "24:00"]], "fri": [["00:00", "02:00"]]})
    assert is_open(hours, local(2025, 4, 10, 23, 59))
    assert is_open(hours, local(2025, 4, 11, 0, 0))
    assert is_open(hours, local(2025, 4, 11, 1, 59))
    assert not is_open(hours, local(2025, 4, 11, 2, 0))
    # Friday 00:00 is not an opening: while open on Thursday night the next opening is next Thursday.
    assert next_opening(hours, local(2025, 4, 10, 23, 0)) == local(2025, 4, 17, 20, 0)
    assert next_opening(hours, local(2025, 4, 11, 3, 0)) == local(2025, 4, 17, 20, 0)


def test_next_opening_later_today_tomorrow_and_after_the_weekend():
    hours = Hours(opening_hours={**WEEKDAY_HOURS, "sun": [["09:00", "13:00"], ["16:00", "19:00"]]})
    assert next_opening(hours, local(2025, 4, 6, 7, 0)) == local(2025, 4, 6, 9, 0)
    assert next_opening(hours, local(2025, 4, 6, 14, 0)) == local(2025, 4, 6, 16, 0)  # the afternoon range
    assert next_opening(hours, local(2025, 4, 6, 20, 0)) == local(2025, 4, 7, 9, 0)
    assert next_opening(hours, local(2025, 4, 10, 18, 0)) == local(2025, 4, 13, 9, 0)  # Thu evening -> Sun


def test_closed_dates_close_the_whole_day_and_are_skipped_for_the_next_opening():
    hours = Hours(closed_dates=["2025-04-13", "2025-04-14"])
    assert not is_open(hours, local(2025, 4, 13, 10, 0))
    assert next_opening(hours, local(2025, 4, 10, 18, 0)) == local(2025, 4, 15, 9, 0)


def test_a_closed_date_also_closes_the_after_midnight_part_of_the_night_before():
    hours = Hours(opening_hours={"thu": [["20:00", "24:00"]], "fri": [["00:00", "02:00"]]}, closed_dates=["2025-04-11"])
    assert is_open(hours, local(2025, 4, 10, 23, 0))
    assert not is_open(hours, local(2025, 4, 11, 1, 0))


def test_days_listed_without_ranges_count_as_no_hours_set():
    hours = Hours(opening_hours={"sun": [], "mon": []})
    assert is_open(hours, local(2025, 4, 6, 3, 0))
    assert next_opening(hours, local(2025, 4, 6, 3, 0)) is None


def test_nothing_opening_within_the_lookahead_gives_none():
    sundays = [(dt.date(2025, 4, 6) + dt.timedelta(weeks=w)).isoformat() for w in range(60)]
    hours = Hours(opening_hours={"sun": [["09:00", "10:00"]]}, closed_dates=sundays)
    assert not is_open(hours, local(2025, 4, 6, 9, 30))
    assert next_opening(hours, local(2025, 4, 6, 11, 0)) is None


def test_an_unknown_time_zone_falls_back_to_jerusalem():
    assert is_open(Hours(time_zone="Mars/Olympus"), local(2025, 4, 6, 10, 0))


def test_a_dst_change_keeps_the_wall_clock_hours():
    # Israel moved to summer time on Friday 2025-03-28; Sunday 09:00 is 09:00 on the wall either side.
    hours = Hours()
    assert next_opening(hours, local(2025, 3, 27, 18, 0)) == local(2025, 3, 30, 9, 0)
    assert next_opening(hours, local(2025, 3, 27, 18, 0)).utcoffset() == dt.timedelta(hours=3)


@pytest.mark.parametrize(
    ("now", "opening", "said"),
    [
        (local(2025, 4, 6, 7, 0), local(2025, 4, 6, 9, 0), "היום בשעה 09:00"),
        (local(2025, 4, 6, 20, 0), local(2025, 4, 7, 9, 0), "מחר בשעה 09:00"),
        (local(2025, 4, 10, 18, 0), local(2025, 4, 13, 9, 30), "ביום ראשון בשעה 09:30"),
        (local(2025, 4, 10, 18, 0), local(2025, 4, 12, 20, 0), "בשבת בשעה 20:00"),
        (local(2025, 4, 10, 18, 0), local(2025, 4, 20, 9, 0), "ביום ראשון, 20/04, בשעה 09:00"),
        (local(2025, 4, 10, 18, 0), None, "בהקדם"),
    ],
)
def test_the_next_opening_in_hebrew(now, opening, said):
    assert say_next_opening(opening, now) == said


def test_the_next_opening_is_said_on_the_business_clock():
    utc_opening = dt.datetime(2025, 4, 7, 6, 0, tzinfo=dt.UTC)  # 09:00 in Jerusalem
    assert say_next_opening(utc_opening, local(2025, 4, 6, 20, 0)) == "מחר בשעה 09:00"


def test_now_in_hebrew_for_the_prompt():
    assert say_now(local(2025, 4, 6, 10, 30)) == "יום ראשון, 06/04/2025, 10:30"


# -- what owners write -------------------------------------------------------------------------------------
def test_ranges_are_read_sorted_and_normalised():
    assert parse_ranges("16:00-19:00, 9-13") == [["09:00", "13:00"], ["16:00", "19:00"]]
    assert parse_ranges("20:00–24:00") == [["20:00", "24:00"]]
    assert parse_ranges("09:00-13:00\n13:00-17:00") == [["09:00", "13:00"], ["13:00", "17:00"]]  # touching is fine
    assert parse_ranges("  ") == []


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("17:00-09:00", "range_ends_before_start"),
        ("09:00-09:00", "range_ends_before_start"),
        ("09:00-13:00, 12:00-15:00", "overlapping_ranges"),
        ("nine to five", "invalid_range"),
        ("09:00-25:00", "invalid_time"),
        ("09:75-10:00", "invalid_time"),
        ("24:30-24:45", "invalid_time"),
    ],
)
def test_bad_ranges_are_refused_with_a_reason(text, code):
    with pytest.raises(ValidationError) as error:
        parse_ranges(text)
    assert error.value.code == code


def test_closed_dates_in_several_formats_become_sorted_iso_dates():
    assert parse_dates("13/04/2025\n2025-04-12\n\n14.4.2025\n2025-04-12") == ["2025-04-12", "2025-04-13", "2025-04-14"]


@pytest.mark.parametrize("text", ["2025-02-30", "tomorrow", "13/13/2025"])
def test_a_bad_date_is_refused(text):
    with pytest.raises(ValidationError) as error:
        parse_dates(text)
    assert error.value.code == "invalid_date"
    assert text in str(error.value.messages[0]) or text in error.value.params["value"]
