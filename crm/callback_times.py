"""When the caller wants a call back, as a moment on the business's clock.

Two ways in, one result (an aware datetime):

- ``callback_at_from_llm``: the agent's tool hands an ISO 8601 date and time it worked out itself (the prompt
  tells it the business's date and time). A time without an offset is read on the business's clock; a date
  without a time is that day's opening. It must be ahead and within a year: anything else is an error for the
  model to fix, never a guess.
- ``resolve_callback_time``: the words as the caller said them ("מחר בבוקר", "היום אחר הצהריים", "בערב",
  "ביום ראשון", "בעוד שעה", "בעוד 3 ימים", "אחרי 4", "ה-15 לחודש", "בהקדם"), resolved against the moment
  they were said. None when the words name no day and no time ("כשנוח לכם").

Either way a moment when the business is closed moves to its next opening (``crm.business_hours``): nobody
is there to call back at midnight. A business with no hours set counts as always open.

Hours said without a part of the day follow how people speak about office hours: 1-7 are afternoon ("אחרי 4"
is 16:00), 8-12 as said. A number is an hour only when nothing says otherwise: one followed by a unit ("3 ימים",
"20 דקות") is a count, one after "ה-" ("ה-15") is a day of the month. Night ("בלילה") runs from 22:00 to 05:59:
"12 בלילה" is midnight and 1-5 stay small hours, so they belong to the night after the day named ("מחר ב-1 בלילה"
is the small hours of the day after). Pure functions: the tests are the specification.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from crm.business_hours import HasHours, hours_are_set, is_open, next_opening, zone_of
from crm.opening_hours import WEEKDAYS, weekday_key

DAY_START = dt.time(9, 0)  # a day named without a time: its opening (or 9:00 when no hours are set)
MAX_AHEAD = dt.timedelta(days=366)
PAST_TOLERANCE = dt.timedelta(minutes=10)  # the model's clock may lag a little behind ours

# How an hour said with a part of the day is read: as said ("am"), after noon ("pm"), or at night ("night":
# 12 is midnight, 1-5 the small hours, 6-11 the evening; "10 בלילה" is 22:00, "2 בלילה" is 02:00).
Reading = Literal["am", "pm", "night"]
# Parts of the day, the hour they stand for, and how an hour said with them is read.
_PERIODS: tuple[tuple[str, int, Reading], ...] = (
    (r"אחר[יי]?\s*(?:ה)?צהר[יי]?ים|אחה[\"״']צ", 16, "pm"),
    (r"(?:ב|ל)?צהר[יי]?ים", 12, "pm"),
    (r"(?:ב|ל)?בוקר", 9, "am"),
    (r"(?:ב|ל)?ערב", 18, "pm"),
    (r"[בלה]?לילה", 22, "night"),  # night starts at 22:00; "הלילה" is tonight
)
NIGHT_ENDS = 6  # an hour at night before this one is after midnight: the small hours of the next date
_NUMBER_WORDS = {
    "אחת": 1,
    "שתיים": 2,
    "שתים": 2,
    "שלוש": 3,
    "ארבע": 4,
    "חמש": 5,
    "שש": 6,
    "שבע": 7,
    "שמונה": 8,
    "תשע": 9,
    "עשר": 10,
    "אחת עשרה": 11,
    "אחת-עשרה": 11,
    "שתים עשרה": 12,
    "שתיים עשרה": 12,
    "שתים-עשרה": 12,
}
# Counts said in the masculine, as with days, weeks and months ("בעוד שלושה ימים"); only for "בעוד", since
# hours are said in the feminine ("בשלוש").
_COUNT_WORDS = {
    "שני": 2,
    "שניים": 2,
    "שלושה": 3,
    "ארבעה": 4,
    "חמישה": 5,
    "שישה": 6,
    "שבעה": 7,
    "שמונה": 8,
    "תשעה": 9,
    "עשרה": 10,
}
_DAY_NAMES = {"ראשון": "sun", "שני": "mon", "שלישי": "tue", "רביעי": "wed", "חמישי": "thu", "שישי": "fri"}
_DAY_LETTERS = {"א": "sun", "ב": "mon", "ג": "tue", "ד": "wed", "ה": "thu", "ו": "fri"}

# A Hebrew word may carry a one-letter prefix (ב, ל, ו, ה, כ, ש) and a hyphen after it ("ב-4").
_B = r"(?<![\w])"  # start of a word
_E = r"(?![\w])"  # end of a word
_ASAP = re.compile(_B + r"(?:[בו]?הקדם|עכשיו|מיד|כמה\s+שיותר\s+מהר|הכי\s+מהר|asap)" + _E, re.IGNORECASE)
_IN = re.compile(
    _B
    + r"[ו]?בעוד\s+(?:(?!חצי|רבע)(?P<n>\d+|[א-ת]+(?:\s+עשרה)?)\s+)?"
    + r"(?P<unit>חצי\s+שעה|רבע\s+שעה|שעתיים|שעות|שעה|דקות|דקה"
    + r"|יומיים|ימים|יום|שבועיים|שבועות|שבוע|חודשיים|חודשים|חודש)"
    + _E
)
# Units that make the number before them a count, not an hour ("3 ימים", "20 דקות", "15 לחודש").
_UNITS = r"(?:דקות|דקה|שעות|ימים|יום|שבועות|שבוע|חודשים|חודש|[לב]חודש)" + _E
_DATE = re.compile(_B + r"[בל]?-?(?P<d>\d{1,2})[/.](?P<m>\d{1,2})(?:[/.](?P<y>\d{2,4}))?" + _E)
# A day of the month: "ה-15", "ה-15 לחודש", "ב-15 לחודש הבא" (a bare "ב-15" is an hour: 15:00).
_DAY_OF_MONTH = re.compile(
    _B
    + r"(?:ה-?(?P<d>\d{1,2})|(?:[בל]-?)?(?P<d2>\d{1,2})(?=\s+[לב]חודש))"
    + r"(?:\s+[לב]חודש(?P<next>\s+הבא)?)?"
    + _E
    + r"(?!:\d)"  # "ה-15:30" is not a day
)
_CLOCK = re.compile(_B + r"(?:[בל]-?)?(?:שעה\s+)?(?P<h>\d{1,2}):(?P<min>\d{2})" + _E)
_WORD_NUMBERS = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_HOUR = re.compile(
    _B
    + r"(?:(?:[בל]-?|אחרי\s+|אחר\s+|בשעה\s+|בסביבות\s+|סביב\s+|לקראת\s+|בערך\s+ב-?)(?P<h>\d{1,2}|"
    + _WORD_NUMBERS
    + r")|(?<!ה-)(?P<bare>\d{1,2}))"
    + r"(?!\s*"
    + _UNITS
    + r")"
    + r"(?:\s*(?P<frac>וחצי|ורבע|פחות\s+רבע))?"
    + _E
)
_WEEKDAY = re.compile(_B + r"(?:[בו]?יום\s+)(?P<name>ראשון|שני|שלישי|רביעי|חמישי|שישי)" + _E)
_WEEKDAY_LETTER = re.compile(_B + r"(?:[בו]?יום\s+)(?P<letter>[אבגדהו])['׳]")
_SATURDAY = re.compile(_B + r"[בו]?שבת" + _E)
_NEXT_WEEK = re.compile(_B + r"[בו]?שבוע\s+הבא" + _E)


class BadCallbackTime(ValueError):
    """The model's callback_at cannot be used; the message says why, for the model to correct."""


