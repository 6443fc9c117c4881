"""Notifications in the admin: an owner sees every email and webhook sent for their business with each
delivery attempt, and can send a test event to the business's webhook and see how it went; nobody sees or
triggers another business's."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import Call
from followup.models import DeliveryAttempt, Notification
from tests.backoffice.conftest import logged_in
from tests.followup.delivery import digest_call, run_notification_jobs
from tests.followup.webhook_receiver import webhook_receiver
from tests.support import factories

pytestmark = pytest.mark.django_db

LIST = reverse("admin:followup_notification_changelist")
SEND_TEST = reverse("admin:followup_notification_send_test_event")
SECRET = "whsec-admin"


@pytest.fixture
def receiver():
    with webhook_receiver(SECRET) as receiver:
        yield receiver


@pytest.fixture
def hooked_a(business_a, receiver):
    business_a.webhook_url, business_a.webhook_secret = receiver.url, SECRET
    business_a.notification_emails = "owner@alon.example"
    business_a.save()
    return business_a


@pytest.fixture
def sent_a(hooked_a, receiver, django_capture_on_commit_callbacks) -> Call:
    """A call of business A told by email and webhook; the webhook failed once before it got through."""
    receiver.answer(503)
    call = factories.make_call(hooked_a, factories.make_lead(hooked_a, "+972501234567", "דנה כהן"), summary="סיכום")
    digest_call(call, lead_created=True, capture=django_capture_on_commit_callbacks)
    return call


def change_url(notification: Notification) -> str:
    return reverse("admin:followup_notification_change", args=[notification.pk])


def test_the_owner_sees_each_notification_with_event_channel_recipient_status_attempts_and_code(sent_a, owner_client):
    page = owner_client.get(LIST)

    assert page.status_code == 200
    html = page.content.decode()
    for column in (
        "column-event",
        "column-channel",
        "column-recipient_text",
        "column-status",
        "column-attempts",
        "column-last_status_code",
    ):
        assert column in html
    rows = page.context["cl"].result_list
    assert {(n.event, n.channel) for n in rows} == {
        ("lead.created", "email"),
        ("call.completed", "webhook"),
        ("lead.created", "webhook"),
    }
    assert "owner@alon.example" in html
    retried = Notification.objects.get(event="call.completed")
    assert retried.attempts == 2 and retried.last_status_code == 200


def test_the_change_page_shows_every_delivery_attempt_read_only(sent_a, owner_client):
    retried = Notification.objects.get(event="call.completed")

    page = owner_client.get(change_url(retried))

    assert page.status_code == 200
    html = page.content.decode()
    assert "503" in html and "200" in html and "HTTP 503" in html
    assert 'name="_save"' not in html  # nothing here is edited
    assert owner_client.post(change_url(retried), {"status": "pending"}).status_code == 403


def test_the_test_event_button_posts_to_the_webhook_and_shows_its_status(
    hooked_a, owner_client, receiver, django_capture_on_commit_callbacks
):
    page = owner_client.get(LIST)
    assert f'action="{SEND_TEST}"' in page.content.decode()
    assert [b.pk for b in page.context["test_event_businesses"]] == [hooked_a.pk]

    with django_capture_on_commit_callbacks(execute=False):
        response = owner_client.post(SEND_TEST, {"business": hooked_a.pk})
    test_event = Notification.objects.get(event="test")
    assert response.status_code == 302 and response["Location"] == change_url(test_event)
    assert run_notification_jobs() == ["sent"]

    page = owner_client.get(change_url(test_event))
    assert page.status_code == 200
    test_event.refresh_from_db()
    assert test_event.status == "sent" and test_event.last_status_code == 200
    assert f'<div class="readonly">{test_event.get_status_display()}</div>' in page.content.decode()
    assert receiver.events() == ["test"] and receiver.received[0].verified_with(SECRET)
    assert DeliveryAttempt.objects.get(notification=test_event).status_code == 200


def test_a_business_without_a_webhook_gets_a_clear_message_and_nothing_is_queued(business_a, owner_client):
    response = owner_client.post(SEND_TEST, {"business": business_a.pk}, follow=True)

    assert "אין כתובת Webhook" in response.content.decode()
    assert Notification.objects.count() == 0


def test_the_button_is_a_post(hooked_a, owner_client):
    assert owner_client.get(SEND_TEST).status_code == 405
    assert Notification.objects.count() == 0


# -- scoping -----------------------------------------------------------------------------------------------
def test_another_business_owner_neither_sees_nor_triggers_its_notifications(sent_a, hooked_a, owner_b, receiver):
    client = logged_in(owner_b)
    before = len(receiver.received)

    page = client.get(LIST)
    assert page.status_code == 200 and list(page.context["cl"].result_list) == []
    assert list(page.context["test_event_businesses"]) == []
    for notification in Notification.objects.all():
        assert client.get(change_url(notification)).status_code in (302, 404)  # "not found", as for none

    response = client.post(SEND_TEST, {"business": hooked_a.pk}, follow=True)
    assert "בחרו עסק שלכם" in response.content.decode()
    assert not Notification.objects.filter(event="test").exists()
    assert len(receiver.received) == before


def test_sales_staff_do_not_see_notifications(sent_a, hooked_a, staff_client):
    assert staff_client.get(LIST).status_code == 403
    assert staff_client.post(SEND_TEST, {"business": hooked_a.pk}).status_code == 403
    assert not Notification.objects.filter(event="test").exists()


def test_a_superuser_sees_every_business(sent_a, business_b, django_capture_on_commit_callbacks):
    factories.make_call(business_b)
    admin = logged_in(factories.make_user("root", superuser=True))

    page = admin.get(LIST)

    assert page.status_code == 200 and len(page.context["cl"].result_list) == 3
