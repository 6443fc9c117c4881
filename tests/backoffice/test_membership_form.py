"""The phone a staff member takes transferred calls on: stored in E.164 however it was typed, or refused."""

from __future__ import annotations

import pytest

from backoffice.membership_form import MembershipForm
from crm.models import Membership
from tests.support import factories

pytestmark = pytest.mark.django_db


def form(business, phone: str) -> MembershipForm:
    user = factories.make_user()
    return MembershipForm(
        data={"user": user.pk, "role": Membership.Role.STAFF, "phone": phone, "notify": Membership.Notify.NEW_LEADS},
        instance=Membership(business=business),
    )


@pytest.mark.parametrize(
    ("typed", "stored"), [("050-2345678", "+972502345678"), ("+972 54 555 1234", "+972545551234"), ("", "")]
)
def test_the_phone_is_stored_in_e164(business_a, typed, stored):
    f = form(business_a, typed)
    assert f.is_valid(), f.errors
    assert f.save().phone == stored


def test_what_staff_are_told_about_is_one_of_the_choices(business_a):
    f = MembershipForm(
        data={"user": factories.make_user().pk, "role": Membership.Role.STAFF, "notify": "everything please"},
        instance=Membership(business=business_a),
    )
    assert not f.is_valid() and "notify" in f.errors
    assert not Membership.objects.filter(business=business_a).exists()


def test_something_that_is_no_phone_is_refused_and_nothing_is_saved(business_a):
    f = form(business_a, "call me maybe")
    assert not f.is_valid()
    assert "call me maybe" in f.errors["phone"][0]
    assert not Membership.objects.filter(business=business_a).exists()
