"""Hebrew text as a person would say it, before it reaches any voice: digits become words.

A TTS voice reads "10:30", "120 ₪" or "050-1234567" badly, or in English. ``speakable`` rewrites them:
times ("עשר וחצי בבוקר"), prices ("מאה ועשרים שקלים", agorot too), dates, counts with the gender and
construct form of the noun they count ("שתי מכוניות", "שני ספרים"), percents. That part is
``heb_tts_normalizer`` (chosen over ``hebrew-num2words`` on the table in
tests/voice/providers/test_normalize.py: it also reads currency signs, agorot and "שעה אחת" right).

Phone numbers are ours: a person reads them digit by digit in the groups they are written in, with a pause
between groups ("אפס חמש אפס, אחת שתיים שלוש, ארבע חמש שש שבע"), and says an international Israeli number
the way it is dialled at home (+972 50 -> 050). The library reads the digits but not the groups.

Pure text in, text out; no Django. Text without digits comes back unchanged (but for Markdown marks and
extra spaces, which no voice should read either).
"""

from __future__ import annotations

import logging
import re

from heb_tts_normalizer import Config, NormalizerError, normalize

log = logging.getLogger(__name__)

# Bumped whenever the rules change what a text sounds like: it is part of the key of stored speech, so
# audio made under older rules is made again.
RULES_VERSION = "1"

DIGIT_WORDS = ("אפס", "אחת", "שתיים", "שלוש", "ארבע", "חמש", "שש", "שבע", "שמונה", "תשע")
GROUP_PAUSE = ", "

_CONFIG = Config()  # the Israeli defaults: 12-hour clock, day before month, shekels

_SEP = r"[-\s.]?"
# Israeli numbers: an area or mobile prefix (0X / 05X / 07X, or +972 without the 0), then seven digits
# written 7, 3-4 or 3-2-2; toll-free and shared-cost 1-800 / 1-700 numbers; star numbers (*6789).
_PHONE = re.compile(
    r"(?:(?<=[א-ת])-)?(?:"  # "ל-050..." -> "לאפס חמש אפס": the prefix letter joins the first word
    rf"(?<![\d+*])(?:(?P<intl>\+972{_SEP})|(?P<zero>0))(?P<area>5\d|7\d|[23489])"
    rf"{_SEP}(?P<a>\d{{3}}){_SEP}(?P<b>\d{{2}}){_SEP}?(?P<c>\d{{2}})(?!\d)"
    r"|(?<![\d*])(?P<special>1)-?(?P<range>[78]00)-?(?P<d>\d{3})-?(?P<e>\d{3})(?!\d)"
    r"|(?<![\d*\w])\*(?P<star>\d{3,5})(?!\d)"
    r")"
)
# A day and month with a slash ("15/3") is a date; the library reads "15 במרץ" (a dot could be a decimal).
_DAY_MONTH = re.compile(r"(?<![\d/.])(?P<day>[12]\d|3[01]|0?[1-9])/(?P<month>1[0-2]|0?[1-9])(?![\d/])")
MONTHS = ("ינואר", "פברואר", "מרץ", "אפריל", "מאי", "יוני", "יולי", "אוגוסט", "ספטמבר", "אוקטובר", "נובמבר", "דצמבר")


def digits_spoken(digits: str) -> str:
    """``"050"`` -> ``"אפס חמש אפס"``: each digit as a word (the counting form, as in phone numbers)."""
    return " ".join(DIGIT_WORDS[int(d)] for d in digits if d.isdigit())


def _phone_spoken(match: re.Match[str]) -> str:
    if match["star"]:
        return f"כוכבית {digits_spoken(match['star'])}"
    if match["special"]:
        groups = [match["special"] + match["range"], match["d"], match["e"]]
    else:
        groups = ["0" + match["area"], match["a"], match["b"] + match["c"]]
    return GROUP_PAUSE.join(digits_spoken(group) for group in groups)


def speak_phone_numbers(text: str) -> str:
    """Phone numbers in ``text`` read digit by digit, group by group."""
    return _PHONE.sub(_phone_spoken, text)


def spell_day_month(text: str) -> str:
    """``"15/3"`` -> ``"15 במרץ"`` (the number is read by the library, in the date's form)."""
    return _DAY_MONTH.sub(lambda m: f"{int(m['day'])} ב{MONTHS[int(m['month']) - 1]}", text)


def speakable(text: str) -> str:
    """``text`` with its numbers, times, prices, dates and phone numbers in Hebrew words. Never raises: a
    text the library cannot handle is spoken with only its phone numbers rewritten."""
    text = spell_day_month(speak_phone_numbers(text))
    try:
        return normalize(text, _CONFIG)
    except (NormalizerError, ValueError) as exc:
        log.warning("could not normalise %r for speech: %s", text, exc)
        return text
