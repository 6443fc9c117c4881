"""After hours: the agent says it is closed and when it opens (or the call goes straight to voicemail, as
the owner chose), and the business's name, lines and hours reach the call's configuration."""

from __future__ import annotations

import datetime as dt
import importlib
import xml.etree.ElementTree as ET
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.utils import timezone

from crm import defaults
from crm.models import Business, CallEvent
from crm.opening_hours import WEEKDAYS
from crm.services import ensure_default_business
from tests.support.twilio_fixtures import fixture, post_signed
from voice.business_config import agent_config_for
from voice.store import load_call_info

pytestmark = pytest.mark.django_db

INCOMING = "/webhook/incoming_call"
CALL_SID = "CA0123456789abcdef0123456789abcdef"  # the incoming_call fixture's
JERUSALEM = ZoneInfo("Asia/Jerusalem")
FRIDAY_EVENING = dt.datetime(2025, 4, 11, 20, 0, tzinfo=JERUSALEM)
SUNDAY_MORNING = dt.datetime(2025, 4, 6, 10, 0, tzinfo=JERUSALEM)
WEEKDAY_HOURS = {day: [["09:00", "17:00"]] for day in ("sun", "mon", "tue", "wed", "thu")}


def closed_all_day_now() -> dict[str, list[list[str]]]:
    """Hours that never include the present moment: one hour a day, twelve hours away from now."""
    start = (timezone.now().astimezone(JERUSALEM).hour + 12) % 24
    return {day: [[f"{start:02d}:00", f"{start + 1:02d}:00"]] for day in WEEKDAYS}


OPEN_ALL_DAY = {day: [["00:00", "24:00"]] for day in WEEKDAYS}


def business_with(**fields) -> Business:
    business = ensure_default_business()  # the one the fixture's number reaches
    for name, value in fields.items():
        setattr(business, name, value)
    business.save()
    return business


def twiml(response) -> ET.Element:
    assert response.status_code == 200
    return ET.fromstring(response.content)


def test_closed_with_straight_to_voicemail_answers_with_voicemail_and_says_why(client, settings):
    business_with(opening_hours=closed_all_day_now(), after_hours=Business.AfterHours.VOICEMAIL)
    root = twiml(post_signed(client, settings.TWILIO_AUTH_TOKEN, INCOMING, fixture("callbacks", "incoming_call")))
    assert [el.tag for el in root] == ["Say", "Record", "Say", "Hangup"]
    [fallback] = CallEvent.objects.filter(call__call_sid=CALL_SID, kind=CallEvent.Kind.FALLBACK)
    assert fallback.payload["reason"] == "after_hours"
    opens = dt.datetime.fromisoformat(fallback.payload["next_open"])
    assert timezone.now() < opens < timezone.now() + dt.timedelta(days=1)


def test_open_with_straight_to_voicemail_after_hours_connects_the_agent(client, settings):
    business_with(opening_hours=OPEN_ALL_DAY, after_hours=Business.AfterHours.VOICEMAIL)
    root = twiml(post_signed(client, settings.TWILIO_AUTH_TOKEN, INCOMING, fixture("callbacks", "incoming_call")))
    assert root.find("Connect/Stream") is not None
    assert not CallEvent.objects.filter(kind=CallEvent.Kind.FALLBACK).exists()


def test_closed_with_the_agent_answering_connects_and_greets_with_the_after_hours_line(client, settings):
    business = business_with(name="מספרת רוני", opening_hours=closed_all_day_now())
    root = twiml(post_signed(client, settings.TWILIO_AUTH_TOKEN, INCOMING, fixture("callbacks", "incoming_call")))
    assert root.find("Connect/Stream") is not None
    config = load_call_info(CALL_SID).config
    assert not config.open_now
    assert config.greeting == config.after_hours_line
    assert config.greeting.startswith("שלום, הגעתם למספרת רוני. אנחנו סגורים כרגע, ונפתח שוב ")
    assert "{" not in config.greeting
    assert "להשאיר לי הודעה או לבקש שנחזור אליכם" in config.greeting
    assert config.business is not None and not config.business.open_now and config.business.next_open
    assert business.after_hours == Business.AfterHours.AGENT  # the default


