"""Who sees what: every admin page and view is limited to the user's businesses; logins are rate limited."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from crm.models import Membership
from tests.support import factories
from tests.support.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def b_rows(business_b):
    lead = factories.make_lead(business_b, "+972521111111", "Secret B lead")
    call = factories.make_call(business_b, lead, summary="B's confidential summary")
    factories.make_utterance(call, "caller", "B's private words", 1000)
    recording = factories.make_recording(call)
    return {"lead": lead, "call": call, "recording": recording}


@pytest.mark.parametrize(
    "url_name, row",
    [
        ("admin:crm_call_change", "call"),
        ("admin:crm_lead_change", "lead"),
        ("admin:crm_recording_change", "recording"),
    ],
)
def test_a_user_of_business_a_cannot_open_b_rows_by_url(owner_client, b_rows, url_name, row):
    response = owner_client.get(reverse(url_name, args=[b_rows[row].pk]), follow=True)
    body = response.content.decode()
    assert response.status_code in (404, 200)  # 404, or the admin's redirect to its index
    if response.status_code == 200:
        assert response.redirect_chain, "the page of another business's row must not render"
    assert "Secret B lead" not in body
    assert "confidential" not in body
    assert "private words" not in body


def test_a_user_of_business_a_cannot_open_b_settings_or_its_greeting_preview(owner_client, business_b):
    change = owner_client.get(reverse("admin:crm_business_change", args=[business_b.pk]), follow=True)
    assert business_b.name not in change.content.decode()
    preview = owner_client.get(reverse("admin:crm_business_preview_greeting", args=[business_b.pk]))
    assert preview.status_code == 404


def test_lists_show_only_the_users_businesses(owner_client, business_a, b_rows):
    factories.make_lead(business_a, "+972531234567", "Lead of A")
    leads = owner_client.get(reverse("admin:crm_lead_changelist")).content.decode()
    assert "Lead of A" in leads and "Secret B lead" not in leads
    calls = owner_client.get(reverse("admin:crm_call_changelist")).content.decode()
    assert "+972 52" not in calls and "052-111" not in calls
    businesses = owner_client.get(reverse("admin:crm_business_changelist")).content.decode()
    assert business_a.name in businesses and "Garage Beta" not in businesses


def test_utterance_and_event_lists_are_scoped(owner_client, b_rows):
    body = owner_client.get(reverse("admin:crm_utterance_changelist")).content.decode()
    assert "private words" not in body


def test_foreign_key_choices_never_offer_another_business_or_its_people(owner_client, business_a, owner_b):
    lead = factories.make_lead(business_a, "+972541234567")
    body = owner_client.get(reverse("admin:crm_lead_change", args=[lead.pk])).content.decode()
    assert "owner_a" in body
    assert "owner_b" not in body
    assert "Garage Beta" not in body


def test_a_lead_cannot_be_moved_into_another_business_by_a_forged_post(owner_client, business_a, business_b):
    lead = factories.make_lead(business_a, "+972541234567", "Moving")
    data = {
        "name": "Moving",
        "phone": "+972541234567",
        "business": business_b.pk,
        "status": "new",
        "source": "phone",
        "calls-TOTAL_FORMS": "0",
        "calls-INITIAL_FORMS": "0",
    }
    response = owner_client.post(reverse("admin:crm_lead_change", args=[lead.pk]), data)
    assert response.status_code == 200  # the form comes back with an error
    lead.refresh_from_db()
    assert lead.business == business_a


def test_membership_puts_staff_in_the_group_with_their_permissions(owner_a, staff_a):
    assert owner_a.is_staff and staff_a.is_staff
    assert list(owner_a.groups.values_list("name", flat=True)) == ["Owners"]
    assert list(staff_a.groups.values_list("name", flat=True)) == ["Sales staff"]
    assert owner_a.has_perm("crm.change_business") and not staff_a.has_perm("crm.change_business")
    assert staff_a.has_perm("crm.change_lead") and staff_a.has_perm("crm.view_call")
    assert not staff_a.has_perm("crm.delete_lead") and owner_a.has_perm("crm.delete_lead")
    assert not owner_a.has_perm("crm.change_call")


def test_the_groups_exist_after_migrating():
    owners = Group.objects.get(name="Owners")
    staff = Group.objects.get(name="Sales staff")
    assert owners.permissions.filter(codename="change_business").exists()
    assert staff.permissions.filter(codename="view_recording").exists()
    assert not staff.permissions.filter(codename="change_business").exists()


def test_superuser_adds_a_member_through_the_business_page_and_the_user_gets_a_group(business_a):
    admin = factories.make_user("root", superuser=True)
    newcomer = factories.make_user("newcomer", staff=False)
    client = Client()
    client.force_login(admin)
    url = reverse("admin:crm_business_change", args=[business_a.pk])
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "fallback_audio"}
    data.update(
        {
            "phone_numbers-TOTAL_FORMS": "0",
            "phone_numbers-INITIAL_FORMS": "0",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": newcomer.pk,
            "memberships-0-role": Membership.Role.STAFF,
            "memberships-0-notify": Membership.Notify.NEW_LEADS,
            "memberships-0-on_duty": "on",
        }
    )
    data = {k: ("on" if v is True else v) for k, v in data.items() if v is not False}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    newcomer.refresh_from_db()
    assert newcomer.is_staff
    assert newcomer.groups.filter(name="Sales staff").exists()


def test_admin_login_locks_out_after_the_failure_limit(business_a):
    user = factories.make_user("dana")
    factories.add_member(user, business_a)
    client = Client()
    url = reverse("admin:login")
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit):
        response = client.post(url, {"username": "dana", "password": "wrong", "next": "/admin/"})
        assert response.status_code in (200, 429)
    # Now even the right password is refused.
    response = client.post(url, {"username": "dana", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_admin_login_works_below_the_failure_limit(business_a):
    user = factories.make_user("dana")
    factories.add_member(user, business_a)
    client = Client()
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(url, {"username": "dana", "password": "wrong", "next": "/admin/"})
    response = client.post(url, {"username": "dana", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
