"""Hebrew text as a person would say it: the table of real cases the normaliser was chosen on.

Each row is what the agent might say and what the voice is given. ``heb-tts-normalizer`` was picked over
``hebrew-num2words`` on this table: the latter left "₪" and "ש״ח" unread, read "99.90 ₪" as two numbers,
said "אחת שעה" and read +972 numbers as one huge number.
"""

from __future__ import annotations

import pytest

from voice.providers.fake import FakeTTS
from voice.providers.normalize import speakable
from voice.providers.normalizing_tts import NormalizingTTS

TABLE = [
    # times (a 12-hour clock, as people say it)
    ("נפתח ב-10:30", "נפתח בעשר וחצי בבוקר"),
    ("השעה 14:45", "השעה רבע לשלוש אחר הצהריים"),
    ("פתוח מ-8:00 עד 17:00", "פתוח משמונה בבוקר עד חמש בערב"),
    # prices
    ("המחיר 120 ₪", "המחיר מאה ועשרים שקלים"),
    ('זה עולה 1250 ש"ח', "זה עולה אלף מאתיים וחמישים שקלים"),
    ("טיפול ב-99.90 ₪", "טיפול בתשעים ותשעה שקלים ותשעים אגורות"),
    ("הנחה של 15%", "הנחה של חמישה עשר אחוזים"),
    # counts: the noun's gender and the construct form
    ("יש לנו 3 סניפים", "יש לנו שלושה סניפים"),
    ("3 חדרים ו-2 מקלחות", "שלושה חדרים ושתי מקלחות"),
    ("יש 2 ספרים", "יש שני ספרים"),
    ("1 שעה", "שעה אחת"),
    # dates
    ("התור ב-3.5.2026", "התור בשלושה במאי אלפיים עשרים ושש"),
    ("התור ב-15/3 ב-9:00", "התור בחמישה עשר במרץ בתשע בבוקר"),
    ("ב-15 במרץ", "בחמישה עשר במרץ"),
    # phone numbers: digit by digit, in the groups they are written in
    ("התקשרו ל-050-1234567", "התקשרו לאפס חמש אפס, אחת שתיים שלוש, ארבע חמש שש שבע"),
    ("מספר 03-5551234", "מספר אפס שלוש, חמש חמש חמש, אחת שתיים שלוש ארבע"),
    ("+972 50 123 4567", "אפס חמש אפס, אחת שתיים שלוש, ארבע חמש שש שבע"),
    ("050-123-45-67", "אפס חמש אפס, אחת שתיים שלוש, ארבע חמש שש שבע"),
    ("1-800-123-456", "אחת שמונה אפס אפס, אחת שתיים שלוש, ארבע חמש שש"),
    ("חייגו *6789", "חייגו כוכבית שש שבע שמונה תשע"),
    # no digits: as it was
    ("שלום, הגעתם לעסק שלי. במה אפשר לעזור?", "שלום, הגעתם לעסק שלי. במה אפשר לעזור?"),
    ("מתי נוח שנחזור אלייך?", "מתי נוח שנחזור אלייך?"),
]


@pytest.mark.parametrize(("written", "spoken"), TABLE)
def test_the_table(written, spoken):
    assert speakable(written) == spoken


async def test_every_voice_gets_the_normalised_text_and_other_languages_pass_through():
    tts = FakeTTS()
    voice = NormalizingTTS(tts)
    async for _ in voice.synthesize("נפתח ב-10:30", voice="he-IL-Wavenet-B", language="he-IL"):
        pass
    async for _ in voice.synthesize("Open at 10:30", voice="alloy", language="en-US"):
        pass
    assert tts.texts == ["נפתח בעשר וחצי בבוקר", "Open at 10:30"]