def test_after_hours_greeting_and_prompt_at_a_fixed_moment():
    business = Business(name="מרפאת אלון", opening_hours=WEEKDAY_HOURS, address="הרצל 5, חיפה")
    config = agent_config_for(business, {"name": "דנה"}, FRIDAY_EVENING)
    assert config.greeting == (
        "שלום, הגעתם למרפאת אלון. אנחנו סגורים כרגע, ונפתח שוב ביום ראשון בשעה 09:00. "
        "אפשר להשאיר לי הודעה או לבקש שנחזור אליכם, ואני ארשום את הפרטים."
    )
    context = config.business
    assert context is not None
    assert (context.name, context.address, context.open_now) == ("מרפאת אלון", "הרצל 5, חיפה", False)
    assert context.now == "יום שישי, 11/04/2025, 20:00"
    assert context.next_open == "ביום ראשון בשעה 09:00"
    assert config.lead_facts == {"name": "דנה"}


def test_open_the_greeting_and_prompt_name_the_business():
    business = Business(name="מרפאת אלון", opening_hours=WEEKDAY_HOURS)
    config = agent_config_for(business, {}, SUNDAY_MORNING)
    assert config.open_now
    assert config.greeting == "שלום, הגעתם למרפאת אלון. במה אפשר לעזור?"
    assert config.system_prompt.startswith("אתה הנציג הטלפוני של מרפאת אלון:")
    assert "במה הוא מתעניין" in config.system_prompt and "למה הוא מתעניין" not in config.system_prompt


def test_no_hours_set_answers_as_always_open_as_before():
    config = agent_config_for(Business(name="עסק"), {}, FRIDAY_EVENING)
    assert config.open_now and config.greeting == "שלום, הגעתם לעסק. במה אפשר לעזור?"
    assert config.business is not None and not config.business.hours_known


def test_the_fixed_lines_reach_the_configuration():
    business = Business(
        name="מוסך בטא",
        apology="אופס, לא שמעתי טוב.",
        idle_prompt="הלו?",
        goodbye="להתראות מ{business}.",
        fillers="רגע.\r\n\r\n  שנייה, בודק.  \n",
        addresses_callers=Business.CallerAddress.NEUTRAL,
        speaks_as=Business.AgentGender.FEMININE,
        knowledge="החלפת שמן: 300 שקלים ב{business}.",
    )
    config = agent_config_for(business, {}, SUNDAY_MORNING)
    assert (config.apology, config.idle_prompt, config.goodbye) == ("אופס, לא שמעתי טוב.", "הלו?", "להתראות ממוסך בטא.")
    assert config.fillers == ("רגע.", "שנייה, בודק.")
    assert config.business is not None
    assert (config.business.addresses_callers, config.business.speaks_as) == ("neutral", "feminine")
    assert config.business.knowledge == "החלפת שמן: 300 שקלים במוסך בטא."


def test_the_default_greeting_and_prompt_agree():
    assert "{business}" in defaults.DEFAULT_GREETING and "{business}" in defaults.DEFAULT_SYSTEM_PROMPT
    assert "{next_open}" in defaults.DEFAULT_LINES["after_hours_line"]


def test_the_migration_updates_rows_that_still_hold_the_old_defaults_only():
    migration = importlib.import_module("crm.migrations.0007_business_knowledge_and_hours")
    untouched = Business.objects.create(
        name="ישן", greeting=defaults.OLD_DEFAULT_GREETING, system_prompt=defaults.OLD_DEFAULT_SYSTEM_PROMPT
    )
    edited = Business.objects.create(name="ערוך", greeting="שלום מהמוסך!", system_prompt="אתה מוסכניק.")
    migration.new_defaults(apps, None)
    untouched.refresh_from_db()
    edited.refresh_from_db()
    assert (untouched.greeting, untouched.system_prompt) == (defaults.DEFAULT_GREETING, defaults.DEFAULT_SYSTEM_PROMPT)
    assert (edited.greeting, edited.system_prompt) == ("שלום מהמוסך!", "אתה מוסכניק.")
