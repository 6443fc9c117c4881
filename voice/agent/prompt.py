"""The system prompt the model reads on every turn: built here, by one function, from plain data.

What goes in, in this order: the owner's prompt (as written, the business's name already in it); who we
answer for (name, address, the date and time on the business's clock, open now or not and when it opens);
what the agent may say about the business (the owner's knowledge text, and nothing else about prices or
promises); how it speaks (to callers, and of itself); the phone rules; last, what the CRM knows about the
caller. With no ``BusinessContext`` (the core on its own, tests of other parts) it is the owner's prompt and
the caller's facts only, as before businesses told the agent about themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ADDRESS_PLURAL = "plural"
ADDRESS_NEUTRAL = "neutral"
SPEAKS_MASCULINE = "masculine"
SPEAKS_FEMININE = "feminine"


@dataclass(frozen=True)
class BusinessContext:
    """What the agent knows about the business it answers for (built by the Django edge per call)."""

    name: str
    now: str  # the date and time on the business's clock, as the prompt should say it
    address: str = ""
    open_now: bool = True
    next_open: str = ""  # when it opens again (said in words); empty when unknown or hours not set
    hours_known: bool = False  # False: no opening hours were set, say nothing about open or closed
    knowledge: str = ""
    addresses_callers: str = ADDRESS_PLURAL
    speaks_as: str = SPEAKS_MASCULINE


PHONE_RULES = (
    "כללי שיחה בטלפון:\n"
    "- דבר במשפטים קצרים ומדוברים, משפט או שניים בכל תשובה.\n"
    "- בלי רשימות, בלי כותרות, בלי סימוני עיצוב, בלי אימוג'י ובלי כתובות אינטרנט: הכול נשמע בקול.\n"
    "- מספרים, שעות ומחירים אמור כמו שאדם אומר אותם בשיחה.\n"
    "- אל תמציא מחירים, מבצעים, זמנים או הבטחות שאינם כתובים במידע על העסק. "
    "אם אין לך תשובה, הצע שמישהו מהעסק יחזור אל המתקשר."
)

_ADDRESSING = {
    ADDRESS_PLURAL: "פנה אל המתקשרים בלשון רבים (אתם).",
    ADDRESS_NEUTRAL: (
        'נסח בלשון סתמית, בלי לפנות אל המתקשר בזכר או בנקבה (למשל "אפשר להשאיר הודעה" ולא "תשאיר הודעה").'
    ),
}
_SELF = {
    SPEAKS_MASCULINE: "דבר על עצמך בלשון זכר.",
    SPEAKS_FEMININE: "דברי על עצמך בלשון נקבה.",
}
CLOSED_NOTE = (
    "העסק סגור עכשיו. אמור זאת למתקשר ומתי העסק נפתח שוב, "
    "והצע להשאיר הודעה או לבקש שיחה חוזרת, ושמור את הפרטים בכלים שקיבלת."
)


def _business_section(business: BusinessContext) -> str:
    lines = [f"העסק: {business.name}."]
    if business.address:
        lines.append(f"כתובת: {business.address}.")
    lines.append(f"עכשיו: {business.now}.")
    if business.hours_known:
        if business.open_now:
            lines.append("העסק פתוח עכשיו.")
        else:
            lines.append(CLOSED_NOTE)
            if business.next_open:
                lines.append(f"העסק נפתח שוב {business.next_open}.")
    return "\n".join(lines)


def _knowledge_section(business: BusinessContext) -> str:
    if not business.knowledge.strip():
        return "אין לך מידע נוסף על העסק: על שירותים, מחירים ושעות אל תענה מהשערה."
    return f"מה שמותר לך לספר על העסק (ורק זה):\n{business.knowledge.strip()}"


def _speech_section(business: BusinessContext) -> str:
    return " ".join((_ADDRESSING.get(business.addresses_callers, ""), _SELF.get(business.speaks_as, ""))).strip()


def build_system_prompt(
    owner_prompt: str,
    business: BusinessContext | None,
    facts: Mapping[str, str],
    *,
    facts_heading: str,
) -> str:
    """The system message: see the module docstring for what goes in and in which order."""
    sections = [owner_prompt.strip()] if business is not None else [owner_prompt]
    if business is not None:
        sections += [
            _business_section(business),
            _knowledge_section(business),
            _speech_section(business),
            PHONE_RULES,
        ]
    if facts:
        known = "\n".join(f"- {key}: {value}" for key, value in facts.items())
        sections.append(f"{facts_heading}\n{known}")
    return "\n\n".join(section for section in sections if section)
