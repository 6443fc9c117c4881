"""The after-call work hears the digest inside its transaction; when that work breaks, the call's summary
and lead still land."""

from __future__ import annotations

import pytest
from django.db import connection

from crm.models import CallEvent
from tests.support import factories
from voice import call_digest

pytestmark = pytest.mark.django_db


def test_a_broken_follow_up_step_never_costs_the_call_its_summary(caplog):
    business = factories.make_business(notification_emails="sales@example.com")
    call = factories.make_call(business, from_number="+972547654321")
    with connection.cursor() as cursor:  # a real fault: the notifications table is gone
        cursor.execute("DROP TABLE followup_deliveryattempt")
        cursor.execute("DROP TABLE followup_notification")

    assert call_digest.finish_call(call.pk, call_digest.Digest(summary="ביקש הצעת מחיר."))

    call.refresh_from_db()
    assert call.summary == "ביקש הצעת מחיר."
    assert call.events.filter(kind=CallEvent.Kind.SUMMARY).count() == 1
    assert call.lead is not None and "ביקש הצעת מחיר." in call.lead.notes
    assert "after-call step followup.notify.after_call failed" in caplog.text
