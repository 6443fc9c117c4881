"""Two businesses, A and B, each with an owner and a sales person; the admin tests work between them."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.support import factories


@pytest.fixture
def business_a(db):
    return factories.make_business("מרפאת שיניים אלון")


@pytest.fixture
def business_b(db):
    return factories.make_business("Garage Beta")


@pytest.fixture
def owner_a(business_a):
    return factories.make_owner(business_a, "owner_a")


@pytest.fixture
def staff_a(business_a):
    return factories.make_staff(business_a, "staff_a")


@pytest.fixture
def owner_b(business_b):
    return factories.make_owner(business_b, "owner_b")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner_a) -> Client:
    return logged_in(owner_a)


@pytest.fixture
def staff_client(staff_a) -> Client:
    return logged_in(staff_a)
