"""The email staff get about a call: a Hebrew subject that says what happened and who (the number as people
dial it), right-to-left HTML with a plain-text part, the summary, what the caller wants, the callback request
and its task, and links to the lead, the call and the recording. Sent through a local SMTP server."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from crm.models import Call, Membership, Recording
from followup import emails, notify_tasks
from followup.models import FollowUp, Notification
from tests.followup.delivery import digest_call, digest_voicemail
from tests.followup.smtp_server import smtp_server
from tests.support import factories

pytestmark = pytest.mark.django_db

ISRAEL = ZoneInfo("Asia/Jerusalem")
OWNER_EMAIL = "owner@alon.example"


@pytest.fixture
def business():
    return factories.make_business("מרפאת שיניים אלון", notification_emails=OWNER_EMAIL, time_zone="Asia/Jerusalem")


@pytest.fixture
def lead(business):
    return factories.make_lead(
        business,
        "+972501234567",
        "דנה כהן",
        interest="הלבנת שיניים לפני חתונה",
        callback_time="מחר אחרי ארבע",
        callback_at=dt.datetime(2031, 3, 11, 16, 30, tzinfo=ISRAEL),  # a Tuesday
    )


@pytest.fixture
def call(business, lead) -> Call:
    call = factories.make_call(business, lead, summary="דנה רוצה הלבנת שיניים ותשמח שיחזרו אליה מחר אחרי ארבע.")
    factories.make_recording(call)
    return call


def only_email() -> mail.EmailMultiAlternatives:
    (message,) = mail.outbox
    return message


def html_of(message) -> str:
    ((html, mimetype),) = message.alternatives
    assert mimetype == "text/html"
    return html


def test_a_new_leads_email_says_so_in_hebrew_with_the_number_in_local_format(call, django_capture_on_commit_callbacks):
    assert digest_call(call, lead_created=True, capture=django_capture_on_commit_callbacks) == ["sent"]

    message = only_email()
    assert message.subject == "ליד חדש: דנה כהן, 050-123-4567"
    assert message.to == [OWNER_EMAIL]
    assert message.extra_headers["X-Agentlocator-Event"] == "lead.created"
    notification = Notification.objects.get(channel="email")
    assert notification.payload["subject"] == message.subject  # the admin shows what was sent


def test_the_html_part_is_right_to_left_with_the_number_isolated_and_links_to_lead_call_and_recording(
    call, lead, django_capture_on_commit_callbacks
):
    digest_call(call, lead_created=True, capture=django_capture_on_commit_callbacks)

    html = html_of(only_email())
    assert '<html lang="he" dir="rtl">' in html and '<body dir="rtl"' in html
    assert '<bdi dir="ltr">050-123-4567</bdi>' in html
    assert f'href="http://testserver/admin/crm/lead/{lead.pk}/change/"' in html
    assert f'href="http://testserver/admin/crm/call/{call.pk}/change/"' in html
    recording = call.recordings.get()
    assert f'href="http://testserver/recordings/{recording.pk}/audio"' in html
    assert "דנה רוצה הלבנת שיניים ותשמח שיחזרו אליה מחר אחרי ארבע." in html
    assert "הלבנת שיניים לפני חתונה" in html  # what the caller wants
    assert "מחר אחרי ארבע" in html and "יום שלישי 11/3/2031 בשעה 16:30" in html  # the callback request


def test_the_plain_text_part_says_the_same_with_full_links(call, lead, django_capture_on_commit_callbacks):
    digest_call(call, lead_created=True, capture=django_capture_on_commit_callbacks)

    text = only_email().body
    assert "דנה כהן, 050-123-4567" in text
    assert "סיכום:\nדנה רוצה הלבנת שיניים" in text
    assert "מה הלקוח רוצה: הלבנת שיניים לפני חתונה" in text
    assert "ביקש/ה לחזור: „מחר אחרי ארבע”" in text
    assert "מועד לחזרה: יום שלישי 11/3/2031 בשעה 16:30" in text
    assert f"כרטיס הליד: http://testserver/admin/crm/lead/{lead.pk}/change/" in text
    assert f"דף השיחה: http://testserver/admin/crm/call/{call.pk}/change/" in text
    assert "הקלטה: http://testserver/recordings/" in text
    assert "<" not in text and "&quot;" not in text and "&#x27;" not in text  # no markup, nothing escaped


def test_the_call_back_task_made_from_the_call_is_named(call, lead, business, django_capture_on_commit_callbacks):
    seller = factories.make_staff(business, "yossi")
    seller.first_name, seller.last_name = "יוסי", "לוי"
    seller.save()
    FollowUp.objects.create(
        business=business,
        lead=lead,
        call=call,
        due_at=lead.callback_at,
        assignee=seller,
        source=FollowUp.Source.CALLBACK,
        note="להציע תור ביום חמישי",
    )

    digest_call(call, lead_created=True, capture=django_capture_on_commit_callbacks)

    message = only_email()
    assert "משימת חזרה של יוסי לוי, עד יום שלישי 11/3/2031 בשעה 16:30: להציע תור ביום חמישי" in message.body
    assert "משימת חזרה של יוסי לוי" in html_of(message)


def test_a_known_callers_call_and_a_voicemail_say_what_happened(
    call, lead, business, django_capture_on_commit_callbacks
):
    digest_call(call, lead_created=False, capture=django_capture_on_commit_callbacks)
    voicemail_call = factories.make_call(business, lead, outcome=Call.Outcome.VOICEMAIL)
    voicemail = factories.make_recording(
        voicemail_call, kind=Recording.Kind.VOICEMAIL, transcript="היי, זו דנה, תחזרו אליי", summary="דנה ביקשה שיחזרו."
    )
    digest_voicemail(voicemail, lead_created=False, capture=django_capture_on_commit_callbacks)

    first, second = mail.outbox
    assert first.subject == "שיחה מ-דנה כהן, 050-123-4567"
    assert second.subject == "הודעה קולית מ-דנה כהן, 050-123-4567"
    assert "היי, זו דנה, תחזרו אליי" in second.body and "דנה ביקשה שיחזרו." in second.body
    assert f"http://testserver/recordings/{voicemail.pk}/audio" in html_of(second)


def test_a_hidden_caller_and_a_caller_without_a_name(business, django_capture_on_commit_callbacks):
    hidden = factories.make_call(business, None, from_number="anonymous", summary="מתקשר לא הזדהה.")
    unnamed = factories.make_call(business, factories.make_lead(business, "+972541112233"))

    digest_call(hidden, lead_created=False, capture=django_capture_on_commit_callbacks)
    digest_call(unnamed, lead_created=True, capture=django_capture_on_commit_callbacks)

    assert [m.subject for m in mail.outbox] == ["שיחה ממספר חסוי", "ליד חדש: 054-111-2233"]


def test_markup_in_a_name_is_shown_as_text(business, django_capture_on_commit_callbacks):
    lead = factories.make_lead(business, "+972501234567", '<script>alert("x")</script>')

    digest_call(factories.make_call(business, lead), lead_created=True, capture=django_capture_on_commit_callbacks)

    html = html_of(only_email())
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_follow_up_coming_due_reminds_its_assignee(call, lead, business, django_capture_on_commit_callbacks):
    from followup import notify
    from tests.followup.delivery import run_notification_jobs

    seller = factories.make_staff(business, "yossi")
    seller.email = "yossi@alon.example"
    seller.save()
    task = FollowUp.objects.create(
        business=business, lead=lead, call=call, due_at=timezone.now(), assignee=seller, note="להציע תור"
    )

    with django_capture_on_commit_callbacks(execute=False):
        notify.notify_follow_up_due(task)
    assert run_notification_jobs() == ["sent"]

    message = only_email()
    assert message.to == ["yossi@alon.example"]
    assert message.subject == "תזכורת: לחזור אל דנה כהן, 050-123-4567"
    assert "להציע תור" in message.body and '<bdi dir="ltr">050-123-4567</bdi>' in html_of(message)


def test_an_event_without_an_email_is_a_clear_error(business):
    notification = Notification(business=business, event="test", channel="email", recipient=OWNER_EMAIL)

    with pytest.raises(ValueError, match="no email for event 'test'"):
        emails.compose(notification)


# -- through a real SMTP conversation ----------------------------------------------------------------------
@pytest.fixture
def smtp(settings):
    with smtp_server(refuse={"gone@alon.example"}) as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 5
        yield server


def test_over_smtp_the_message_has_a_hebrew_subject_a_text_part_and_an_html_part(
    smtp, call, django_capture_on_commit_callbacks
):
    digest_call(call, lead_created=True, capture=django_capture_on_commit_callbacks)

    (received,) = smtp.messages
    assert received["Subject"] == "ליד חדש: דנה כהן, 050-123-4567"
    assert received["To"] == OWNER_EMAIL
    text = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    assert "דנה כהן, 050-123-4567" in text and 'dir="rtl"' in html


def test_a_refused_recipient_fails_alone_and_the_others_get_theirs(
    smtp, call, business, django_capture_on_commit_callbacks
):
    business.notification_emails = f"{OWNER_EMAIL}\ngone@alon.example\nfront-desk@alon.example"
    business.save()

    results = digest_call(call, lead_created=True, capture=django_capture_on_commit_callbacks)

    assert sorted(results) == ["failed", "sent", "sent"]
    assert sorted(to for _, (to,) in smtp.envelopes) == ["front-desk@alon.example", OWNER_EMAIL]
    refused = Notification.objects.get(recipient="gone@alon.example")
    assert refused.status == "failed" and refused.attempts == 1 and refused.last_status_code == 550
    assert "recipient refused" in refused.last_error


def test_an_unreachable_mail_server_is_retried_then_failed_and_the_call_is_untouched(
    settings, call, django_capture_on_commit_callbacks
):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    summary = call.summary

    assert digest_call(call, lead_created=True, capture=django_capture_on_commit_callbacks) == ["failed"]

    notification = Notification.objects.get(channel="email")
    assert notification.status == "failed" and notification.attempts == notify_tasks.EMAIL_MAX_ATTEMPTS
    assert all("mail server" in a.error for a in notification.delivery_attempts.all())
    call.refresh_from_db()
    assert call.summary == summary and call.status == Call.Status.COMPLETED
    (event,) = call.events.filter(kind="notified")
    assert event.payload["status"] == "failed" and event.payload["to"] == OWNER_EMAIL


def test_staff_choose_what_they_hear_about(business, call, django_capture_on_commit_callbacks):
    for name, notify in (("every", "every_call"), ("leads", "new_leads"), ("quiet", "none")):
        user = factories.make_staff(business, name)
        user.email = f"{name}@alon.example"
        user.save()
        Membership.objects.filter(user=user).update(notify=notify)

    digest_call(call, lead_created=False, capture=django_capture_on_commit_callbacks)
    assert sorted(m.to[0] for m in mail.outbox) == ["every@alon.example", OWNER_EMAIL]
