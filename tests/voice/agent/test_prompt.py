"""The system prompt's specification: what the model is told, in which order, and what it is never told."""

from __future__ import annotations

from dataclasses import replace

from tests.support.agent_doubles import until
from tests.support.caller_audio import silence, voiced
from tests.voice.agent.calls import CONFIG
from voice.agent.prompt import (
    ADDRESS_NEUTRAL,
    PHONE_RULES,
    SPEAKS_FEMININE,
    BusinessContext,
    build_system_prompt,
)
from voice.providers.fake import FakeASR

HEADING = "מה שכבר ידוע על המתקשר:"
OWNER = "אתה הנציג הטלפוני של מרפאת אלון."
OPEN = BusinessContext(
    name="מרפאת אלון",
    now="יום ראשון, 06/04/2025, 10:30",
    address="הרצל 5, חיפה",
    open_now=True,
    hours_known=True,
    knowledge="ניקוי אבנית: 250 שקלים.\nחניה בחינם מאחורי הבניין.",
)
CLOSED = BusinessContext(
    name="מרפאת אלון",
    now="יום שישי, 11/04/2025, 20:00",
    open_now=False,
    next_open="ביום ראשון בשעה 09:00",
    hours_known=True,
)


def prompt(business: BusinessContext | None = OPEN, facts: dict[str, str] | None = None) -> str:
    return build_system_prompt(OWNER, business, facts or {}, facts_heading=HEADING)


def test_it_starts_with_the_owners_prompt():
    assert prompt().startswith(OWNER + "\n\n")


def test_it_names_the_business_its_address_and_the_time_on_its_clock():
    text = prompt()
    assert "העסק: מרפאת אלון." in text
    assert "כתובת: הרצל 5, חיפה." in text
    assert "עכשיו: יום ראשון, 06/04/2025, 10:30." in text


def test_no_address_no_address_line():
    text = prompt(BusinessContext(name="מרפאת אלון", now="x"))
    assert "כתובת" not in text


def test_open_now_says_so():
    assert "העסק פתוח עכשיו." in prompt()
    assert "סגור" not in prompt()


def test_closed_says_so_when_it_opens_and_to_offer_a_message_or_a_callback():
    text = prompt(CLOSED)
    assert "העסק סגור עכשיו" in text
    assert "העסק נפתח שוב ביום ראשון בשעה 09:00." in text
    assert "להשאיר הודעה" in text and "שיחה חוזרת" in text


def test_without_opening_hours_it_says_nothing_about_open_or_closed():
    text = prompt(BusinessContext(name="מרפאת אלון", now="x", hours_known=False))
    assert "פתוח" not in text and "סגור" not in text


def test_the_knowledge_is_given_as_the_only_source_about_the_business():
    text = prompt()
    assert "מה שמותר לך לספר על העסק (ורק זה):\nניקוי אבנית: 250 שקלים.\nחניה בחינם מאחורי הבניין." in text


def test_no_knowledge_means_no_guessing_about_services_and_prices():
    text = prompt(CLOSED)
    assert "אין לך מידע נוסף על העסק" in text and "מהשערה" in text


def test_the_phone_rules_are_always_there_when_the_business_is_known():
    for business in (OPEN, CLOSED):
        text = prompt(business)
        assert PHONE_RULES in text
    for rule in ("משפטים קצרים", "בלי רשימות", "אימוג'י", "כתובות אינטרנט", "כמו שאדם אומר", "אל תמציא מחירים"):
        assert rule in PHONE_RULES


def test_how_it_addresses_callers_and_speaks_of_itself():
    default = prompt()
    assert "בלשון רבים (אתם)" in default and "בלשון זכר" in default
    neutral_feminine = prompt(
        BusinessContext(name="x", now="y", addresses_callers=ADDRESS_NEUTRAL, speaks_as=SPEAKS_FEMININE)
    )
    assert "בלשון סתמית" in neutral_feminine and "בלשון נקבה" in neutral_feminine
    assert "בלשון רבים" not in neutral_feminine and "בלשון זכר" not in neutral_feminine


def test_the_callers_known_facts_come_last_under_their_heading():
    text = prompt(facts={"name": "דנה", "interest": "הלבנה"})
    assert text.endswith(f"{HEADING}\n- name: דנה\n- interest: הלבנה")


def test_the_order_is_owner_business_knowledge_speech_rules_facts():
    text = prompt(facts={"name": "דנה"})
    marks = [OWNER, "העסק: ", "מה שמותר לך", "בלשון רבים", PHONE_RULES, HEADING]
    positions = [text.index(mark) for mark in marks]
    assert positions == sorted(positions)


def test_without_a_business_it_is_the_owners_prompt_and_the_facts_only():
    assert prompt(None) == OWNER
    assert prompt(None, {"name": "דנה"}) == f"{OWNER}\n\n{HEADING}\n- name: דנה"


def test_the_prompt_has_no_markdown_of_its_own_beyond_the_rule_dashes():
    text = prompt(CLOSED)
    assert "**" not in text and "#" not in text and "http" not in text


async def test_the_model_gets_the_built_prompt_on_every_turn_with_the_facts_learnt_so_far(call):
    config = replace(CONFIG, business=OPEN, lead_facts={"name": "יוסי"})
    c = call(config=config, asr=FakeASR(["היי"]))
    await c.greeted()
    await c.feed(voiced(600) + silence(800))
    await until(lambda: c.llm.calls != [])
    expected = build_system_prompt(
        CONFIG.system_prompt, OPEN, {"name": "יוסי"}, facts_heading=CONFIG.known_facts_heading
    )
    assert c.llm.calls[0][0] == {"role": "system", "content": expected}
