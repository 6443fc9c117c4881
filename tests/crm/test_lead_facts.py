"""The one merge of what a call taught us into a lead: the agent's tool and both digests use it."""

from __future__ import annotations

import pytest

from crm.lead_facts import LEAD_FACT_FIELDS, NOTE, apply_lead_facts
from crm.models import Lead
from crm.services import ensure_default_business

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead() -> Lead:
    return Lead.objects.create(
        business=ensure_default_business(), phone="+972501234567", name="דנה כהן", interest="מנוי"
    )


def test_the_fact_list_names_lead_fields():
    assert LEAD_FACT_FIELDS == ("name", "interest", "callback_time")
    for field in LEAD_FACT_FIELDS:
        Lead._meta.get_field(field)


def test_a_new_value_replaces_a_different_old_one_and_empty_never_erases(lead):
    changed = apply_lead_facts(lead, {"name": " דנה לוי ", "interest": "", "callback_time": "מחר"})
    assert changed == {"name": "דנה לוי", "callback_time": "מחר"}
    assert (lead.name, lead.interest, lead.callback_time) == ("דנה לוי", "מנוי", "מחר")


def test_a_value_already_known_is_no_change(lead):
    assert apply_lead_facts(lead, {"name": "דנה כהן", "interest": None}) == {}


def test_values_are_cut_to_the_field_length(lead):
    apply_lead_facts(lead, {"name": "א" * 500})
    assert len(lead.name) == Lead._meta.get_field("name").max_length


def test_notes_are_appended_with_a_timestamp(lead):
    assert apply_lead_facts(lead, {NOTE: "ביקשה הצעת מחיר"}) == {NOTE: "ביקשה הצעת מחיר"}
    apply_lead_facts(lead, {NOTE: "שנייה"})
    first, second = lead.notes.split("\n")
    assert first.startswith("[") and first.endswith("] ביקשה הצעת מחיר")
    assert second.startswith("[") and second.endswith("] שנייה")


def test_the_lead_is_changed_but_not_saved(lead):
    apply_lead_facts(lead, {"interest": "ביטוח"})
    lead.refresh_from_db()
    assert lead.interest == "מנוי"
