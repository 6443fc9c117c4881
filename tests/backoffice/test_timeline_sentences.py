"""Each call event reads as a short Hebrew sentence; numbers, phones and quoted speech are isolated."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from backoffice.timeline_sentences import describe_event
from crm.models import CallEvent, Utterance
from tests.support import factories

K = CallEvent.Kind


def said(kind: str, offset_ms: int = 0, **payload) -> str:
    with translation.override("he"):
        return str(describe_event(kind, payload, offset_ms).sentence)


def test_barge_in_says_when_and_what_the_caller_heard():
    text = said(K.BARGE_IN, heard_ms=1200, heard_text="בשמחה, יש לנו", cause="speech")
    assert text == (
        'המתקשר קטע את הנציג אחרי <bdi dir="ltr" class="num">1.2</bdi> שניות;'
        ' הוא שמע: ‘<bdi dir="auto">בשמחה, יש לנו</bdi>’'
    )


def test_resumed_says_what_the_caller_said_and_how_long_the_agent_waited():
    assert said(K.RESUMED, paused_ms=1160, text="כן") == (
        'המתקשר אמר ‘<bdi dir="auto">כן</bdi>’ בזמן שהנציג דיבר; הנציג עצר ל-<bdi dir="ltr" class="num">1.2</bdi>'
        " שניות והמשיך"
    )
    assert said(K.RESUMED, paused_ms=700, noise=True) == (
        'רעש על הקו עצר את הנציג ל-<bdi dir="ltr" class="num">0.7</bdi> שניות, והוא המשיך'
    )
    assert said(K.RESUMED, paused_ms=900, echo=True) == (
        'הקול של הנציג חזר בקו ועצר אותו ל-<bdi dir="ltr" class="num">0.9</bdi> שניות, והוא המשיך'
    )


def test_went_on_says_how_long_the_caller_paused_and_that_the_agent_waited_for_the_rest():
    assert said(K.WENT_ON, pause_ms=640) == (
        'המתקשר השתהה <bdi dir="ltr" class="num">0.6</bdi> שניות באמצע המשפט והמשיך לדבר; הנציג חיכה עד שסיים'
        " וענה על הכול בבת אחת"
    )


def test_line_echoes_says_the_agent_hears_its_own_voice_and_is_not_stopped_by_it():
    text = said(K.LINE_ECHOES, delay_ms=120)
    assert text == "הקול של הנציג חוזר בקו של המתקשר, בדרך כלל מרמקול; הנציג מזהה את ההד ולא נעצר בגללו"
    assert said(K.LINE_ECHOES) == text  # the delay is for whoever debugs the line


def test_lead_updated_names_the_fields_as_the_lead_form_does():
    assert said(K.LEAD_UPDATED, lead_id=1, fields=["name", "interest"]) == "הליד עודכן: שם, תחום עניין"


def test_stream_stopped_is_one_line_not_the_statistics():
    text = said(K.STREAM_STOPPED, 83_000, frames_received=4150, frames_sent=3900, marks_sent=12, ended_by="agent")
    assert '<bdi dir="ltr" class="num">1:23</bdi>' in text and "4,150" in text and "3,900" in text
    assert "marks" not in text and "frames" not in text


def test_an_asr_error_names_the_part_that_failed():
    assert said(K.ERROR, role="asr", message="timeout").startswith("תקלה ב-ASR")


def test_a_filler_quotes_what_was_said():
    assert said(K.FILLER, text="רגע, אני בודק.") == 'נאמר משפט המתנה: ‘<bdi dir="auto">רגע, אני בודק.</bdi>’'


def test_a_tts_retry_is_not_called_voicemail_but_a_real_fallback_is():
    retry = describe_event(K.FALLBACK, {"role": "tts", "text": "שלום"})
    assert "הקול החלופי הושמע" in str(retry.sentence) and "תא קולי" not in str(retry.title) + str(retry.sentence)
    voicemail = describe_event(K.FALLBACK, {"reason": "after_hours"})
    assert "הועבר לתא קולי" in str(voicemail.sentence) and voicemail.voicemail


def test_sms_isolates_the_phone_number():
    text = said(K.SMS, channel="sms", to="+972501234567", status="delivered")
    assert '<bdi dir="ltr" class="phone">050-123-4567</bdi>' in text and "נמסרה" in text


@pytest.mark.parametrize(
    ("kind", "payload", "words"),
    [
        (K.TRANSFER, {"outcome": "busy", "voicemail": True}, "תפוס; המתקשר הועבר לתא קולי"),
        (K.CALL_BACK, {"outcome": "no-answer"}, "חזרנו למתקשר: לא ענה"),
        (
            K.FOLLOW_UP,
            {"source": "callback", "state": "open", "due_at": "2026-12-05T10:00:00+02:00"},
            "נפתחה משימת מעקב",
        ),
        (K.NOTIFIED, {"channel": "email", "to": "a@b.co", "status": "sent"}, "הצוות קיבל הודעה ב-דוא״ל"),
    ],
)
def test_other_kinds_read_as_hebrew(kind, payload, words):
    assert words in said(kind, **payload)


def test_an_unknown_kind_lists_its_payload_with_hebrew_keys():
    described = describe_event("webhook", {"webhook": "incoming_call", "repeat": False}, default_title="x")
    assert described.facts == [("התראה מ-Twilio", "incoming_call"), ("חוזר", "לא")]


@pytest.mark.django_db
def test_the_greeting_shows_once_as_its_bubble(owner_client, business_a):
    call = factories.make_call(business_a)
    factories.make_event(call, K.GREETING, 100, text="שלום, הגעתם למרפאה")
    factories.make_utterance(call, Utterance.Speaker.AGENT, "שלום, הגעתם למרפאה", 200, 2000)
    html = owner_client.get(reverse("admin:crm_call_change", args=[call.pk])).content.decode()
    assert html.count("שלום, הגעתם למרפאה") == 1 and "event-greeting" not in html and "badge-greeting" in html


@pytest.mark.django_db
def test_a_call_without_a_recording_shows_a_quiet_dash_not_a_red_cross(owner_client, business_a):
    without = factories.make_call(business_a)
    with_one = factories.make_call(business_a)
    recording = factories.make_recording(with_one)
    html = owner_client.get(reverse("admin:crm_call_changelist")).content.decode()
    assert "icon-no.svg" not in html and "icon-yes.svg" not in html
    assert '<span class="no-recording" title="אין הקלטה">—</span>' in html
    assert f'href="/recordings/{recording.pk}/audio"' in html and "▶" in html
    assert without.pk != with_one.pk


@pytest.mark.django_db
def test_the_raw_payload_is_folded_away_for_superusers_only(owner_client, client, business_a):
    call = factories.make_call(business_a)
    factories.make_event(call, K.STREAM_STOPPED, 5000, frames_received=250, marks_sent=3)
    url = reverse("admin:crm_call_change", args=[call.pk])
    assert "raw-payload" not in owner_client.get(url).content.decode()
    client.force_login(factories.make_user("root", superuser=True))
    html = client.get(url).content.decode()
    assert '<details class="raw-payload">' in html and "&quot;marks_sent&quot;: 3" in html
