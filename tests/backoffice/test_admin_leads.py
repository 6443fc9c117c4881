"""The leads list: found by name or by a phone number typed any way, filtered, worked in bulk."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.urls import reverse
from django.utils import timezone

from crm.models import Lead
from tests.support import factories

pytestmark = pytest.mark.django_db
LIST = "admin:crm_lead_changelist"


def listed(client, **params) -> set[str]:
    response = client.get(reverse(LIST), params)
    assert response.status_code == 200
    return {lead.name for lead in response.context["cl"].result_list}


@pytest.fixture
def leads(business_a):
    return {
        "dana": factories.make_lead(business_a, "+972501234567", "דנה כהן"),
        "yossi": factories.make_lead(business_a, "+972527654321", "Yossi Levi"),
        "landline": factories.make_lead(business_a, "+97233763805", "מוסך הצפון"),
    }


@pytest.mark.parametrize(
    "typed",
    ["050-123-4567", "0501234567", "+972 50 123 4567", "00972501234567", "(050) 123 4567", "972501234567"],
)
def test_search_finds_a_lead_by_phone_typed_in_any_format(owner_client, leads, typed):
    assert listed(owner_client, q=typed) == {"דנה כהן"}


def test_search_by_partial_number_and_by_name(owner_client, leads):
    assert listed(owner_client, q="765-4321") == {"Yossi Levi"}
    assert listed(owner_client, q="03-376") == {"מוסך הצפון"}
    assert listed(owner_client, q="דנה") == {"דנה כהן"}
    assert listed(owner_client, q="levi") == {"Yossi Levi"}


def test_search_by_phone_never_crosses_businesses(owner_client, leads, business_b):
    factories.make_lead(business_b, "+972501234567", "B's Dana")
    assert listed(owner_client, q="050-1234567") == {"דנה כהן"}


def test_filter_by_status_owner_and_business(owner_client, owner_a, leads):
    Lead.objects.filter(pk=leads["yossi"].pk).update(status=Lead.Status.QUALIFIED, owner=owner_a)
    assert listed(owner_client, status__exact="qualified") == {"Yossi Levi"}
    assert listed(owner_client, owner__id__exact=owner_a.pk) == {"Yossi Levi"}
    assert listed(owner_client, business__id__exact=leads["dana"].business_id) == {
        "דנה כהן",
        "Yossi Levi",
        "מוסך הצפון",
    }


def test_follow_up_due_filter(owner_client, leads):
    today = timezone.localdate()
    Lead.objects.filter(pk=leads["dana"].pk).update(next_follow_up=today - timedelta(days=2))
    Lead.objects.filter(pk=leads["yossi"].pk).update(next_follow_up=today)
    Lead.objects.filter(pk=leads["landline"].pk).update(next_follow_up=today + timedelta(days=3))
    assert listed(owner_client, follow_up="overdue") == {"דנה כהן"}
    assert listed(owner_client, follow_up="today") == {"Yossi Levi"}
    assert listed(owner_client, follow_up="week") == {"Yossi Levi", "מוסך הצפון"}
    Lead.objects.filter(pk=leads["landline"].pk).update(next_follow_up=None)
    assert listed(owner_client, follow_up="none") == {"מוסך הצפון"}


def test_list_has_date_hierarchy_and_follow_up_highlight(owner_client, leads):
    Lead.objects.filter(pk=leads["dana"].pk).update(next_follow_up=timezone.localdate() - timedelta(days=1))
    body = owner_client.get(reverse(LIST)).content.decode()
    assert "follow-up-overdue" in body
    assert '<nav class="toplinks">' in body and "created_at__year=" in body


def test_bulk_status_change(staff_client, leads):
    response = staff_client.post(
        reverse(LIST),
        {
            "action": "set_status_contacted",
            helpers.ACTION_CHECKBOX_NAME: [leads["dana"].pk, leads["yossi"].pk],
        },
    )
    assert response.status_code == 302
    statuses = dict(Lead.objects.values_list("name", "status"))
    assert statuses == {"דנה כהן": "contacted", "Yossi Levi": "contacted", "מוסך הצפון": "new"}


def test_bulk_assign_owner_through_an_intermediate_page(owner_client, staff_a, leads, owner_b):
    selected = [leads["dana"].pk, leads["yossi"].pk]
    page = owner_client.post(reverse(LIST), {"action": "assign_owner", helpers.ACTION_CHECKBOX_NAME: selected})
    assert page.status_code == 200
    choices = {str(user) for user in page.context["form"].fields["owner"].queryset}
    assert "staff_a" in choices and "owner_b" not in choices
    done = owner_client.post(
        reverse(LIST),
        {"action": "assign_owner", "apply": "1", "owner": staff_a.pk, helpers.ACTION_CHECKBOX_NAME: selected},
    )
    assert done.status_code == 302
    owners = dict(Lead.objects.values_list("name", "owner__username"))
    assert owners == {"דנה כהן": "staff_a", "Yossi Levi": "staff_a", "מוסך הצפון": None}


def test_bulk_assign_refuses_someone_from_another_business(owner_client, leads, owner_b):
    response = owner_client.post(
        reverse(LIST),
        {
            "action": "assign_owner",
            "apply": "1",
            "owner": owner_b.pk,
            helpers.ACTION_CHECKBOX_NAME: [leads["dana"].pk],
        },
    )
    assert response.status_code == 200  # the form again, with an error
    assert response.context["form"].errors
    assert Lead.objects.get(pk=leads["dana"].pk).owner is None


def test_assign_to_me(staff_client, staff_a, leads):
    staff_client.post(reverse(LIST), {"action": "assign_to_me", helpers.ACTION_CHECKBOX_NAME: [leads["dana"].pk]})
    assert Lead.objects.get(pk=leads["dana"].pk).owner == staff_a


def test_lead_page_lists_its_calls_with_outcome_duration_and_player(owner_client, leads):
    lead = leads["dana"]
    answered = factories.make_call(lead.business, lead, duration_seconds=125)
    factories.make_call(lead.business, lead, outcome="voicemail", duration_seconds=20)
    recording = factories.make_recording(answered)
    body = owner_client.get(reverse("admin:crm_lead_change", args=[lead.pk])).content.decode()
    assert reverse("admin:crm_call_change", args=[answered.pk]) in body
    assert "2:05" in body and "0:20" in body
    assert f"/recordings/{recording.pk}/audio" in body
    assert "<audio" in body


def test_notes_follow_up_and_phone_are_edited_and_normalised(staff_client, leads):
    lead = leads["dana"]
    data = {
        "name": lead.name,
        "phone": "050 123 4567",
        "business": lead.business_id,
        "status": "contacted",
        "source": "phone",
        "notes": "לחזור אחרי 17:00, מעדיפה WhatsApp",
        "next_follow_up": "2030-01-15",
        "calls-TOTAL_FORMS": "0",
        "calls-INITIAL_FORMS": "0",
    }
    response = staff_client.post(reverse("admin:crm_lead_change", args=[lead.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    lead.refresh_from_db()
    assert lead.notes.startswith("לחזור אחרי 17:00")
    assert lead.next_follow_up.isoformat() == "2030-01-15"
    assert lead.phone == "+972501234567"


def test_a_second_lead_with_the_same_number_is_refused_in_plain_words(owner_client, leads, business_a):
    data = {
        "name": "כפילות",
        "phone": "052-765-4321",
        "business": business_a.pk,
        "status": "new",
        "source": "phone",
        "calls-TOTAL_FORMS": "0",
        "calls-INITIAL_FORMS": "0",
    }
    response = owner_client.post(reverse("admin:crm_lead_add"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "phone" in errors and "Yossi Levi" in str(errors["phone"])


def test_an_owner_from_another_business_is_refused_on_the_lead_form(owner_client, leads, owner_b):
    lead = leads["dana"]
    data = {
        "name": lead.name,
        "phone": lead.phone,
        "business": lead.business_id,
        "status": "new",
        "source": "phone",
        "owner": owner_b.pk,
        "calls-TOTAL_FORMS": "0",
        "calls-INITIAL_FORMS": "0",
    }
    response = owner_client.post(reverse("admin:crm_lead_change", args=[lead.pk]), data)
    assert response.status_code == 200
    assert "owner" in response.context["adminform"].form.errors
