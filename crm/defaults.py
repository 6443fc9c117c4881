"""Hebrew defaults for a fresh install: what the agent says before an owner changes anything.

``{business}`` is replaced by the business's name when a call's configuration is built, and ``{next_open}``
(the after-hours line only) by when it opens again, so the defaults stay right when the owner renames it.
"""

from __future__ import annotations

DEFAULT_BUSINESS_NAME = "העסק שלי"
DEFAULT_LANGUAGE = "he-IL"
DEFAULT_TIME_ZONE = "Asia/Jerusalem"
DEFAULT_VOICE = "he-IL-Wavenet-B"  # a male voice: the default prompt and lines speak in the masculine

BUSINESS_PLACEHOLDER = "{business}"
NEXT_OPEN_PLACEHOLDER = "{next_open}"

# The greeting and the prompt agree: the caller reaches the business by name, and the agent asks for the
# name, the interest and a good time to call back.
DEFAULT_GREETING = "שלום, הגעתם ל{business}. במה אפשר לעזור?"
DEFAULT_SYSTEM_PROMPT = (
    "אתה הנציג הטלפוני של {business}: אדיב, ענייני, ומדבר עברית בלבד. "
    "ענה בקצרה, במשפט אחד או שניים, כי השיחה בטלפון. "
    "שאל לשם הפונה, במה הוא מתעניין ומתי נוח לחזור אליו, ושמור את הפרטים בכלים שקיבלת. "
    "אם אינך יודע תשובה, הבטח שנציג אנושי יחזור אליו."
)
DEFAULT_FALLBACK_MESSAGE = "שלום, כרגע איננו יכולים לענות. השאירו הודעה אחרי הצליל ונחזור אליכם בהקדם."

# Before issue 13: rows still holding these get the new defaults (migration 0007); edited rows are kept.
OLD_DEFAULT_GREETING = "שלום, הגעתם לנציג הדיגיטלי שלנו. במה אפשר לעזור?"
OLD_DEFAULT_SYSTEM_PROMPT = (
    "אתה נציג טלפוני אדיב של העסק, ומדבר עברית בלבד. "
    "ענה בקצרה, במשפט אחד או שניים, כי השיחה בטלפון. "
    "שאל לשם הפונה, למה הוא מתעניין ומתי נוח לחזור אליו, ושמור את הפרטים בכלים שקיבלת. "
    "אם אינך יודע תשובה, הבטח שנציג אנושי יחזור אליו."
)

MAX_KNOWLEDGE_CHARS = 4000

# How the agent addresses callers ("plural": אתם; "neutral": no grammatical gender at all) and speaks of
# itself ("masculine" / "feminine"). The fixed lines below come in a version for each choice; a line the
# owner has not edited follows the choice (backoffice.forms switches it), an edited one is kept.
ADDRESS_PLURAL = "plural"
ADDRESS_NEUTRAL = "neutral"
SPEAKS_MASCULINE = "masculine"
SPEAKS_FEMININE = "feminine"

FIXED_LINE_FIELDS = ("apology", "idle_prompt", "goodbye", "fillers", "after_hours_line")

_LINES: dict[tuple[str, str], dict[str, str]] = {
    (ADDRESS_PLURAL, SPEAKS_MASCULINE): {
        "apology": "סליחה, הייתה לי תקלה קטנה. אפשר לחזור על זה?",
        "idle_prompt": "אתם עדיין על הקו?",
        "goodbye": "תודה רבה ויום טוב.",
        "fillers": "רגע, אני בודק.\nשנייה, אני בודק את זה.\nרק רגע, בבקשה.\nעוד רגע איתכם.",
        "after_hours_line": (
            "שלום, הגעתם ל{business}. אנחנו סגורים כרגע, ונפתח שוב {next_open}. "
            "אפשר להשאיר לי הודעה או לבקש שנחזור אליכם, ואני ארשום את הפרטים."
        ),
    },
    (ADDRESS_PLURAL, SPEAKS_FEMININE): {
        "apology": "סליחה, הייתה לי תקלה קטנה. אפשר לחזור על זה?",
        "idle_prompt": "אתם עדיין על הקו?",
        "goodbye": "תודה רבה ויום טוב.",
        "fillers": "רגע, אני בודקת.\nשנייה, אני בודקת את זה.\nרק רגע, בבקשה.\nעוד רגע איתכם.",
        "after_hours_line": (
            "שלום, הגעתם ל{business}. אנחנו סגורים כרגע, ונפתח שוב {next_open}. "
            "אפשר להשאיר לי הודעה או לבקש שנחזור אליכם, ואני ארשום את הפרטים."
        ),
    },
    (ADDRESS_NEUTRAL, SPEAKS_MASCULINE): {
        "apology": "סליחה, הייתה לי תקלה קטנה. אפשר לחזור על זה?",
        "idle_prompt": "הלו, יש מישהו על הקו?",
        "goodbye": "תודה רבה ויום טוב.",
        "fillers": "רגע, אני בודק.\nשנייה, אני בודק את זה.\nרק רגע, בבקשה.\nעוד רגע.",
        "after_hours_line": (
            "שלום, הגעתם ל{business}. אנחנו סגורים כרגע, ונפתח שוב {next_open}. "
            "אפשר להשאיר הודעה או לבקש שיחה חוזרת, ואני ארשום את הפרטים."
        ),
    },
    (ADDRESS_NEUTRAL, SPEAKS_FEMININE): {
        "apology": "סליחה, הייתה לי תקלה קטנה. אפשר לחזור על זה?",
        "idle_prompt": "הלו, יש מישהו על הקו?",
        "goodbye": "תודה רבה ויום טוב.",
        "fillers": "רגע, אני בודקת.\nשנייה, אני בודקת את זה.\nרק רגע, בבקשה.\nעוד רגע.",
        "after_hours_line": (
            "שלום, הגעתם ל{business}. אנחנו סגורים כרגע, ונפתח שוב {next_open}. "
            "אפשר להשאיר הודעה או לבקש שיחה חוזרת, ואני ארשום את הפרטים."
        ),
    },
}

# Said in place of {next_open} when no opening is known (no day has hours in the coming weeks).
NEXT_OPEN_UNKNOWN = "בהקדם"


def fixed_lines(addresses: str = ADDRESS_PLURAL, speaks_as: str = SPEAKS_MASCULINE) -> dict[str, str]:
    """The default fixed lines (``FIXED_LINE_FIELDS``) for this way of addressing callers and of speaking."""
    return dict(_LINES[(addresses, speaks_as)])


DEFAULT_LINES = fixed_lines()
