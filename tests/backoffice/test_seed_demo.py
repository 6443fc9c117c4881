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
