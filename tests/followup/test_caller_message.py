"""The message to the caller after the call: queued once by ``after_call``, sent once by the worker through
Twilio's Messaging API (the real ``twilio`` client against the local stand-in), from the business's number,
with the callback time in Hebrew and our signed status callback; WhatsApp when the business has a sender;
never to a landline, never twice for one call, whatever retries."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from crm.models import Call, CallEvent
from followup import caller_message, sms_tasks
from followup.models import DeliveryAttempt, FollowUp, Notification
from tests.support import factories
from tests.support.celery_eager import eager_tasks
from voice.models import Job

pytestmark = pytest.mark.django_db

TEXT = "תודה שהתקשרתם ל{business}. נחזור אליכם {callback}."
CALLER = "+972547654321"
OUR_NUMBER = "+97233763805"
ISRAEL = ZoneInfo("Asia/Jerusalem")


@pytest.fixture
def business():
    return factories.make_business("מרפאת שיניים אלון", followup_sms_text=TEXT, time_zone="Asia/Jerusalem")


@pytest.fixture
def lead(business):
    return factories.make_lead(business, CALLER, "דנה כהן")


def make_call(business, lead, **fields) -> Call:
    fields.setdefault("from_number", lead.phone if lead else CALLER)
    fields.setdefault("direction", "inbound")
    return factories.make_call(business, lead, to_number=OUR_NUMBER, **fields)


def tomorrow_at(hour: int, minute: int = 0) -> dt.datetime:
    local_today = timezone.now().astimezone(ISRAEL).date()
    return dt.datetime.combine(local_today + dt.timedelta(days=1), dt.time(hour, minute), tzinfo=ISRAEL)


def send(call: Call) -> str:
    return sms_tasks.send_caller_message.apply(args=(call.pk,)).get()


def sms_events(call: Call) -> list[dict]:
    return [e.payload for e in call.events.filter(kind=CallEvent.Kind.SMS).order_by("pk")]


# -- what is sent --------------------------------------------------------------------------------------------
def test_the_caller_gets_one_sms_from_our_number_with_the_callback_time_and_a_status_callback(twilio, lead, business):
    call = make_call(business, lead)
    # This call's callback request became its task (followup.follow_ups): the text says that time.
    FollowUp.objects.create(
        business=business, lead=lead, call=call, due_at=tomorrow_at(10), source=FollowUp.Source.CALLBACK
    )

    assert send(call) == "sent"
    assert send(call) == "already sent"  # the same job delivered again, or run again: nothing more

    (message,) = twilio.messages_sent()
    assert message == {
        "To": CALLER,
        "From": OUR_NUMBER,
        "Body": "תודה שהתקשרתם למרפאת שיניים אלון. נחזור אליכם מחר ב-10:00.",
        "StatusCallback": "http://testserver/webhook/message_status#rc=3&rp=all",
    }
    assert all(r.authorized for r in twilio.requests)
    notification = Notification.objects.get()
    assert notification.key == f"sms:{call.pk}" and notification.channel == Notification.Channel.SMS
    assert notification.status == Notification.Status.SENT and notification.recipient == CALLER
    assert notification.provider_id.startswith("SM") and notification.provider_status == "queued"
    assert notification.attempts == 1 and notification.delivery_attempts.get().status_code == 201
    (event,) = sms_events(call)
    assert event["status"] == "queued" and event["message_sid"] == notification.provider_id
    assert event["text"] == message["Body"]


def test_after_call_queues_one_job_and_the_worker_sends_one_message_whatever_retries(
    twilio, lead, business, django_capture_on_commit_callbacks
):
    call = make_call(business, lead)

    with eager_tasks(), django_capture_on_commit_callbacks(execute=True) as published:
        assert caller_message.after_call(call) is True
        assert caller_message.after_call(call) is False  # the digest retried: the same job, not queued again

    assert len(published) == 1
    assert len(twilio.messages_sent()) == 1
    assert twilio.messages_sent()[0]["Body"].endswith("נחזור אליכם בהקדם.")  # no time asked for
    job = Job.objects.get(task=sms_tasks.send_caller_message.name)
    assert job.key == str(call.pk) and job.status == Job.Status.DONE and job.result == "sent"


def test_whatsapp_goes_through_whatsapp_addresses_when_the_business_has_a_sender(twilio, lead, business):
    business.whatsapp_sender = "+14155238886"
    business.save()
    call = make_call(business, lead)

    assert send(call) == "sent"

    (message,) = twilio.messages_sent()
    assert message["From"] == "whatsapp:+14155238886" and message["To"] == f"whatsapp:{CALLER}"
    notification = Notification.objects.get()
    assert notification.channel == Notification.Channel.WHATSAPP and notification.recipient == f"whatsapp:{CALLER}"
    assert sms_events(call)[0]["channel"] == "whatsapp"


@pytest.mark.parametrize("landline", ["+97226251234", "+97236091234", "+97248641234", "+97286231234", "+97297661234"])
def test_a_landline_is_refused_with_a_timeline_note_and_no_api_call(twilio, business, landline):
    call = make_call(business, None, from_number=landline)

    assert caller_message.after_call(call) is True  # the worker decides, and says why on the timeline
    assert send(call) == "refused"
    assert send(call) == "already failed"

    assert twilio.requests == []
    notification = Notification.objects.get()
    assert notification.status == Notification.Status.FAILED and notification.last_error == sms_tasks.LANDLINE
    assert notification.attempts == 0
    (event,) = sms_events(call)
    assert event == {"channel": "sms", "to": landline, "status": "refused", "reason": sms_tasks.LANDLINE}


def test_nothing_is_queued_without_a_text_for_a_hidden_caller_or_for_our_own_outbound_call(
    business, lead, django_capture_on_commit_callbacks
):
    hidden = make_call(business, None, from_number="anonymous")
    outbound = make_call(business, lead, direction="outbound-callback")
    quiet = factories.make_business("שקט")
    no_text = make_call(quiet, factories.make_lead(quiet, CALLER))

    with django_capture_on_commit_callbacks() as published:
        assert caller_message.after_call(hidden) is False
        assert caller_message.after_call(outbound) is False
        assert caller_message.after_call(no_text) is False

    assert published == [] and not Job.objects.exists() and not Notification.objects.exists()


def test_a_message_turned_off_after_the_call_is_not_sent(twilio, lead, business):
    call = make_call(business, lead)
    business.followup_sms_text = ""
    business.save()

    assert send(call) == "off"
    assert twilio.requests == [] and not Notification.objects.exists()


# -- failures and retries ------------------------------------------------------------------------------------
def test_twilio_rate_limiting_is_retried_and_the_message_still_goes_once(twilio, lead, business):
    twilio.refuse_messages(429, 20429, times=2)
    call = make_call(business, lead)

    assert send(call) == "sent"

    assert len(twilio.messages_sent()) == 3
    notification = Notification.objects.get()
    assert notification.status == Notification.Status.SENT and notification.attempts == 3
    codes = list(DeliveryAttempt.objects.order_by("pk").values_list("status_code", flat=True))
    assert codes == [429, 429, 201]
    assert [e["status"] for e in sms_events(call)] == ["queued"]


def test_a_twilio_server_error_is_not_resent_because_the_message_may_have_gone(twilio, lead, business):
    twilio.refuse_messages(503, 20500, times=1)
    call = make_call(business, lead)

    assert send(call) == "failed"
    assert len(twilio.messages_sent()) == 1
    notification = Notification.objects.get()
    assert notification.status == Notification.Status.FAILED and notification.last_status_code == 503


def test_a_refusal_by_twilio_is_not_retried_and_is_visible(twilio, lead, business):
    twilio.refuse_messages(400, 21211)
    call = make_call(business, lead)

    assert send(call) == "failed"
    job = Job.objects.get(task=sms_tasks.send_caller_message.name)
    assert job.status == Job.Status.FAILED and "21211" in job.last_error
    assert send(call) == "already failed"

    assert len(twilio.messages_sent()) == 1
    notification = Notification.objects.get()
    assert notification.status == Notification.Status.FAILED and notification.last_status_code == 400
    assert "21211" in notification.last_error
    (event,) = sms_events(call)
    assert event["status"] == "failed" and "21211" in event["reason"]


def test_a_send_that_died_midway_is_never_repeated(twilio, lead, business):
    call = make_call(business, lead)
    notification = Notification.objects.create(
        business=business, event=sms_tasks.EVENT, channel="sms", recipient=CALLER, key=f"sms:{call.pk}", call=call
    )
    # A run claimed it (one attempt, no outcome written) and is still within its time limit: another run waits.
    Notification.objects.filter(pk=notification.pk).update(attempts=1)
    assert send(call) == "busy"
    assert twilio.requests == [] and not sms_events(call)

    # Past any run's time limit: that run died after perhaps handing the message to Twilio. Not sent again.
    Notification.objects.filter(pk=notification.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=5))
    assert send(call) == "failed"
    assert twilio.requests == []
    notification.refresh_from_db()
    assert notification.status == Notification.Status.FAILED and notification.last_error == sms_tasks.INTERRUPTED
    assert sms_events(call)[0]["status"] == "failed"


def test_an_unreachable_twilio_is_retried_then_given_up_visibly(settings, lead, business):
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens, nothing was sent
    call = make_call(business, lead)

    assert send(call) == "failed"

    notification = Notification.objects.get()
    assert notification.attempts == sms_tasks.MAX_RETRIES + 1
    assert notification.status == Notification.Status.FAILED and "unreachable" in notification.last_error
    assert [e["status"] for e in sms_events(call)] == ["failed"]


# -- the text ------------------------------------------------------------------------------------------------
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=ISRAEL)  # a Monday morning


@pytest.mark.parametrize(
    ("when", "phrase"),
    [
        (None, "בהקדם"),
        (NOW - dt.timedelta(hours=1), "בהקדם"),  # the time has passed: no promise about the past
        (NOW.replace(hour=16), "היום ב-16:00"),
        (NOW + dt.timedelta(days=1, hours=1), "מחר ב-10:00"),
        (NOW + dt.timedelta(days=2, minutes=30), "מחרתיים ב-9:30"),
        (NOW + dt.timedelta(days=3), "ביום חמישי ב-9:00"),
        (NOW + dt.timedelta(days=5), "בשבת ב-9:00"),
        (NOW + dt.timedelta(days=6), "ביום ראשון ב-9:00"),
        (NOW + dt.timedelta(days=10, hours=2), "ב-12/3 ב-11:00"),
        (dt.datetime(2026, 3, 3, 8, 0, tzinfo=dt.UTC), "מחר ב-10:00"),  # stored in UTC, said in Israel's time
    ],
)
def test_the_callback_time_is_said_in_hebrew_in_the_business_time_zone(business, when, phrase):
    assert sms_tasks.callback_phrase(when, business, now=NOW) == phrase


def test_other_braces_in_the_owners_text_are_left_as_written():
    text = sms_tasks.message_text("{business} {x} {callback}", "אלון", "בהקדם")
    assert text == "אלון {x} בהקדם"


@pytest.mark.parametrize(
    ("number", "refusal"),
    [
        ("+972547654321", ""),
        ("+972587654321", ""),
        ("+447911123456", ""),  # a British mobile
        ("+12025550123", ""),  # North America: mobile and fixed look alike, so it may get one
        ("+97233763805", sms_tasks.LANDLINE),
        ("+972733456789", sms_tasks.LANDLINE),  # 07x: VoIP, not a phone that takes texts
        ("+97250123", sms_tasks.NOT_A_NUMBER),
        ("+972501234567", sms_tasks.NOT_A_NUMBER),  # 050-1xx is not allocated: no phone has it
        ("", sms_tasks.NOT_A_NUMBER),
    ],
)
def test_only_numbers_that_can_receive_a_text_get_one(number, refusal):
    assert sms_tasks.sms_refusal(number) == refusal


# -- in a real worker ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_real_worker_knows_the_task_and_sends_once_when_the_message_comes_twice(
    transactional_db, tmp_path, settings, twilio
):
    from agentlocator.celery import app
    from tests.support.celery_worker import celery_worker, wait_for

    business = factories.make_business("מרפאת שיניים אלון", followup_sms_text=TEXT)
    call = make_call(business, factories.make_lead(business, CALLER, "דנה כהן"))
    broker = settings.REDIS_URL or f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"

    log = tmp_path / "worker.log"
    with celery_worker(log, CELERY_BROKER_URL=broker, TWILIO_API_BASE_URL=twilio.base_url) as worker:
        with app.connection_for_write(broker) as connection:
            # A duplicate delivery of the same job. Watched by id: on the shared Redis broker the worker may
            # also run jobs other tests left queued.
            ids = [
                sms_tasks.send_caller_message.apply_async(args=(call.pk,), connection=connection).id for _ in range(2)
            ]

        def results() -> list[str]:
            lines = log.read_text(errors="replace").splitlines()
            return [line.split("succeeded in", 1)[1] for i in ids for line in lines if f"[{i}] succeeded in" in line]

        def both_ran() -> bool:
            return len(results()) >= 2

        wait_for(both_ran, 60, "the worker did not run both messages", log, worker)

    assert len(twilio.messages_sent()) == 1
    assert Notification.objects.get().status == Notification.Status.SENT
    assert [e["status"] for e in sms_events(call)] == ["queued"]
    outcomes = sorted(line.split(": ", 1)[1] for line in results())
    # The second run found the message sent, or (two pool processes at once) its claim in progress.
    assert outcomes in (["'already sent'", "'sent'"], ["'busy'", "'sent'"])


def test_a_time_left_from_an_earlier_call_is_not_promised_again(twilio, lead, business):
    lead.callback_at = tomorrow_at(10)  # asked in an earlier call; this one asked for nothing
    lead.save()
    call = make_call(business, lead)

    assert send(call) == "sent"
    (message,) = twilio.messages_sent()
    assert message["Body"] == "תודה שהתקשרתם למרפאת שיניים אלון. נחזור אליכם בהקדם."
