"""The calls inbox (the admin's calls list): each call's tags, its first reply's latency, the calls that still
need follow-up first, the search in what was said (full-text on PostgreSQL, a substring search on SQLite),
the outcome and date filters, and never a call of another business, whatever the filters or the search."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from backoffice import call_inbox
from backoffice.admin_calls import when_html
from crm.models import Call, CallEvent, Lead, Recording, Utterance
from followup.models import FollowUp
from tests.support import factories

pytestmark = pytest.mark.django_db

INBOX = reverse("admin:crm_call_changelist")


def listed(client, **params) -> list[Call]:
    response = client.get(INBOX, params)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def inbox_row(business, call: Call) -> Call:
    return call_inbox.with_inbox_columns(Call.objects.filter(business=business)).get(pk=call.pk)


def follow_up(call: Call, *, source=FollowUp.Source.CALLBACK, state=FollowUp.State.OPEN) -> FollowUp:
    return FollowUp.objects.create(
        business=call.business, lead=call.lead, call=call, source=source, state=state, due_at=timezone.now()
    )


@pytest.fixture
def lead(business_a):
    return factories.make_lead(business_a, "+972586667788", "דנה כהן")


# -- tags -------------------------------------------------------------------------------------------------------
def test_a_plain_conversation_has_no_tags(business_a, lead):
    call = factories.make_call(business_a, lead)
    assert call_inbox.tags_of(inbox_row(business_a, call)) == []


def test_a_voicemail_is_tagged_voicemail(business_a, lead):
    call = factories.make_call(business_a, lead, outcome=Call.Outcome.VOICEMAIL)
    assert [tag.name for tag in call_inbox.tags_of(inbox_row(business_a, call))] == ["voicemail"]


def test_a_transfer_to_a_person_is_tagged_transfer(business_a, lead):
    call = factories.make_call(business_a, lead)
    factories.make_event(call, CallEvent.Kind.TRANSFER, 9000, outcome="completed")
    assert [tag.name for tag in call_inbox.tags_of(inbox_row(business_a, call))] == ["transfer"]


def test_a_callback_request_is_tagged_even_after_its_task_is_done(business_a, lead):
    call = factories.make_call(business_a, lead)
    follow_up(call, state=FollowUp.State.DONE)
    assert [tag.name for tag in call_inbox.tags_of(inbox_row(business_a, call))] == ["callback_requested"]


def test_a_voicemail_task_is_not_a_callback_request(business_a, lead):
    call = factories.make_call(business_a, lead)
    follow_up(call, source=FollowUp.Source.VOICEMAIL)
    assert call_inbox.tags_of(inbox_row(business_a, call)) == []


def test_an_error_on_the_timeline_is_tagged_error(business_a, lead):
    call = factories.make_call(business_a, lead)
    factories.make_event(call, CallEvent.Kind.ERROR, 4000, role="llm", error="timeout")
    assert [tag.name for tag in call_inbox.tags_of(inbox_row(business_a, call))] == ["had_error"]


def test_the_inbox_row_shows_the_tags_in_hebrew(owner_client, business_a, lead):
    call = factories.make_call(business_a, lead, outcome=Call.Outcome.VOICEMAIL)
    factories.make_event(call, CallEvent.Kind.ERROR, 4000, role="tts")
    html = owner_client.get(INBOX).content.decode()
    assert '<span class="tag tag-voicemail">תא קולי</span>' in html
    assert '<span class="tag tag-had_error">תקלה</span>' in html


# -- first-reply latency ----------------------------------------------------------------------------------------
def test_the_first_reply_latency_is_the_first_timed_agent_reply(business_a, lead):
    call = factories.make_call(business_a, lead)
    factories.make_utterance(call, "agent", "שלום, במה אפשר לעזור?", 200)  # the greeting: never timed
    factories.make_utterance(call, "caller", "אני רוצה תור", 2000)
    factories.make_utterance(call, "agent", "בשמחה", 4000, latency={"asr": 200, "first_frame": 840})
    factories.make_utterance(call, "agent", "ומתי נוח לך?", 9000, latency={"asr": 150, "first_frame": 2900})
    assert call_inbox.first_reply_ms(inbox_row(business_a, call)) == 840


def test_a_call_without_a_reply_has_no_latency(business_a, lead):
    call = factories.make_call(business_a, lead, outcome=Call.Outcome.VOICEMAIL)
    factories.make_utterance(call, "agent", "שלום", 200)
    assert call_inbox.first_reply_ms(inbox_row(business_a, call)) is None


def test_a_latency_that_is_not_a_number_is_not_shown(business_a, lead):
    call = factories.make_call(business_a, lead)
    factories.make_utterance(call, "agent", "בשמחה", 4000, latency={"first_frame": "fast"})
    assert call_inbox.first_reply_ms(inbox_row(business_a, call)) is None


def test_the_inbox_shows_the_first_reply_in_seconds_and_marks_a_slow_one(owner_client, business_a, lead, settings):
    call = factories.make_call(business_a, lead)
    factories.make_utterance(call, "agent", "בשמחה", 4000, latency={"first_frame": 2400})
    html = owner_client.get(INBOX).content.decode()
    assert 'class="first-reply slow"' in html and '<bdi dir="ltr">2.4</bdi> שנ׳' in html


# -- needs follow-up first ----------------------------------------------------------------------------------------
def test_a_call_with_an_open_follow_up_task_needs_follow_up(business_a, lead):
    call = factories.make_call(business_a, lead)
    follow_up(call)
    assert inbox_row(business_a, call).needs_follow_up is True


def test_a_call_whose_task_is_done_needs_no_follow_up(business_a, lead):
    call = factories.make_call(business_a, lead)
    follow_up(call, state=FollowUp.State.DONE)
    assert inbox_row(business_a, call).needs_follow_up is False


def test_a_lead_whose_follow_up_date_has_come_flags_only_its_latest_call(business_a, lead):
    now = timezone.now()
    earlier = factories.make_call(business_a, lead, started_at=now - timedelta(days=2))
    latest = factories.make_call(business_a, lead, started_at=now - timedelta(hours=1))
    Lead.objects.filter(pk=lead.pk).update(next_follow_up=timezone.localdate())
    assert inbox_row(business_a, latest).needs_follow_up is True
    assert inbox_row(business_a, earlier).needs_follow_up is False


@pytest.mark.parametrize("status", [Lead.Status.WON, Lead.Status.LOST])
def test_a_won_or_lost_lead_asks_for_no_follow_up(business_a, lead, status):
    call = factories.make_call(business_a, lead)
    Lead.objects.filter(pk=lead.pk).update(next_follow_up=timezone.localdate(), status=status)
    assert inbox_row(business_a, call).needs_follow_up is False


def test_a_follow_up_date_still_to_come_asks_for_nothing_yet(business_a, lead):
    call = factories.make_call(business_a, lead)
    Lead.objects.filter(pk=lead.pk).update(next_follow_up=timezone.localdate() + timedelta(days=3))
    assert inbox_row(business_a, call).needs_follow_up is False


def test_a_call_from_a_hidden_number_needs_no_follow_up(business_a):
    call = factories.make_call(business_a, None, from_number="")
    assert inbox_row(business_a, call).needs_follow_up is False


def test_calls_that_need_follow_up_come_first_then_the_newest(owner_client, business_a, lead):
    now = timezone.now()
    newest = factories.make_call(business_a, started_at=now - timedelta(minutes=5))
    old_task = factories.make_call(business_a, lead, started_at=now - timedelta(days=3))
    middle = factories.make_call(business_a, started_at=now - timedelta(hours=2))
    follow_up(old_task)
    assert listed(owner_client) == [old_task, newest, middle]
    html = owner_client.get(INBOX).content.decode()
    assert '<span class="tag needs-follow-up">דורש מעקב</span>' in html


def test_sorting_by_a_column_replaces_the_follow_up_first_order(owner_client, business_a, lead):
    now = timezone.now()
    short = factories.make_call(business_a, duration_seconds=10, started_at=now - timedelta(hours=1))
    task = factories.make_call(business_a, lead, duration_seconds=300, started_at=now - timedelta(hours=2))
    follow_up(task)
    columns = owner_client.get(INBOX).context["cl"].list_display
    by_duration = str(columns.index("duration"))
    assert listed(owner_client, o=by_duration) == [short, task]


# -- the row ---------------------------------------------------------------------------------------------------------
def test_a_row_shows_the_callers_name_over_the_number_and_the_start_of_the_summary(owner_client, business_a, lead):
    summary = "דנה ביקשה תור להלבנה. " * 20
    factories.make_call(business_a, lead, summary=summary)
    html = owner_client.get(INBOX).content.decode()
    assert '<bdi class="caller-name" dir="auto">דנה כהן</bdi> <bdi dir="ltr" class="phone">058-666-7788</bdi>' in html
    assert "דנה ביקשה תור להלבנה." in html and summary not in html  # shortened; the call page has all of it


def test_a_row_with_a_recording_has_a_player_that_loads_nothing_until_played(owner_client, business_a, lead):
    call = factories.make_call(business_a, lead)
    recording = factories.make_recording(call)
    html = owner_client.get(INBOX).content.decode()
    assert f'<audio class="inbox-player" controls preload="none" src="/recordings/{recording.pk}/audio"' in html


def test_the_business_column_shows_only_to_people_of_several_businesses(owner_client, owner_a, business_a, business_b):
    factories.make_call(business_a)
    assert "column-business_column" not in owner_client.get(INBOX).content.decode()
    factories.add_member(owner_a, business_b)
    assert "column-business_column" in owner_client.get(INBOX).content.decode()


def test_the_inbox_is_titled_calls(owner_client, business_a):
    assert "<h1>שיחות</h1>" in owner_client.get(INBOX).content.decode()


@pytest.mark.parametrize(
    "ago, shown",
    [
        (timedelta(0), 'היום</span> <bdi dir="ltr">12:30</bdi>'),
        (timedelta(days=1), 'אתמול</span> <bdi dir="ltr">12:30</bdi>'),
        (timedelta(days=3), '<bdi dir="ltr">07/06</bdi></span> <bdi dir="ltr">12:30</bdi>'),
        (timedelta(days=400), '<bdi dir="ltr">06/05/2025</bdi></span> <bdi dir="ltr">12:30</bdi>'),
    ],
)
def test_a_row_says_when_as_staff_say_it(ago, shown):
    now = timezone.make_aware(datetime(2026, 6, 10, 12, 30))  # the site's time zone
    with translation.override("he"):
        assert shown in when_html(now - ago, now)


def test_the_call_page_still_opens_from_the_inbox(owner_client, business_a, lead):
    call = factories.make_call(business_a, lead)
    factories.make_utterance(call, "caller", "אני רוצה תור", 2000)
    response = owner_client.get(reverse("admin:crm_call_change", args=[call.pk]))
    assert response.status_code == 200 and "אני רוצה תור" in response.content.decode()


# -- search ----------------------------------------------------------------------------------------------------------
@pytest.fixture
def said(business_a, lead):
    call = factories.make_call(business_a, lead, summary="")
    factories.make_utterance(call, "caller", "אני רוצה לקבוע תור להלבנת שיניים", 2000)
    other = factories.make_call(business_a, summary="")
    factories.make_utterance(other, "caller", "מה שעות הפתיחה שלכם", 2000)
    return {"call": call, "other": other}


def test_search_finds_a_call_by_a_word_the_caller_said(owner_client, said):
    assert listed(owner_client, q="שיניים") == [said["call"]]


def test_search_finds_a_call_by_the_start_of_a_word(owner_client, said):
    assert listed(owner_client, q="שיני") == [said["call"]]


def test_search_finds_a_call_by_several_words_of_one_utterance(owner_client, said):
    assert listed(owner_client, q="לקבוע שיניים") == [said["call"]]


def test_search_wants_every_word_in_the_same_utterance(owner_client, said):
    assert listed(owner_client, q="לקבוע הפתיחה") == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is PostgreSQL's")
def test_full_text_search_matches_whole_words_not_the_inside_of_a_word(owner_client, said):
    assert listed(owner_client, q="בנת") == []


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the substring search is the fallback without it")
def test_without_full_text_search_any_part_of_a_word_matches(owner_client, said):
    assert listed(owner_client, q="בנת") == [said["call"]]


def test_search_finds_words_of_a_voicemails_transcript(owner_client, business_a, said):
    voicemail = factories.make_call(business_a, outcome=Call.Outcome.VOICEMAIL, summary="")
    factories.make_recording(voicemail, kind="voicemail", transcript="תחזרו אליי בבקשה לגבי המחיר")
    assert listed(owner_client, q="המחיר") == [voicemail]


def test_search_still_finds_by_name_number_call_sid_and_summary(owner_client, business_a, lead, said):
    summarised = factories.make_call(business_a, summary="שאל על מחירון לשנה הבאה")
    assert set(listed(owner_client, q="דנה")) == {said["call"]}
    assert set(listed(owner_client, q="058-666 7788")) == {said["call"]}
    assert set(listed(owner_client, q=said["other"].call_sid)) == {said["other"]}
    assert set(listed(owner_client, q="מחירון")) == {summarised}


def test_search_keeps_the_outcome_filter(owner_client, business_a, lead, said):
    voicemail = factories.make_call(business_a, lead, outcome=Call.Outcome.VOICEMAIL)
    factories.make_utterance(voicemail, "caller", "הלבנת שיניים בבקשה", 1000)
    assert listed(owner_client, q="הלבנת", outcome__exact="voicemail") == [voicemail]
    assert listed(owner_client, q="058-666-7788", outcome__exact="voicemail") == [voicemail]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text indexes are PostgreSQL's")
@pytest.mark.parametrize(
    ("model", "field", "index"),
    [(Utterance, "text", "crm_utterance_text_fts"), (Recording, "transcript", "crm_recording_transcript_fts")],
)
def test_the_transcript_search_can_use_its_full_text_index(said, model, field, index):
    """The index (crm migration 0012) is on the very expression the search filters on: were they to drift
    apart, PostgreSQL would build a text vector for every row again."""
    search = call_inbox._postgres_matches(model, field, "שיני")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a few rows: make the planner show what it could use
        sql, params = search.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan


def test_search_uses_full_text_search_on_postgresql_only(said):
    assert call_inbox.full_text_search_available() is (connection.vendor == "postgresql")


@pytest.mark.parametrize("term", ["& | ! ( ) :*", "הלבנת:* & !(", "'\"; DROP TABLE crm_call; --", "%_\\", "<->"])
def test_search_with_query_syntax_or_sql_characters_gives_a_normal_page(owner_client, said, term):
    response = owner_client.get(INBOX, {"q": term})
    assert response.status_code == 200
    assert Call.objects.filter(pk=said["call"].pk).exists()


# -- filters ---------------------------------------------------------------------------------------------------------
def test_the_outcome_filter_lists_only_that_outcome(owner_client, business_a):
    talked = factories.make_call(business_a)
    voicemail = factories.make_call(business_a, outcome=Call.Outcome.VOICEMAIL)
    assert listed(owner_client, outcome__exact="voicemail") == [voicemail]
    assert listed(owner_client, outcome__exact="conversation") == [talked]


def test_the_date_filter_lists_only_the_days_asked_for(owner_client, business_a):
    now = timezone.now()
    today = factories.make_call(business_a, started_at=now)
    factories.make_call(business_a, started_at=now - timedelta(days=30))
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    params = {"started_at__gte": start.isoformat(), "started_at__lt": (start + timedelta(days=1)).isoformat()}
    assert listed(owner_client, **params) == [today]


@pytest.mark.parametrize(
    "params",
    [
        {"started_at__gte": "not-a-date"},
        {"started_at__year": "20x6"},
        {"started_at__month": "13", "started_at__year": "2026"},
        {"outcome__exact": "<script>"},
        {"o": "99"},
    ],
)
def test_a_garbage_filter_value_gives_a_normal_page(owner_client, business_a, params):
    factories.make_call(business_a)
    response = owner_client.get(INBOX, params, follow=True)
    assert response.status_code == 200


# -- scoping ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def b_call(business_b):
    lead = factories.make_lead(business_b, "+972521111111", "סוד של ב")
    call = factories.make_call(business_b, lead, summary="סיכום פרטי של ב")
    factories.make_utterance(call, "caller", "מילים פרטיות של עסק ב", 1000)
    FollowUp.objects.create(business=business_b, lead=lead, call=call, due_at=timezone.now())
    return call


def test_a_user_of_business_a_sees_none_of_bs_calls(owner_client, staff_client, business_a, b_call):
    mine = factories.make_call(business_a)
    assert listed(owner_client) == [mine]
    assert listed(staff_client) == [mine]


@pytest.mark.parametrize("term", ["פרטיות", "סוד", "052-111-1111", "+972521111111", "פרטי"])
def test_a_user_of_business_a_finds_none_of_bs_calls_by_search(owner_client, business_a, b_call, term):
    assert listed(owner_client, q=term) == []


def test_the_transcript_search_looks_only_at_the_texts_of_the_calls_it_is_given(staff_a, business_a, b_call):
    mine = call_inbox.inbox_for(staff_a)
    assert list(mine.filter(call_inbox.transcript_matches("פרטיות", mine))) == []
    # Even applied to every call, the condition names none of B's: only the given calls' texts were searched.
    assert not Call.objects.filter(call_inbox.transcript_matches("פרטיות", mine)).exists()
