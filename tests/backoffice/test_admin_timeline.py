"""The call page: one timeline of what was said and what happened, the recording above it."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from crm.models import CallEvent, Utterance
from tests.support import factories

pytestmark = pytest.mark.django_db
CALLER, AGENT = Utterance.Speaker.CALLER, Utterance.Speaker.AGENT


@pytest.fixture
def call(business_a):
    lead = factories.make_lead(business_a, "+972501234567", "דנה כהן")
    call = factories.make_call(business_a, lead, summary="דנה מתעניינת בהלבנת שיניים. לחזור ביום ראשון.")
    factories.make_event(call, CallEvent.Kind.WEBHOOK, -800, path="/webhook/incoming_call")
    factories.make_event(call, CallEvent.Kind.STREAM_STARTED, 0)
    factories.make_utterance(call, AGENT, "שלום, הגעתם למרפאה. במה אפשר לעזור?", 200, 2600)
    factories.make_utterance(call, CALLER, "היי, אני רוצה לקבוע תור להלבנה ב-10:30", 3000, 5200)
    factories.make_utterance(
        call,
        AGENT,
        "בשמחה. יש לנו תור פנוי ביום ראשון בשעה 10:30, וגם ביום שני אחר הצהריים.",
        6000,
        9000,
        interrupted=True,
        heard_text="בשמחה. יש לנו תור פנוי ביום ראשון",
        latency={"asr": 310, "llm_first_token": 720, "tts_first_audio": 980, "first_frame": 1010},
    )
    factories.make_event(call, CallEvent.Kind.BARGE_IN, 7400, heard_ms=1400)
    factories.make_utterance(call, CALLER, "ראשון מעולה, השם שלי דנה", 7500, 9000)
    factories.make_event(
        call,
        CallEvent.Kind.TOOL_CALL,
        9100,
        name="update_lead",
        arguments={"name": "דנה כהן", "interest": "הלבנה"},
        changed={"name": {"old": "", "new": "דנה כהן"}, "status": ["new", "qualified"]},
    )
    factories.make_event(call, CallEvent.Kind.DTMF, 9500, digit="5")
    factories.make_event(call, CallEvent.Kind.ERROR, 9800, message="TTS timeout (Google)")
    factories.make_event(call, CallEvent.Kind.FALLBACK, 9900, reason="tts_failed")
    factories.make_event(call, CallEvent.Kind.RECORDING_STORED, 15000, duration_s=14.8)
    return call


def page(client, call) -> str:
    response = client.get(reverse("admin:crm_call_change", args=[call.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_bubbles_appear_in_time_order_with_their_speakers(owner_client, call):
    html = page(owner_client, call)
    order = [
        "שלום, הגעתם למרפאה",
        "היי, אני רוצה לקבוע תור",
        "בשמחה. יש לנו תור פנוי",
        "ראשון מעולה",
    ]
    positions = [html.index(text) for text in order]
    assert positions == sorted(positions)
    bubbles = re.findall(r'<li class="entry bubble bubble-(caller|agent)', html)
    assert bubbles == ["agent", "caller", "agent", "caller"]


def test_events_are_merged_between_utterances_by_offset(owner_client, call):
    html = page(owner_client, call)
    assert html.index("ראשון מעולה") < html.index("עדכון הליד") < html.index("TTS timeout")
    assert html.index("בשמחה. יש לנו") < html.index("event-barge-in") < html.index("ראשון מעולה")


def test_text_direction_is_left_to_the_browser_for_mixed_hebrew_digits_and_latin(owner_client, call):
    html = page(owner_client, call)
    assert '<p class="text" dir="auto">היי, אני רוצה לקבוע תור להלבנה ב-10:30</p>' in html
    assert 'dir="rtl"' in html  # the admin page itself is right-to-left in Hebrew
    assert '‘<bdi dir="auto">TTS timeout (Google)</bdi>’' in html


def test_times_are_relative_to_the_start_of_the_call(owner_client, call):
    html = page(owner_client, call)
    assert '<time dir="ltr">00:03.0</time>' in html  # the caller's first words, 3000 ms in
    assert '<time dir="ltr">−00:00.8</time>' in html  # the webhook, before the stream started


def test_barge_in_shows_what_the_caller_heard_and_what_was_cut_off(owner_client, call):
    html = page(owner_client, call)
    assert re.search(r'<span class="heard"[^>]*>בשמחה\. יש לנו תור פנוי ביום ראשון</span>', html)
    assert re.search(r'<del class="unheard"[^>]*>בשעה 10:30, וגם ביום שני אחר הצהריים\.</del>', html)


def test_agent_turns_carry_a_latency_waterfall(owner_client, call):
    html = page(owner_client, call)
    svg = re.search(r'<svg class="latency-waterfall".*?</svg>', html, re.S).group(0)
    assert 'direction="ltr"' in svg
    for stage in ("wf-asr", "wf-llm_first_token", "wf-tts_first_audio", "wf-first_frame"):
        assert stage in svg
    assert "1010 ms" in svg
    # Only the turn that has measurements gets a chart.
    assert html.count('<svg class="latency-waterfall"') == 1


def test_tool_calls_show_what_they_changed_on_the_lead(owner_client, call):
    html = page(owner_client, call)
    block = html[html.index("event-tool-call") :]
    block = block[: block.index("</ul>")]
    assert "הנציג ביצע: עדכון הליד" in block
    assert '<bdi class="field">שם</bdi>' in block
    assert '<bdi class="new" dir="auto">דנה כהן</bdi>' in block
    assert '<bdi class="field">סטטוס</bdi>' in block
    assert '<bdi class="old" dir="auto">חדש</bdi>' in block and '<bdi class="new" dir="auto">מתאים</bdi>' in block


def test_dtmf_errors_fallbacks_and_recording_are_on_the_timeline(owner_client, call):
    html = page(owner_client, call)
    assert re.search(r'event-dtmf[^"]*">.*?המתקשר הקיש <bdi dir="ltr" class="digits">5</bdi>', html, re.S)
    assert re.search(r'class="entry event event-error[^"]* problem"', html)
    assert re.search(r'class="entry event event-fallback[^"]* problem"', html)
    assert "event-recording-stored" in html
    assert re.search(r'class="entry event event-webhook technical"', html)  # hidden until asked for


def test_recording_player_sits_above_the_timeline_and_bubbles_seek_it(owner_client, call):
    recording = factories.make_recording(call)
    html = page(owner_client, call)
    assert f'src="/recordings/{recording.pk}/audio"' in html or f"/recordings/{recording.pk}/audio" in html
    assert html.index('id="call-audio"') < html.index('id="timeline"')
    assert 'data-start-ms="3000"' in html and 'role="button"' in html
    assert "crm/timeline.js" in html


def test_without_a_recording_the_page_says_so(owner_client, call):
    html = page(owner_client, call)
    assert 'id="call-audio"' not in html
    assert "no-recording" in html


def test_summary_outcome_and_links_to_the_lead_and_its_other_calls(owner_client, call):
    earlier = factories.make_call(call.business, call.lead, outcome="voicemail")
    html = page(owner_client, call)
    assert "דנה מתעניינת בהלבנת שיניים" in html
    assert "outcome-conversation" in html
    assert reverse("admin:crm_lead_change", args=[call.lead.pk]) in html
    assert reverse("admin:crm_call_change", args=[earlier.pk]) in html


def test_sales_staff_read_the_timeline_too(staff_client, call):
    assert "ראשון מעולה" in page(staff_client, call)


def test_call_list_finds_calls_by_caller_number_in_any_format(owner_client, call, business_a):
    other = factories.make_call(business_a, from_number="+972529998877")
    response = owner_client.get(reverse("admin:crm_call_changelist"), {"q": "050-123 4567"})
    found = list(response.context["cl"].result_list)
    assert found == [call] and other not in found


def test_calls_cannot_be_added_or_edited_in_the_admin(owner_client, call):
    assert owner_client.get(reverse("admin:crm_call_add")).status_code == 403
    response = owner_client.post(reverse("admin:crm_call_change", args=[call.pk]), {"summary": "x"})
    call.refresh_from_db()
    assert call.summary != "x"
    assert response.status_code in (200, 403, 405)


def test_a_filler_shows_in_hebrew_with_what_the_caller_heard(owner_client, call):
    factories.make_event(call, CallEvent.Kind.FILLER, 8200, reason="llm_slow", text="רגע, אני בודק")
    html = page(owner_client, call)
    assert re.search(r'event-filler[^"]*">.*?נאמר משפט המתנה: ‘<bdi dir="auto">רגע, אני בודק</bdi>’', html, re.S)
