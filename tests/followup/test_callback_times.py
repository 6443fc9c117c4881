"""A callback request as a moment on the business's clock (crm/callback_times.py): the caller's words, or the
model's ISO time, resolved against when they were said and moved into the business's opening hours."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest

from crm.callback_times import BadCallbackTime, callback_at_from_llm, resolve_callback_time

TZ = ZoneInfo("Asia/Jerusalem")
WEEK = {day: [["09:00", "17:00"]] for day in ("sun", "mon", "tue", "wed", "thu")}


@dataclass
class Hours:
    opening_hours: dict = field(default_factory=lambda: {**WEEK, "fri": [["09:00", "13:00"]]})
    closed_dates: list = field(default_factory=list)
    time_zone: str = "Asia/Jerusalem"


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """April 2025 on the business's clock: the 13th is a Sunday."""
    return dt.datetime(2025, 4, day, hour, minute, tzinfo=TZ)


SUNDAY_MORNING = at(13, 10, 30)


@pytest.mark.parametrize(
    "words, expected",
    [
        ("מחר בבוקר", at(14, 9)),
        ("היום אחר הצהריים", at(13, 16)),
        ("היום אחרי הצהריים", at(13, 16)),
        ('אחה"צ', at(13, 16)),
        ("בצהריים", at(13, 12)),
        ("מחר", at(14, 9)),
        ("מחרתיים ב-10", at(15, 10)),
        ("ביום שלישי", at(15, 9)),
        ("ביום ג'", at(15, 9)),
        ("ביום רביעי בארבע", at(16, 16)),
        ("בעוד שעה", at(13, 11, 30)),
        ("בעוד שעתיים", at(13, 12, 30)),
        ("בעוד חצי שעה", at(13, 11)),
        ("בעוד 20 דקות", at(13, 10, 50)),
        ("אחרי 4", at(13, 16)),
        ("אחרי ארבע וחצי", at(13, 16, 30)),
        ("מחר ב-11", at(14, 11)),
        ("מחר בשעה 14:15", at(14, 14, 15)),
        ("ב-16/4 ב-10", at(16, 10)),
        ("בהקדם", SUNDAY_MORNING),
        ("היום", SUNDAY_MORNING),  # today, not earlier than now
        ("בשבוע הבא", at(20, 9)),
    ],
)
def test_what_the_caller_said_becomes_a_moment_within_opening_hours(words, expected):
    assert resolve_callback_time(words, Hours(), SUNDAY_MORNING) == expected


@pytest.mark.parametrize(
    "words, now, expected",
    [
        # After closing, or on a closed day, the call back moves to the next opening.
        ("בערב", SUNDAY_MORNING, at(14, 9)),  # 18:00 is after closing (17:00)
        ("אחרי 4", at(13, 17, 30), at(14, 16)),  # four has passed today: tomorrow at four
        ("בשבת", SUNDAY_MORNING, at(20, 9)),  # closed on Saturday: Sunday's opening
        ("ביום שישי אחרי 4", SUNDAY_MORNING, at(20, 9)),  # Friday closes at 13:00
        ("בעוד שעה", at(17, 16, 30), at(18, 9)),  # Thursday 17:30 → Friday 9:00
        ("היום", at(13, 20), at(14, 9)),
    ],
)
def test_a_time_when_the_business_is_closed_moves_to_the_next_opening(words, now, expected):
    assert resolve_callback_time(words, Hours(), now) == expected


# -- misreads a review found (said on Sunday 13 April at 11:00) --------------------------------------------------
SUNDAY_AT_ELEVEN = at(13, 11)


@pytest.mark.parametrize(
    "words, expected",
    [
        # Days, weeks and months ahead keep the time of day; a number before a unit is a count, not an hour.
        ("בעוד 3 ימים", at(16, 11)),
        ("בעוד יומיים", at(15, 11)),
        ("בעוד יום", at(14, 11)),
        ("בעוד שבוע", at(20, 11)),
        ("בעוד שבועיים", at(27, 11)),
        ("בעוד שלושה ימים", at(16, 11)),
        ("בעוד 2 שבועות", at(27, 11)),
        ("בעוד חודש", dt.datetime(2025, 5, 13, 11, tzinfo=TZ)),
        ("בעוד יומיים בבוקר", at(15, 9)),  # a time said with the days still counts
        ("בעוד שבוע ב-10", at(20, 10)),
        # "ה-15" is a day of the month, not three in the afternoon.
        ("רק אחרי ה-15 לחודש", at(15, 9)),
        ("ה-15", at(15, 9)),
        ("ב-15 לחודש ב-10", at(15, 10)),
        ("ה-10 לחודש", dt.datetime(2025, 5, 11, 9, tzinfo=TZ)),  # the 10th is past: May's, a Saturday → Sunday
        ("ה-1 לחודש הבא", dt.datetime(2025, 5, 1, 9, tzinfo=TZ)),
        ("ה-31", dt.datetime(2025, 6, 1, 9, tzinfo=TZ)),  # April has no 31st: May's, a Saturday → Sunday
        # Night is 22:00-05:59: "1 בלילה" is one in the morning, and closed hours move to the next opening.
        ("ב-1 בלילה", at(14, 9)),
        ("ב-12 בלילה", at(14, 9)),
        # "בשבוע הבא" moves a named day into next week.
        ("בשבוע הבא ביום שלישי", at(22, 9)),
        ("ביום שלישי בשבוע הבא", at(22, 9)),
        ("ביום שלישי", at(15, 9)),  # without it: this week's
    ],
)
def test_counts_days_of_the_month_night_hours_and_next_week(words, expected):
    assert resolve_callback_time(words, Hours(), SUNDAY_AT_ELEVEN) == expected


