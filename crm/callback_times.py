"""When the caller wants a call back, as a moment on the business's clock.

Two ways in, one result (an aware datetime):

- ``callback_at_from_llm``: the agent's tool hands an ISO 8601 date and time it worked out itself (the prompt
  tells it the business's date and time). A time without an offset is read on the business's clock; a date
  without a time is that day's opening. It must be ahead and within a year: anything else is an error for the
  model to fix, never a guess.
- ``resolve_callback_time``: the words as the caller said them ("מחר בבוקר", "היום אחר הצהריים", "בערב",
  "ביום ראשון", "בעוד שעה", "אחרי 4", "בהקדם"), resolved against the moment they were said. None when the
  words name no day and no time ("כשנוח לכם").

Either way a moment when the business is closed moves to its next opening (``crm.business_hours``): nobody
is there to call back at midnight. A business with no hours set counts as always open.

Hours said without a part of the day follow how people speak about office hours: 1-7 are afternoon ("אחרי 4"
is 16:00), 8-12 as said. Pure functions: the tests are the specification.
"""

from __future__ import annotations

import datetime as dt
import re

from crm.business_hours import HasHours, hours_are_set, is_open, next_opening, zone_of
from crm.opening_hours import WEEKDAYS, weekday_key

DAY_START = dt.time(9, 0)  # a day named without a time: its opening (or 9:00 when no hours are set)
MAX_AHEAD = dt.timedelta(days=366)
PAST_TOLERANCE = dt.timedelta(minutes=10)  # the model's clock may lag a little behind ours

# Parts of the day, the hour they stand for, and whether an hour said with them is after noon.
_PERIODS: tuple[tuple[str, int, bool], ...] = (
    (r"אחר[יי]?\s*(?:ה)?צהר[יי]?ים|אחה[\"״']צ", 16, True),
    (r"(?:ב|ל)?צהר[יי]?ים", 12, True),
    (r"(?:ב|ל)?בוקר", 9, False),
    (r"(?:ב|ל)?ערב", 18, True),
    (r"(?:ב|ל)?לילה", 20, True),
)
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
_DAY_NAMES = {"ראשון": "sun", "שני": "mon", "שלישי": "tue", "רביעי": "wed", "חמישי": "thu", "שישי": "fri"}
_DAY_LETTERS = {"א": "sun", "ב": "mon", "ג": "tue", "ד": "wed", "ה": "thu", "ו": "fri"}

# A Hebrew word may carry a one-letter prefix (ב, ל, ו, ה, כ, ש) and a hyphen after it ("ב-4").
_B = r"(?<![\w])"  # start of a word
_E = r"(?![\w])"  # end of a word
_ASAP = re.compile(_B + r"(?:[בו]?הקדם|עכשיו|מיד|כמה\s+שיותר\s+מהר|הכי\s+מהר|asap)" + _E, re.IGNORECASE)
_IN = re.compile(
    _B
    + r"[ו]?בעוד\s+(?:(?!חצי|רבע)(?P<n>\d+|[א-ת]+(?:\s+עשרה)?)\s+)?"
    + r"(?P<unit>חצי\s+שעה|רבע\s+שעה|שעתיים|שעות|שעה|דקות|דקה)"
    + _E
)
_DATE = re.compile(_B + r"[בל]?-?(?P<d>\d{1,2})[/.](?P<m>\d{1,2})(?:[/.](?P<y>\d{2,4}))?" + _E)
_CLOCK = re.compile(_B + r"(?:[בל]-?)?(?:שעה\s+)?(?P<h>\d{1,2}):(?P<min>\d{2})" + _E)
_WORD_NUMBERS = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_HOUR = re.compile(
    _B
    + r"(?:(?:[בל]-?|אחרי\s+|אחר\s+|בשעה\s+|בסביבות\s+|סביב\s+|לקראת\s+|בערך\s+ב-?)(?P<h>\d{1,2}|"
    + _WORD_NUMBERS
    + r")|(?P<bare>\d{1,2}))"
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


def _relative(text: str, now: dt.datetime) -> dt.datetime | None:
    match = _IN.search(text)
    if match is None:
        return None
    unit = match["unit"]
    count = _number(match["n"]) if match["n"] else 1
    if count is None:
        return None
    if unit.startswith("חצי"):
        return now + dt.timedelta(minutes=30)
    if unit.startswith("רבע"):
        return now + dt.timedelta(minutes=15)
    if unit == "שעתיים":
        return now + dt.timedelta(hours=2)
    if unit.startswith("שע"):
        return now + dt.timedelta(hours=count)
    return now + dt.timedelta(minutes=count)


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
        ahead = (WEEKDAYS.index(key) - WEEKDAYS.index(weekday_key(today))) % 7 or 7
        return today + dt.timedelta(days=ahead), text
    if _NEXT_WEEK.search(text):  # the next Sunday, the Israeli week's first day
        ahead = (0 - WEEKDAYS.index(weekday_key(today))) % 7 or 7
        return today + dt.timedelta(days=ahead), text
    return None, text


def _period(text: str) -> tuple[int, bool] | None:
    for pattern, hour, after_noon in _PERIODS:
        if re.search(_B + "(?:" + pattern + ")" + _E, text):
            return hour, after_noon
    return None


def _clock(text: str, period: tuple[int, bool] | None) -> dt.time | None:
    """The time of day the words name, if any: "16:30", "ב-4", "אחרי ארבע וחצי", "8 בערב"."""
    after_noon = period[1] if period else None
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
    if hour < 12 and (after_noon or (after_noon is None and 1 <= hour <= 7)):
        hour += 12  # "אחרי 4" is four in the afternoon; "8 בערב" is 20:00
    return dt.time(hour, minute)


def resolve_callback_time(text: str, business: HasHours, now: dt.datetime) -> dt.datetime | None:
    """The moment the caller's words name, said at ``now``, on the business's clock and within its hours;
    None when they name no day and no time."""
    words = " ".join(str(text or "").split())
    if not words:
        return None
    zone = zone_of(business)
    local_now = now.astimezone(zone)
    if (soon := _relative(words, local_now)) is not None:
        return open_from(business, soon).astimezone(zone)
    if _ASAP.search(words):
        return open_from(business, local_now)
    day, rest = _day(words, local_now.date())
    period = _period(rest)
    clock = _clock(rest, period)
    if clock is None and period is not None:
        clock = dt.time(period[0])
    if day is None and clock is None:
        return None
    if clock is None:  # a day without a time: its opening, and not before now
        assert day is not None
        when = max(_day_start(business, day), local_now)
        return open_from(business, when).astimezone(zone)
    when = dt.datetime.combine(day or local_now.date(), clock, tzinfo=zone)
    if day is None and when <= local_now:  # "אחרי 4" said at five: tomorrow at four
        when += dt.timedelta(days=1)
    when = max(when, local_now)
    return open_from(business, when).astimezone(zone)