def open_from(business: HasHours, at: dt.datetime) -> dt.datetime:
    """``at`` when the business is open then (or has no hours), else its next opening after ``at``."""
    if not hours_are_set(business) or is_open(business, at):
        return at
    return next_opening(business, at) or at


def _day_start(business: HasHours, day: dt.date) -> dt.datetime:
    """A day named without a time: the business's first opening from that day's morning on."""
    return open_from(business, dt.datetime.combine(day, DAY_START, tzinfo=zone_of(business)))


def parse_iso(value: str) -> dt.datetime:
    """An ISO 8601 date or date and time, as written (naive when it has no offset). ``BadCallbackTime``
    otherwise, with an example of the expected form."""
    text = str(value or "").strip()
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadCallbackTime(
            f"callback_at {text!r} is not an ISO 8601 date and time; write it like 2025-04-14T16:00:00+03:00"
        ) from None


def callback_at_from_llm(value: str, business: HasHours, now: dt.datetime) -> dt.datetime:
    """The model's ``callback_at``, on the business's clock: a naive time is local, a bare date is that day's
    opening, a closed hour moves to the next opening. ``BadCallbackTime`` when it is not ISO 8601, already
    past, or more than a year ahead."""
    text = str(value or "").strip()
    parsed = parse_iso(text)
    zone = zone_of(business)
    if "T" not in text.upper() and " " not in text:  # a date only
        when = _day_start(business, parsed.date())
    else:
        when = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)
        when = open_from(business, when)
    if when < now - PAST_TOLERANCE:
        raise BadCallbackTime(
            f"callback_at {text!r} is in the past (it is now {now.astimezone(zone).isoformat(timespec='minutes')})"
        )
    if when > now + MAX_AHEAD:
        raise BadCallbackTime(f"callback_at {text!r} is more than a year ahead")
    return when.astimezone(zone)


