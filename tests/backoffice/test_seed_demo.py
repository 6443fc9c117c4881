"""The demo data command: a business worth looking at, created once."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from backoffice.management.commands.seed_demo import DEMO_NAME
from crm.models import Business, Call
from tests.support import factories

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_a_business_with_calls_once_and_creates_no_account():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    business = Business.objects.get(name=DEMO_NAME)
    assert business.leads.count() == 5
    assert business.calls.count() == 11
    assert "createsuperuser" in out.getvalue()
    call_command("seed_demo", stdout=io.StringIO())
    assert Business.objects.filter(name=DEMO_NAME).count() == 1
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.exists()


def test_the_demo_call_page_renders(db):
    call_command("seed_demo", stdout=io.StringIO())
    client = Client()
    client.force_login(factories.make_user("root", superuser=True))
    call = Call.objects.filter(summary__contains="דנה").get()
    body = client.get(reverse("admin:crm_call_change", args=[call.pk])).content.decode()
    assert "latency-waterfall" in body and "event-tool-call" in body and 'id="call-audio"' in body


def _is_fictional(number: str) -> bool:
    """Parses and is stored like any Israeli number, but lies in no range the numbering plan allocates."""
    import phonenumbers

    from crm.phones import normalize_phone

    parsed = phonenumbers.parse(number)
    return (
        normalize_phone(number) == number
        and phonenumbers.region_code_for_country_code(parsed.country_code) == "IL"
        and phonenumbers.is_possible_number(parsed)
        and not phonenumbers.is_valid_number(parsed)
    )


def test_seed_demo_writes_fictional_numbers_only():
    from crm.models import CallEvent, PhoneNumber

    call_command("seed_demo", stdout=io.StringIO())
    business = Business.objects.get(name=DEMO_NAME)
    numbers = set(PhoneNumber.objects.filter(business=business).values_list("number", flat=True))
    numbers |= set(business.leads.values_list("phone", flat=True))
    for from_number, to_number in business.calls.values_list("from_number", "to_number"):
        numbers |= {from_number, to_number}
    numbers |= {e.payload["from"] for e in CallEvent.objects.filter(call__business=business) if "from" in e.payload}
    assert len(numbers) == 6  # the line and five leads
    assert all(_is_fictional(n) for n in numbers), sorted(n for n in numbers if not _is_fictional(n))


def test_seed_demo_never_takes_another_business_number():
    from backoffice.management.commands.seed_demo import DEMO_NUMBER
    from crm.models import PhoneNumber

    other = factories.make_business("Garage Beta")
    factories.make_phone_number(other, DEMO_NUMBER, label="theirs")
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", "--reset", stdout=io.StringIO())

    assert PhoneNumber.objects.get(number=DEMO_NUMBER).business == other  # untouched, label and all
    assert PhoneNumber.objects.get(number=DEMO_NUMBER).label == "theirs"
    demo = Business.objects.get(name=DEMO_NAME)
    line = PhoneNumber.objects.get(business=demo).number
    assert line != DEMO_NUMBER and _is_fictional(line)
    assert set(demo.calls.values_list("to_number", flat=True)) == {line}
    assert not demo.leads.filter(phone=line).exists()


def test_seed_demo_reset_keeps_its_own_line():
    from backoffice.management.commands.seed_demo import DEMO_NUMBER
    from crm.models import PhoneNumber

    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", "--reset", stdout=io.StringIO())
    assert PhoneNumber.objects.get(number=DEMO_NUMBER).business.name == DEMO_NAME
    assert PhoneNumber.objects.count() == 1


def test_simulate_call_calls_the_demo_line_from_a_fictional_number():
    from backoffice.management.commands.seed_demo import DEMO_NUMBER
    from voice.management.commands.simulate_call import DEFAULT_FROM, DEFAULT_TO

    assert DEFAULT_TO == DEMO_NUMBER
    assert _is_fictional(DEFAULT_FROM) and _is_fictional(DEFAULT_TO)