@pytest.mark.parametrize(
    "words, expected",
    [
        ("ב-1 בלילה", at(14, 1)),  # tonight's small hours, not 13:00
        ("ב-12 בלילה", at(14, 0)),  # midnight, not noon
        ("בשתיים עשרה בלילה", at(14, 0)),
        ("ב-10 בלילה", at(13, 22)),
        ("11 בלילה", at(13, 23)),
        ("בלילה", at(13, 22)),
        ("8 בלילה", at(13, 20)),  # before 22:00 but still said so: the evening
        ("מחר ב-2 בלילה", at(15, 2)),  # tomorrow's night: the small hours of the date after
        ("היום ב-12 בלילה", at(14, 0)),
        ("בעוד 3 ימים", at(16, 11)),
    ],
)
def test_night_hours_as_said_when_the_business_is_always_open(words, expected):
    always = Hours(opening_hours={})
    assert resolve_callback_time(words, always, SUNDAY_AT_ELEVEN) == expected


@pytest.mark.parametrize("words", ["אחרי 3 ימים", "20 דקות", "2 שבועות"])
def test_a_number_before_a_unit_is_never_an_hour(words):
    assert resolve_callback_time(words, Hours(), SUNDAY_AT_ELEVEN) is None


def test_a_closed_date_is_skipped():
    hours = Hours(closed_dates=["2025-04-14"])
    assert resolve_callback_time("מחר בבוקר", hours, SUNDAY_MORNING) == at(15, 9)


def test_without_opening_hours_the_time_is_kept_as_said():
    always = Hours(opening_hours={})
    assert resolve_callback_time("בערב", always, SUNDAY_MORNING) == at(13, 18)
    assert resolve_callback_time("8 בערב", always, SUNDAY_MORNING) == at(13, 20)


@pytest.mark.parametrize("words", ["", "   ", "כשנוח לכם", "לא משנה"])
def test_words_that_name_no_day_and_no_time_resolve_to_nothing(words):
    assert resolve_callback_time(words, Hours(), SUNDAY_MORNING) is None


def test_the_result_is_on_the_business_clock_whatever_the_clock_of_now():
    now_utc = SUNDAY_MORNING.astimezone(dt.UTC)
    result = resolve_callback_time("מחר בבוקר", Hours(), now_utc)
    assert result == at(14, 9) and result.utcoffset() == dt.timedelta(hours=3)


# -- the model's ISO time ------------------------------------------------------------------------------------
def test_an_iso_time_with_an_offset_is_kept():
    assert callback_at_from_llm("2025-04-14T16:00:00+03:00", Hours(), SUNDAY_MORNING) == at(14, 16)
    assert callback_at_from_llm("2025-04-14T13:00:00Z", Hours(), SUNDAY_MORNING) == at(14, 16)


def test_an_iso_time_without_an_offset_is_read_on_the_business_clock():
    assert callback_at_from_llm("2025-04-14T16:00", Hours(), SUNDAY_MORNING) == at(14, 16)


def test_an_iso_date_alone_is_that_days_opening_and_a_closed_hour_moves():
    assert callback_at_from_llm("2025-04-15", Hours(), SUNDAY_MORNING) == at(15, 9)
    assert callback_at_from_llm("2025-04-14T21:00:00+03:00", Hours(), SUNDAY_MORNING) == at(15, 9)


@pytest.mark.parametrize(
    "value, reason",
    [
        ("tomorrow at four", "not an ISO 8601"),
        ("2025-13-01T10:00", "not an ISO 8601"),
        ("", "not an ISO 8601"),
        ("2024-04-14T16:00:00+03:00", "in the past"),
        ("2027-04-14T16:00:00+03:00", "more than a year ahead"),
    ],
)
def test_a_bad_iso_time_is_a_clear_error(value, reason):
    with pytest.raises(BadCallbackTime, match=reason):
        callback_at_from_llm(value, Hours(), SUNDAY_MORNING)