def _number(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    return _NUMBER_WORDS.get(word.strip())


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """``moment`` that many calendar months on, at the same time of day; a day the month lacks becomes its last
    ("בעוד חודש" on 31 January is 28 or 29 February), since a month is a month, not 30 days."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last))


def _relative(text: str, now: dt.datetime) -> tuple[dt.datetime, bool, str] | None:
    """The moment "בעוד ..." names, counted from ``now``; whether it is a day or more ahead (then a time said
    with it still counts: "בעוד יומיים בבוקר"); and the words without it (so its number is not an hour).
    None when there is no "בעוד", or its count cannot be read or reaches past the calendar."""
    match = _IN.search(text)
    if match is None:
        return None
    unit = match["unit"]
    said = match["n"]
    count = _number(said) if said else 1
    if count is None:  # "שלושה ימים": days are counted in the masculine
        count = _COUNT_WORDS.get(said.strip())
    if count is None:
        return None
    rest = text[: match.start()] + " " + text[match.end() :]
    try:
        if unit.startswith("חצי"):
            return now + dt.timedelta(minutes=30), False, rest
        if unit.startswith("רבע"):
            return now + dt.timedelta(minutes=15), False, rest
        if unit == "שעתיים":
            return now + dt.timedelta(hours=2), False, rest
        if unit.startswith("שע"):
            return now + dt.timedelta(hours=count), False, rest
        if unit.startswith("דק"):
            return now + dt.timedelta(minutes=count), False, rest
        # Days, weeks and months: added on the wall clock, so the time of day stays as it was.
        if unit == "יומיים":
            return now + dt.timedelta(days=2), True, rest
        if unit.startswith("י"):
            return now + dt.timedelta(days=count), True, rest
        if unit == "שבועיים":
            return now + dt.timedelta(weeks=2), True, rest
        if unit.startswith("שב"):
            return now + dt.timedelta(weeks=count), True, rest
        return _add_months(now, 2 if unit == "חודשיים" else count), True, rest
    except (OverflowError, ValueError):  # "בעוד 99999999 ימים": no such date
        return None


def _day_of_month(day: int, today: dt.date, next_month: bool) -> dt.date | None:
    """The first ``day`` of a month from this month (or the next, when said so) that is not already past:
    "ה-15" said on the 20th is next month's 15th. None when no month has that day."""
    year, month = today.year, today.month + (1 if next_month else 0)
    for _ in range(12):
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
        try:
            date = dt.date(year, month, day)
        except ValueError:
            date = None
        if date is not None and date >= today:
            return date
        month += 1
    return None


def _next_week(today: dt.date) -> dt.date:
    """The first day of next week: the next Sunday, the Israeli week's first day."""
    return today + dt.timedelta(days=(0 - WEEKDAYS.index(weekday_key(today))) % 7 or 7)


def _day(text: str, today: dt.date) -> tuple[dt.date | None, str]:
    """The day the words name (None: none named), and the text without it (so its digits are not hours)."""
    if match := _DATE.search(text):
        day, month = int(match["d"]), int(match["m"])
        year = int(match["y"]) if match["y"] else today.year
        year += 2000 if year < 100 else 0
        try:
            date = dt.date(year, month, day)
        except ValueError:
            return None, text
        if not match["y"] and date < today:
            date = date.replace(year=today.year + 1)
        return date, text[: match.start()] + " " + text[match.end() :]
    if match := _DAY_OF_MONTH.search(text):
        date_or_none = _day_of_month(int(match["d"] or match["d2"]), today, bool(match["next"]))
        if date_or_none is not None:
            return date_or_none, text[: match.start()] + " " + text[match.end() :]
    if "מחרתיים" in text:
        return today + dt.timedelta(days=2), text
    if re.search(_B + r"[ול]?מחר" + _E, text):
        return today + dt.timedelta(days=1), text
    if re.search(_B + r"[ו]?היום" + _E, text):
        return today, text
    key = None
    if match := _WEEKDAY.search(text):
        key = _DAY_NAMES[match["name"]]
    elif match := _WEEKDAY_LETTER.search(text):
        key = _DAY_LETTERS[match["letter"]]
    elif _SATURDAY.search(text):
        key = "sat"
    if key is not None:
        if _NEXT_WEEK.search(text):  # "בשבוע הבא ביום שלישי": that day of next week, even if this week's is ahead
            return _next_week(today) + dt.timedelta(days=WEEKDAYS.index(key)), text
        ahead = (WEEKDAYS.index(key) - WEEKDAYS.index(weekday_key(today))) % 7 or 7
        return today + dt.timedelta(days=ahead), text
    if _NEXT_WEEK.search(text):  # next week with no day named: its first day
        return _next_week(today), text
    return None, text


def _period(text: str) -> tuple[int, Reading] | None:
    for pattern, hour, reading in _PERIODS:
        if re.search(_B + "(?:" + pattern + ")" + _E, text):
            return hour, reading
    return None


def _clock(text: str, period: tuple[int, Reading] | None) -> dt.time | None:
    """The time of day the words name, if any: "16:30", "ב-4", "אחרי ארבע וחצי", "8 בערב", "1 בלילה"."""
    reading = period[1] if period else None
    if match := _CLOCK.search(text):
        hour, minute = int(match["h"]), int(match["min"])
    else:
        match = _HOUR.search(text)
        if match is None:
            return None
        hour_text = match["h"] or match["bare"]
        parsed = _number(hour_text)
        if parsed is None:
            return None
        hour, minute = parsed, 0
        frac = match["frac"] or ""
        if frac == "וחצי":
            minute = 30
        elif frac == "ורבע":
            minute = 15
        elif frac.startswith("פחות"):
            hour, minute = hour - 1, 45
    if hour > 23 or minute > 59 or hour < 0:
        return None
    if reading == "night":
        if hour == 12:
            hour = 0  # "12 בלילה" is midnight, not noon
        elif NIGHT_ENDS <= hour < 12:
            hour += 12  # "10 בלילה" is 22:00; 1-5 stay the small hours
    elif hour < 12 and (reading == "pm" or (reading is None and 1 <= hour <= 7)):
        hour += 12  # "אחרי 4" is four in the afternoon; "8 בערב" is 20:00
    return dt.time(hour, minute)


def _time_of_day(text: str) -> tuple[dt.time, bool] | None:
    """The time of day the words name, by the clock or by a part of the day ("בבוקר" is 9:00); and whether it
    is the small hours of a night, which belong to the date after the day named. None when they name none."""
    period = _period(text)
    clock = _clock(text, period)
    if clock is None and period is not None:
        clock = dt.time(period[0])
    if clock is None:
        return None
    return clock, period is not None and period[1] == "night" and clock.hour < NIGHT_ENDS


def resolve_callback_time(text: str, business: HasHours, now: dt.datetime) -> dt.datetime | None:
    """The moment the caller's words name, said at ``now``, on the business's clock and within its hours;
    None when they name no day and no time."""
    words = " ".join(str(text or "").split())
    if not words:
        return None
    zone = zone_of(business)
    local_now = now.astimezone(zone)
    if (relative := _relative(words, local_now)) is not None:
        soon, whole_days, rest = relative
        if whole_days and (said := _time_of_day(rest)) is not None:  # "בעוד יומיים בבוקר": that day, at 9:00
            clock, small_hours = said
            date = soon.date() + dt.timedelta(days=1 if small_hours else 0)
            soon = max(dt.datetime.combine(date, clock, tzinfo=zone), local_now)
        return open_from(business, soon).astimezone(zone)
    if _ASAP.search(words):
        return open_from(business, local_now)
    day, rest = _day(words, local_now.date())
    said = _time_of_day(rest)
    if day is None and said is None:
        return None
    if said is None:  # a day without a time: its opening, and not before now
        assert day is not None
        when = max(_day_start(business, day), local_now)
        return open_from(business, when).astimezone(zone)
    clock, small_hours = said
    if day is not None and small_hours:  # "מחר ב-1 בלילה": the night after tomorrow, so the date after it
        day += dt.timedelta(days=1)
    when = dt.datetime.combine(day or local_now.date(), clock, tzinfo=zone)
    if day is None and when <= local_now:  # "אחרי 4" said at five: tomorrow at four
        when += dt.timedelta(days=1)
    when = max(when, local_now)
    return open_from(business, when).astimezone(zone)
