"""The Hebrew the staff read: the terms chosen for them, and no English field name among them."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, ngettext

from backoffice.labels import source_label
from crm.models import Business, Call, Lead, Membership
from tests.support import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("msgid", "hebrew"),
    [
        ("Sink (diagnostic)", "קליטה בלבד (אבחון)"),
        ("Idle prompt", "תזכורת אחרי שתיקה"),
        ("idle prompt", "תזכורת אחרי שתיקה"),
        ("idle prompt after (s)", "תזכורת אחרי שתיקה של (שניות)"),
        ("membership", "שיוך לעסק"),
        ("Lost", "לא נסגר"),
        ("TTS first audio", "אודיו ראשון מההקראה"),
        ("Record", "פרטי רשומה"),
        ("Value could not be parsed.", "לא ניתן לפענח את הערך."),
        ("Select all", "בחירת הכול"),
        ("access attempts", "ניסיונות כניסה"),
        ("Model name", "סוג רשומה"),
        ("CRM", "לידים ושיחות"),
    ],
)
def test_the_chosen_hebrew_terms(msgid, hebrew):
    with translation.override("he"):
        assert gettext(msgid) == hebrew


def test_settings_sections_have_distinct_names():
    """ "Record" (when the row was created and changed) is not "Recording" (the audio of a call)."""
    with translation.override("he"):
        assert gettext("Record") != gettext("Recording")


def test_call_statuses_agree_with_a_call_which_is_feminine():
    with translation.override("he"):
        labels = {status: str(status.label) for status in Call.Status}
    assert labels[Call.Status.COMPLETED] == "הושלמה"
    assert labels[Call.Status.FAILED] == "נכשלה"
    assert labels[Call.Status.NO_ANSWER] == "לא נענתה"
    assert labels[Call.Status.CANCELED] == "בוטלה"
    assert labels[Call.Status.IN_PROGRESS] == "פעילה"


def test_model_labels_use_the_new_terms():
    with translation.override("he"):
        assert str(Membership._meta.verbose_name) == "שיוך לעסק"
        assert str(Lead.Status.LOST.label) == "לא נסגר"
        assert str(Business.AgentMode.SINK.label) == "קליטה בלבד (אבחון)"


@pytest.mark.parametrize(
    ("stored", "shown"),
    [("phone", "שיחת טלפון"), ("import", "ייבוא"), ("website", "אתר האינטרנט"), ("manual", "הוזן ידנית")],
)
def test_known_lead_sources_are_shown_in_hebrew(stored, shown):
    with translation.override("he"):
        assert source_label(stored) == shown


def test_an_unknown_source_is_shown_as_it_was_stored():
    with translation.override("he"):
        assert source_label("facebook") == "facebook"


def test_leads_list_names_business_and_source_in_hebrew(owner_client, owner_a, business_a, business_b):
    factories.add_member(owner_a, business_b)  # the business filter shows only with two businesses to choose
    factories.make_lead(business_a, "+972501234567", "דנה כהן")  # source "phone", the default
    factories.make_lead(business_b, "+972527654321", "יוסי", source="import")
    with translation.override("he"):
        page = owner_client.get(reverse("admin:crm_lead_changelist")).content.decode()
    assert "לפי עסק" in page
    assert "שיחת טלפון" in page
    assert "לפי business" not in page and ">business<" not in page.lower().replace(" ", "")


def test_the_source_filter_keeps_its_stored_value(owner_client, business_a):
    factories.make_lead(business_a, "+972501234567", "דנה כהן", source="phone")
    factories.make_lead(business_a, "+972527654321", "יוסי", source="import")
    response = owner_client.get(reverse("admin:crm_lead_changelist"), {"source": "import"})
    assert [lead.name for lead in response.context["cl"].result_list] == ["יוסי"]


def test_lead_form_names_the_business_in_hebrew(owner_client, business_a):
    with translation.override("he"):
        page = owner_client.get(reverse("admin:crm_lead_add")).content.decode()
    assert 'for="id_business">עסק' in page


def test_calls_list_heads_the_business_column_in_hebrew(owner_client, owner_a, business_a, business_b):
    factories.add_member(owner_a, business_b)
    factories.make_call(business_a, factories.make_lead(business_a, "+972501234567", "דנה כהן"))
    factories.make_call(business_b, factories.make_lead(business_b, "+972527654321", "יוסי"))
    with translation.override("he"):
        page = owner_client.get(reverse("admin:crm_call_changelist")).content.decode()
    assert "column-business_column" in page and "לפי עסק" in page


def test_owners_read_memberships_under_a_hebrew_staff_member_header(owner_client, owner_a, business_a):
    with translation.override("he"):
        page = owner_client.get(reverse("admin:crm_business_change", args=[business_a.pk])).content.decode()
    assert "איש צוות" in page
    assert "owner_a" in page


@pytest.mark.parametrize("count", [0, 3, 7])
def test_the_admins_result_count_is_hebrew_for_every_plural_form(count):
    """Django's own Hebrew lacks the plural form used for 0 and 3-9, so "0 results" showed in English."""
    with translation.override("he"):
        assert ngettext("%(counter)s result", "%(counter)s results", count) % {"counter": count} == f"{count} תוצאות"


def test_a_lead_page_shows_its_source_in_hebrew_and_saving_keeps_it(owner_client, business_a):
    lead = factories.make_lead(business_a, "+972501234567", "דנה כהן", source="phone")
    url = reverse("admin:crm_lead_change", args=[lead.pk])
    with translation.override("he"):
        page = owner_client.get(url).content.decode()
    assert '<option value="phone" selected>שיחת טלפון</option>' in page


def test_an_unknown_source_stays_selectable_as_it_was_stored(owner_client, business_a):
    lead = factories.make_lead(business_a, "+972501234567", "דנה כהן", source="facebook")
    page = owner_client.get(reverse("admin:crm_lead_change", args=[lead.pk])).content.decode()
    assert '<option value="facebook" selected>facebook</option>' in page
