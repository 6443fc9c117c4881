import pytest

from crm.models import Business, Lead, PhoneNumber
from crm.services import business_for_number, ensure_default_business, find_or_create_lead

pytestmark = pytest.mark.django_db


def test_fresh_install_has_one_default_business_with_hebrew_defaults():
    business = ensure_default_business()
    assert business.is_default
    assert business.language == "he-IL"
    assert "שלום" in business.greeting
    assert business.system_prompt
    assert business.agent_mode == Business.AgentMode.AI
    assert ensure_default_business() == business
    assert Business.objects.filter(is_default=True).count() == 1


def test_default_business_is_recreated_when_missing():
    Business.objects.all().delete()
    assert ensure_default_business().is_default


def test_called_number_selects_its_business_in_any_format():
    clinic = Business.objects.create(name="מרפאה")
    PhoneNumber.objects.create(business=clinic, number="+97233763805")
    assert business_for_number("+97233763805") == clinic
    assert business_for_number("03-376-3805") == clinic


def test_unknown_or_missing_called_number_falls_back_to_default_business():
    default = ensure_default_business()
    assert business_for_number("+97239999999") == default
    assert business_for_number(None) == default


def test_second_call_from_same_number_finds_the_same_lead():
    business = ensure_default_business()
    first = find_or_create_lead(business, "+972501234567")
    second = find_or_create_lead(business, "050-123-4567")
    assert first == second
    assert first.phone == "+972501234567"
    assert first.status == Lead.Status.NEW
    assert Lead.objects.count() == 1


def test_same_number_is_a_different_lead_in_another_business():
    a = ensure_default_business()
    b = Business.objects.create(name="B")
    assert find_or_create_lead(a, "+972501234567") != find_or_create_lead(b, "+972501234567")


def test_hidden_caller_gets_no_lead():
    assert find_or_create_lead(ensure_default_business(), "anonymous") is None
    assert Lead.objects.count() == 0
