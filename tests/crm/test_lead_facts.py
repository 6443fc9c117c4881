"""The one merge of what a call taught us into a lead: the agent's tool and both digests use it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from crm.callback_times import BadCallbackTime
from crm.lead_facts import CALLBACK_AT, LEAD_FACT_FIELDS, NOTE, apply_lead_facts
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
    assert changed.pop(CALLBACK_AT)  # the words resolved into a time too (below)
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


# -- the callback request as a time (issue 14) ---------------------------------------------------------------
TZ = ZoneInfo("Asia/Jerusalem")
SAID_AT = dt.datetime(2025, 4, 13, 10, 30, tzinfo=TZ)  # a Sunday morning


@pytest.fixture
def business_hours(lead):
    business = lead.business
    business.time_zone = "Asia/Jerusalem"
    business.opening_hours = {day: [["09:00", "17:00"]] for day in ("sun", "mon", "tue", "wed", "thu")}
    business.save()
    return business


def test_the_models_time_sets_callback_at_beside_the_words_as_said(lead, business_hours):
    changed = apply_lead_facts(
        lead, {"callback_time": "מחר אחרי ארבע", CALLBACK_AT: "2025-04-14T16:15:00+03:00"}, said_at=SAID_AT
    )
    assert lead.callback_time == "מחר אחרי ארבע"
    assert lead.callback_at == dt.datetime(2025, 4, 14, 16, 15, tzinfo=TZ)
    assert changed == {"callback_time": "מחר אחרי ארבע", CALLBACK_AT: "2025-04-14T16:15:00+03:00"}


def test_words_alone_are_resolved_against_when_they_were_said(lead, business_hours):
    changed = apply_lead_facts(lead, {"callback_time": "מחר בבוקר"}, said_at=SAID_AT)
    assert lead.callback_at == dt.datetime(2025, 4, 14, 9, 0, tzinfo=TZ)
    assert changed[CALLBACK_AT] == "2025-04-14T09:00:00+03:00"


def test_a_time_from_the_model_in_this_call_is_not_overwritten_by_the_digests_words(lead, business_hours):
    apply_lead_facts(lead, {"callback_time": "מחר", CALLBACK_AT: "2025-04-14T10:30"}, said_at=SAID_AT)
    # The digest of the same call says it again, less precisely: the model's time stays.
    changed = apply_lead_facts(lead, {"callback_time": "מחר בבוקר"}, said_at=SAID_AT, keep_callback_at=True)
    assert changed == {"callback_time": "מחר בבוקר"}
    assert lead.callback_at == dt.datetime(2025, 4, 14, 10, 30, tzinfo=TZ)


def test_new_words_in_a_later_call_replace_a_time_left_from_an_earlier_one(lead, business_hours):
    apply_lead_facts(lead, {"callback_time": "ביום חמישי", CALLBACK_AT: "2025-04-17T10:30"}, said_at=SAID_AT)
    changed = apply_lead_facts(lead, {"callback_time": "מחר בבוקר"}, said_at=SAID_AT)
    assert changed["callback_time"] == "מחר בבוקר" and "callback_at" in changed
    assert lead.callback_at.astimezone(TZ).date() == dt.date(2025, 4, 14)


def test_words_naming_no_time_leave_callback_at_as_it_was(lead, business_hours):
    assert apply_lead_facts(lead, {"callback_time": "כשנוח לכם"}, said_at=SAID_AT) == {"callback_time": "כשנוח לכם"}
    assert lead.callback_at is None


@pytest.mark.parametrize("bad", ["tomorrow at 4", "2025-02-30T10:00", "2020-01-01T10:00:00+02:00"])
def test_a_bad_time_from_the_model_is_an_error_and_changes_nothing(lead, business_hours, bad):
    with pytest.raises(BadCallbackTime, match="callback_at"):
        apply_lead_facts(lead, {"name": "אחר", "callback_time": "מחר", CALLBACK_AT: bad}, said_at=SAID_AT)
    assert (lead.name, lead.callback_time, lead.callback_at) == ("דנה כהן", "", None)
