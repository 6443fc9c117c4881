"""Outgoing webhooks, against a local HTTP receiver that checks signatures the way the README tells
receivers to: signed bodies and timestamps, retries with back-off, final answers, and every attempt kept."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import time

import pytest
from django.utils import timezone

from crm.models import Call, Utterance
from followup import notify, notify_tasks, payloads, webhooks
from followup.models import DeliveryAttempt, Notification
from tests.followup.delivery import digest_call, run_notification_jobs
from tests.followup.webhook_receiver import webhook_receiver
from tests.support import factories
from voice.models import Job

pytestmark = pytest.mark.django_db

SECRET = "whsec-test-0123456789"
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


@pytest.fixture
def receiver():
    with webhook_receiver(SECRET) as receiver:
        yield receiver


@pytest.fixture
def business(receiver):
    return factories.make_business("מרפאת שיניים אלון", webhook_url=receiver.url, webhook_secret=SECRET)


@pytest.fixture
def call(business) -> Call:
    lead = factories.make_lead(business, "+972501234567", "דנה כהן", interest="הלבנת שיניים")
    call = factories.make_call(
        business, lead, summary="דנה מתעניינת בהלבנת שיניים.", ended_at=timezone.now(), answered_at=timezone.now()
    )
    factories.make_utterance(call, Utterance.Speaker.AGENT, "שלום, במה אפשר לעזור?", 0)
    factories.make_utterance(call, Utterance.Speaker.CALLER, "אני רוצה הלבנת שיניים", 2000)
    factories.make_recording(call)
    return call


def digest(call: Call, *, lead_created: bool, capture) -> None:
    digest_call(call, lead_created=lead_created, capture=capture)


def webhook_rows(**filters) -> list[Notification]:
    return list(Notification.objects.filter(channel=Notification.Channel.WEBHOOK, **filters).order_by("pk"))


def deliver_test_event(business, capture) -> Notification:
    with capture(execute=False):
        notification = notify.send_test_event(business)
    run_notification_jobs()
    notification.refresh_from_db()
    return notification


# -- signatures --------------------------------------------------------------------------------------------
def test_every_post_is_signed_with_the_secret_and_a_wrong_secret_does_not_verify(
    call, receiver, django_capture_on_commit_callbacks
):
    digest(call, lead_created=True, capture=django_capture_on_commit_callbacks)

    assert receiver.events() == ["call.completed", "lead.created"]
    for request in receiver.received:
        assert request.headers["x-agentlocator-signature"].startswith("sha256=")
        assert request.verified_with(SECRET)
        assert not request.verified_with("not-the-secret")
        assert webhooks.verify(
            SECRET,
            request.headers["x-agentlocator-timestamp"],
            request.body,
            request.headers["x-agentlocator-signature"],
        )


def test_the_timestamp_is_part_of_the_signed_material(business, receiver, django_capture_on_commit_callbacks):
    deliver_test_event(business, django_capture_on_commit_callbacks)
    (request,) = receiver.received
    timestamp = request.headers["x-agentlocator-timestamp"]
    assert abs(int(timestamp) - time.time()) < 60

    replayed = dict(request.headers, **{"x-agentlocator-timestamp": str(int(timestamp) + 600)})
    assert not type(request)(request.path, replayed, request.body, 200).verified_with(SECRET)
    assert request.headers["x-agentlocator-signature"] == webhooks.signature(SECRET, timestamp, request.body)
    assert webhooks.signature(SECRET, timestamp, request.body) != webhooks.signature(SECRET, "0", request.body)


def test_verify_rejects_an_old_timestamp_a_changed_body_and_garbage():
    body, now = b'{"id":1}', 1_700_000_000
    good = webhooks.signature(SECRET, now, body)

    assert webhooks.verify(SECRET, str(now), body, good, now=now + 10)
    assert not webhooks.verify(SECRET, str(now), body, good, now=now + webhooks.DEFAULT_TOLERANCE_S + 1)  # replay
    assert not webhooks.verify(SECRET, str(now), b'{"id":2}', good, now=now)
    assert not webhooks.verify(SECRET, "yesterday", body, good, now=now)


def test_without_a_secret_no_signature_is_sent(business, receiver, django_capture_on_commit_callbacks):
    business.webhook_secret = ""
    business.save()

    deliver_test_event(business, django_capture_on_commit_callbacks)

    (request,) = receiver.received
    assert "x-agentlocator-signature" not in request.headers
    assert request.headers["x-agentlocator-timestamp"]


# -- headers and body --------------------------------------------------------------------------------------
def test_headers_name_the_event_and_the_delivery_and_the_body_follows_the_schema(
    call, receiver, django_capture_on_commit_callbacks
):
    digest(call, lead_created=True, capture=django_capture_on_commit_callbacks)

    completed = next(r for r in receiver.received if r.headers["x-agentlocator-event"] == "call.completed")
    row = Notification.objects.get(channel="webhook", event="call.completed")
    assert completed.headers["x-agentlocator-delivery"] == str(row.pk)
    assert completed.headers["content-type"].startswith("application/json")
    body = completed.json
    assert body["id"] == row.pk and body["event"] == "call.completed" and body["schema_version"] == 1
    assert ISO_WITH_OFFSET.match(body["occurred_at"])
    assert body["business"] == {"id": call.business.pk, "name": "מרפאת שיניים אלון"}
    assert body["lead"]["phone"] == "+972501234567" and body["lead"]["name"] == "דנה כהן"
    assert body["lead"]["interest"] == "הלבנת שיניים"
    assert body["lead"]["url"] == f"http://testserver/admin/crm/lead/{call.lead.pk}/change/"
    assert body["call"]["from"] == "+972501234567" and body["call"]["sid"] == call.call_sid
    assert body["call"]["summary"] == "דנה מתעניינת בהלבנת שיניים."
    assert [u["speaker"] for u in body["call"]["transcript"]] == ["agent", "caller"]
    assert body["call"]["transcript"][1]["text"] == "אני רוצה הלבנת שיניים"
    assert body["call"]["url"] == f"http://testserver/admin/crm/call/{call.pk}/change/"
    recording = call.recordings.get()
    assert body["call"]["recording_url"] == f"http://testserver/recordings/{recording.pk}/audio"
    for stamp in (body["call"]["started_at"], body["call"]["ended_at"], body["lead"]["created_at"]):
        assert ISO_WITH_OFFSET.match(stamp), stamp
    assert body["call"]["started_at"].endswith(("+02:00", "+03:00"))  # the business's clock (Asia/Jerusalem)
    assert body["recording"] is None
    assert json.loads(payloads.body_bytes(row)) == body  # what is stored is what was signed and sent


def test_a_known_callers_call_posts_lead_updated(call, receiver, django_capture_on_commit_callbacks):
    digest(call, lead_created=False, capture=django_capture_on_commit_callbacks)

    assert receiver.events() == ["call.completed", "lead.updated"]
    assert receiver.received[1].json["lead"]["id"] == call.lead.pk


def test_an_unknown_event_is_refused(business):
    with pytest.raises(ValueError, match="unknown webhook event"):
        payloads.envelope("call.exploded", business)


# -- idempotency -------------------------------------------------------------------------------------------
def test_the_signal_twice_and_the_task_twice_post_each_event_once(call, receiver, django_capture_on_commit_callbacks):
    digest(call, lead_created=True, capture=django_capture_on_commit_callbacks)
    digest(call, lead_created=True, capture=django_capture_on_commit_callbacks)
    rows = webhook_rows()
    for row in rows:
        assert notify_tasks.deliver_notification.apply(args=[row.pk]).get() == "already sent"

    assert receiver.events() == ["call.completed", "lead.created"]
    assert [r.status for r in rows] == ["sent", "sent"]
    assert DeliveryAttempt.objects.count() == 2


# -- retries -----------------------------------------------------------------------------------------------
def test_a_receiver_that_fails_twice_then_succeeds_is_retried_and_every_attempt_is_kept(
    business, receiver, django_capture_on_commit_callbacks
):
    receiver.answer(500, 503)

    row = deliver_test_event(business, django_capture_on_commit_callbacks)

    assert row.status == Notification.Status.SENT and row.attempts == 3 and row.last_status_code == 200
    assert [a.status_code for a in row.delivery_attempts.all()] == [500, 503, 200]
    assert "HTTP 500" in row.delivery_attempts.first().error
    assert row.last_error == "" and row.sent_at is not None
    assert [r.status for r in receiver.received] == [500, 503, 200]
    assert len({r.headers["x-agentlocator-delivery"] for r in receiver.received}) == 1  # one delivery, three tries
    assert len({r.body for r in receiver.received}) == 1
    assert all(r.verified_with(SECRET) for r in receiver.received)
    job = Job.objects.get(task=notify_tasks.deliver_notification.name, key=str(row.pk))
    assert job.status == Job.Status.DONE


@pytest.mark.parametrize("status", [408, 429])
def test_timeouts_and_rate_limits_are_retried(business, receiver, status, django_capture_on_commit_callbacks):
    receiver.answer(status)

    row = deliver_test_event(business, django_capture_on_commit_callbacks)

    assert row.status == Notification.Status.SENT
    assert [a.status_code for a in row.delivery_attempts.all()] == [status, 200]


def test_a_receiver_that_answers_400_is_not_retried(business, receiver, django_capture_on_commit_callbacks):
    receiver.answer(400)

    row = deliver_test_event(business, django_capture_on_commit_callbacks)

    assert row.status == Notification.Status.FAILED and row.attempts == 1 and row.last_status_code == 400
    assert "HTTP 400" in row.last_error
    assert len(receiver.received) == 1
    job = Job.objects.get(task=notify_tasks.deliver_notification.name, key=str(row.pk))
    assert job.status == Job.Status.FAILED and "HTTP 400" in job.last_error


def test_retries_stop_at_the_configured_number_of_attempts(
    business, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.answer(500, 500, 500, 500, 500)

    row = deliver_test_event(business, django_capture_on_commit_callbacks)

    assert row.status == Notification.Status.FAILED and row.attempts == 3
    assert [a.status_code for a in row.delivery_attempts.all()] == [500, 500, 500]
    assert len(receiver.received) == 3


def test_an_unreachable_receiver_is_retried_and_the_error_kept(business, settings, django_capture_on_commit_callbacks):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    business.webhook_url = f"http://127.0.0.1:{port}/hook"
    business.save()
    settings.WEBHOOK_MAX_ATTEMPTS = 2

    row = deliver_test_event(business, django_capture_on_commit_callbacks)

    assert row.status == Notification.Status.FAILED and row.attempts == 2
    attempts = list(row.delivery_attempts.all())
    assert [a.status_code for a in attempts] == [None, None]
    assert all("ConnectError" in a.error for a in attempts)


def test_back_off_doubles_up_to_a_cap():
    assert [notify_tasks.retry_delay(n) for n in range(1, 6)] == [5, 10, 20, 40, 80]
    assert notify_tasks.retry_delay(40) == notify_tasks.BACKOFF_CAP_S


def test_a_send_interrupted_past_its_lease_is_written_down_and_tried_again(
    business, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):  # queued, never run
        row = notify.send_test_event(business)
    # A worker claimed an attempt and died before writing its outcome, long ago.
    Notification.objects.filter(pk=row.pk).update(attempts=1)
    Notification.objects.filter(pk=row.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=10))

    assert notify_tasks.deliver_notification.apply(args=[row.pk]).get() == "sent"

    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 2
    first, second = row.delivery_attempts.all()
    assert first.error == notify_tasks.INTERRUPTED and second.status_code == 200
    assert len(receiver.received) == 1


def test_a_send_in_progress_is_not_sent_twice(business, receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        row = notify.send_test_event(business)
    Notification.objects.filter(pk=row.pk).update(attempts=1)  # claimed just now by another run

    assert notify_tasks._claim(row.pk) == notify_tasks.BUSY
    assert receiver.received == []


# -- the test event ----------------------------------------------------------------------------------------
def test_the_test_event_carries_the_business_and_nothing_else(business, receiver, django_capture_on_commit_callbacks):
    deliver_test_event(business, django_capture_on_commit_callbacks)
    deliver_test_event(business, django_capture_on_commit_callbacks)

    assert receiver.events() == ["test", "test"]  # every click is a new delivery
    body = receiver.received[0].json
    assert body["event"] == "test" and body["business"]["id"] == business.pk
    assert body["call"] is None and body["lead"] is None and body["follow_up"] is None


def test_a_test_event_without_a_webhook_is_a_clear_error_and_changes_nothing(db):
    business = factories.make_business()

    with pytest.raises(notify.NoWebhook, match="has no webhook URL"):
        notify.send_test_event(business)
    assert Notification.objects.count() == 0 and Job.objects.count() == 0


# -- a real worker -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_real_worker_delivers_the_webhook_retrying_after_its_back_off(transactional_db, tmp_path):
    from tests.support.celery_worker import celery_worker, wait_for

    with webhook_receiver(SECRET) as receiver:
        receiver.answer(503)
        business = factories.make_business("מרפאת שיניים אלון", webhook_url=receiver.url, webhook_secret=SECRET)
        log = tmp_path / "worker.log"
        with celery_worker(log) as worker:
            row = notify.send_test_event(business)  # autocommit: published at once, as from a view

            def delivered() -> bool:
                row.refresh_from_db()
                return row.status != Notification.Status.PENDING

            wait_for(delivered, 60, "the worker did not deliver the test event", log, worker)

    assert row.status == Notification.Status.SENT and row.attempts == 2
    first, second = row.delivery_attempts.all()
    assert (first.status_code, second.status_code) == (503, 200)
    assert (second.at - first.at).total_seconds() >= notify_tasks.retry_delay(1) - 0.5  # it waited its back-off
    assert all(r.verified_with(SECRET) for r in receiver.received)
    job = Job.objects.get(task=notify_tasks.deliver_notification.name, key=str(row.pk))
    assert job.status == Job.Status.DONE and job.attempts == 2


def test_a_webhook_to_a_private_address_is_refused_without_a_request(settings):
    """An owner must not reach our own network through a webhook (and read its answers in the admin)."""
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with webhook_receiver(SECRET) as receiver:
        answer = webhooks.post(receiver.url, event="test", delivery_id=1, body=b"{}", secret=SECRET)
        assert receiver.received == []
    assert not answer.delivered and answer.final and "private address (127.0.0.1)" in answer.error
