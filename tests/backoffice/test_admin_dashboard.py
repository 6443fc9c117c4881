"""The admin's front page: the chosen period of the user's businesses in figures and charts."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.dashboard import dashboard_stats, percentile
from backoffice.dashboard_range import MAX_DAYS, Period, chosen_period
from crm.models import CallEvent
from followup.models import FollowUp
from tests.backoffice.conftest import logged_in
from tests.support import factories

pytestmark = pytest.mark.django_db


def at(days_ago: int, hour: int = 12, minute: int = 0) -> datetime:
    day = timezone.localdate() - timedelta(days=days_ago)
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def today() -> date:
    return timezone.localdate()


@pytest.fixture
def history(business_a, business_b):
    lead = factories.make_lead(business_a, "+972501234567", next_follow_up=today())
    factories.make_lead(business_a, "+972501234568", next_follow_up=today() - timedelta(days=3))
    factories.make_lead(business_a, "+972501234569", created_at=at(30))  # before the period
    factories.make_call(business_a, lead, started_at=at(0), outcome="conversation", duration_seconds=60)
    factories.make_call(business_a, lead, started_at=at(0, 9), outcome="conversation", duration_seconds=120)
    factories.make_call(business_a, lead, started_at=at(2), outcome="voicemail", duration_seconds=30)
    factories.make_call(business_a, lead, started_at=at(13), outcome="no_message", duration_seconds=None)
    factories.make_call(business_a, lead, started_at=at(20), outcome="conversation")  # too old
    # Another business's activity never shows.
    b_lead = factories.make_lead(business_b, "+972521111111", next_follow_up=today(), status="won")
    for _ in range(5):
        b_call = factories.make_call(business_b, b_lead, started_at=at(1), outcome="voicemail", duration_seconds=999)
        factories.make_event(b_call, CallEvent.Kind.ERROR, role="llm", message="timeout")
        factories.make_utterance(b_call, "agent", "כן", 100, latency={"first_frame": 9000})


# -- percentiles -------------------------------------------------------------------------------------------------
def test_percentile_is_the_nearest_rank_value():
    values = [100, 900, 300, 200, 500, 400, 800, 600, 700, 1000]
    assert percentile(values, 50) == 500
    assert percentile(values, 95) == 1000
    assert percentile(values, 90) == 900


def test_percentile_of_one_value_is_that_value():
    assert percentile([420], 50) == 420 and percentile([420], 95) == 420


def test_percentile_of_nothing_is_none():
    assert percentile([], 50) is None


# -- the figures -------------------------------------------------------------------------------------------------
def test_numbers_for_the_last_14_days_of_the_users_businesses(owner_a, history):
    stats = dashboard_stats(owner_a)
    assert stats.calls == 4
    assert stats.answered_by_agent == 2 and stats.voicemail == 1
    assert stats.agent_share == 67
    assert stats.average_duration_s == pytest.approx(70.0)
    assert stats.leads_created == 2
    assert stats.follow_ups_today == 1 and stats.follow_ups_overdue == 1
    assert len(stats.days) == 14
    assert stats.days[-1] == (today(), 2)
    assert stats.days[-3][1] == 1 and stats.days[0][1] == 1
    assert stats.errors == 0 and stats.replies == 0  # business B's errors and replies are not counted


def test_calls_per_day_are_split_into_answered_voicemail_transferred_and_other(owner_a, business_a):
    factories.make_call(business_a, started_at=at(1), outcome="conversation")
    factories.make_call(business_a, started_at=at(1), outcome="voicemail")
    taken = factories.make_call(business_a, started_at=at(1), outcome="conversation")
    factories.make_event(taken, CallEvent.Kind.TRANSFER, outcome="completed", duration=30)
    unanswered = factories.make_call(business_a, started_at=at(1), outcome="voicemail")
    factories.make_event(unanswered, CallEvent.Kind.TRANSFER, outcome="no-answer", voicemail=True)
    factories.make_call(business_a, started_at=at(1), outcome="no_message")

    yesterday = dashboard_stats(owner_a).calls_per_day[-2]

    assert (yesterday.answered, yesterday.voicemail, yesterday.transferred, yesterday.other) == (1, 2, 1, 1)
    assert yesterday.day == today() - timedelta(days=1)


def test_lead_funnel_counts_each_lead_at_every_stage_it_has_passed(owner_a, business_a, business_b):
    for status in ["new", "new", "contacted", "qualified", "won", "lost"]:
        factories.make_lead(business_a, status=status)
    factories.make_lead(business_a, status="won", created_at=at(40))  # created before the period
    factories.make_lead(business_b, status="won")

    stats = dashboard_stats(owner_a)

    assert [(s.status, s.count) for s in stats.funnel] == [("new", 6), ("contacted", 3), ("qualified", 2), ("won", 1)]
    assert stats.lost == 1


def test_follow_ups_per_person_open_overdue_and_done_in_the_period(owner_a, staff_a, business_a, business_b):
    lead = factories.make_lead(business_a)
    now = timezone.now()

    def task(assignee, **fields):
        return FollowUp.objects.create(business=lead.business, lead=lead, assignee=assignee, **fields)

    task(staff_a, due_at=now + timedelta(hours=2))
    task(staff_a, due_at=now - timedelta(days=1))  # overdue
    task(staff_a, due_at=now - timedelta(days=2), state="done", done_at=now - timedelta(days=3))  # on time
    task(staff_a, due_at=now - timedelta(days=5), state="done", done_at=now - timedelta(days=1))  # late
    task(staff_a, due_at=now - timedelta(days=60), state="done", done_at=now - timedelta(days=50))  # before
    task(None, due_at=now + timedelta(days=1))
    b_lead = factories.make_lead(business_b)
    FollowUp.objects.create(business=business_b, lead=b_lead, assignee=staff_a, due_at=now - timedelta(days=1))

    people = {p.name: p for p in dashboard_stats(owner_a).staff}

    assert set(people) == {"staff_a", "ללא אחראי"}
    dana = people["staff_a"]
    assert (dana.open, dana.overdue, dana.done, dana.done_on_time) == (2, 1, 2, 1)
    assert people["ללא אחראי"].open == 1


def test_first_reply_latency_p50_and_p95_per_day(owner_a, business_a):
    call = factories.make_call(business_a, started_at=at(1))
    for i, ms in enumerate([800, 900, 1000, 1100, 3000]):
        factories.make_utterance(call, "agent", "תשובה", 1000 * i, latency={"asr": 200, "first_frame": ms})
    factories.make_utterance(call, "agent", "שלום", 0)  # the greeting: no turn latency
    factories.make_utterance(call, "caller", "שאלה", 500, latency={"first_frame": 5})  # the caller's line

    yesterday = dashboard_stats(owner_a).latency_per_day[-2]

    assert (yesterday.replies, yesterday.p50, yesterday.p95) == (5, 1000, 3000)
    assert dashboard_stats(owner_a).latency_per_day[-1].p50 is None


def test_provider_errors_per_day_by_provider(owner_a, business_a):
    call = factories.make_call(business_a, started_at=at(0))
    factories.make_event(call, CallEvent.Kind.ERROR, role="asr", message="stream closed")
    factories.make_event(call, CallEvent.Kind.ERROR, role="tts", message="no audio")
    factories.make_event(call, CallEvent.Kind.ERROR, role="fallback_tts", message="no audio")
    factories.make_event(call, CallEvent.Kind.ERROR, stage="transcribe", reason="job failed")  # not a provider
    factories.make_event(call, CallEvent.Kind.TOOL_CALL, role="llm")  # not an error

    stats = dashboard_stats(owner_a)

    assert stats.errors_per_day[-1].by_group == {"asr": 1, "tts": 2}
    assert stats.errors == 3


def test_busiest_hours_are_local_hours(owner_a, business_a):
    # 23:30 in Jerusalem is 20:30 or 21:30 in UTC: it counts for hour 23, on the local day.
    factories.make_call(business_a, started_at=at(1, 23, 30))
    factories.make_call(business_a, started_at=at(1, 9, 5))
    factories.make_call(business_a, started_at=at(2, 9, 55))

    stats = dashboard_stats(owner_a)

    assert stats.busiest_hours[23] == 1 and stats.busiest_hours[9] == 2 and sum(stats.busiest_hours) == 3
    assert stats.days[-2][1] == 2


def test_a_chosen_period_counts_only_its_days(owner_a, history):
    stats = dashboard_stats(owner_a, period=Period(today() - timedelta(days=2), today() - timedelta(days=1)))
    assert stats.calls == 1 and stats.voicemail == 1 and len(stats.days) == 2


def test_superuser_sees_every_business(history):
    root = factories.make_user("root", superuser=True)
    stats = dashboard_stats(root)
    assert stats.calls == 9 and stats.errors == 5 and stats.replies == 5


# -- the range form ------------------------------------------------------------------------------------------------
def test_no_range_asked_is_the_last_14_days():
    period, form = chosen_period({}, today=date(2030, 5, 20))
    assert period == Period(date(2030, 5, 7), date(2030, 5, 20)) and not form.errors


def test_range_is_read_day_first():
    period, _form = chosen_period({"from": "03/04/2030", "to": "05.04.2030"}, today=date(2030, 5, 20))
    assert period == Period(date(2030, 4, 3), date(2030, 4, 5))


def test_garbage_date_falls_back_to_the_default_range_with_a_message():
    period, form = chosen_period({"from": "yesterday-ish", "to": "20/05/2030"}, today=date(2030, 5, 20))
    assert period.length == 14 and period.last == date(2030, 5, 20)
    assert "תאריך ההתחלה אינו תאריך" in str(form.errors)


def test_reversed_range_falls_back_to_the_default_range_with_a_message():
    period, form = chosen_period({"from": "10/05/2030", "to": "01/05/2030"}, today=date(2030, 5, 20))
    assert period.length == 14
    assert form.non_field_errors() == ["תאריך הסיום מוקדם מתאריך ההתחלה."]


def test_too_long_range_is_refused_with_a_message():
    period, form = chosen_period({"from": "01/01/2028", "to": "01/05/2030"}, today=date(2030, 5, 20))
    assert period.length == 14
    assert form.non_field_errors() == [f"הטווח ארוך מדי: לכל היותר {MAX_DAYS} ימים."]


@pytest.mark.parametrize(("first", "last"), [("", "01/01/0001"), ("31/12/9999", "31/12/9999"), ("01/01/1999", "")])
def test_dates_far_from_now_are_refused_with_a_message(first, last):
    period, form = chosen_period({"from": first, "to": last}, today=date(2030, 5, 20))
    assert period.length == 14
    assert form.non_field_errors() == ["יש לבחור תאריכים בין 2000 ל-2100."]


def test_a_full_year_is_accepted():
    period, form = chosen_period({"from": "21/05/2029", "to": "20/05/2030"}, today=date(2030, 5, 20))
    assert period.length == 365 and not form.errors


# -- the page ----------------------------------------------------------------------------------------------------
def test_front_page_shows_the_dashboard(owner_client, history):
    body = owner_client.get(reverse("admin:index")).content.decode()
    assert "14 הימים האחרונים" in body
    assert re.search(r'id="stat-calls">4<', body)
    assert re.search(r'id="stat-agent">2<', body)
    assert re.search(r'id="stat-voicemail">1<', body)
    assert re.search(r'id="stat-duration"><bdi dir="ltr">1:10</bdi>', body)
    assert re.search(r'id="stat-leads">2<', body)
    assert re.search(r'id="stat-follow-ups">1<', body)
    calls = re.search(r'<svg class="dash-chart calls".*?</svg>', body, re.S).group(0)
    assert calls.count('<g class="col">') == 14 and "<title>" in calls and 'direction="ltr"' in calls
    assert '<svg class="dash-chart hours"' in body and '<svg class="dash-chart funnel"' in body
    assert "?follow_up=today" in body
    assert f'id="live-calls-link" href="{reverse("admin:crm_call_live")}"' in body
    assert 'id="app-list"' in body or "app-crm" in body  # the usual model list is still there
    assert "crm/dashboard.css" in body


def test_front_page_for_a_chosen_range(owner_client, history):
    first, last = today() - timedelta(days=2), today() - timedelta(days=1)
    body = owner_client.get(reverse("admin:index"), {"from": f"{first:%d/%m/%Y}", "to": f"{last:%d/%m/%Y}"})
    html = body.content.decode()
    assert re.search(r'id="stat-calls">1<', html)
    assert f'<bdi dir="ltr">{first:%d/%m/%Y}</bdi>' in html
    assert 'id="range-errors"' not in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "שלשום", "to": ""}, "תאריך ההתחלה אינו תאריך"),
        ({"from": "10/05/2030", "to": "01/05/2030"}, "תאריך הסיום מוקדם מתאריך ההתחלה"),
        ({"from": "01/01/2020", "to": "01/01/2030"}, "הטווח ארוך מדי"),
        ({"from": "", "to": "01/01/0001"}, "יש לבחור תאריכים בין 2000 ל-2100"),
    ],
    ids=["garbage", "reversed", "too-long", "year-one"],
)
def test_a_bad_range_shows_the_message_and_the_default_period(owner_client, history, params, message):
    response = owner_client.get(reverse("admin:index"), params)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="range-errors"' in html and message in html
    assert "במקום זאת מוצגים 14 הימים האחרונים" in html
    assert re.search(r'id="stat-calls">4<', html)


def test_an_empty_period_says_there_is_no_data_instead_of_drawing_empty_charts(owner_client, business_a):
    html = owner_client.get(reverse("admin:index")).content.decode()
    assert "dash-chart" not in html
    for wording in ["אין שיחות בתקופה הזו.", "אין לידים חדשים בתקופה הזו.", "אין משימות מעקב.",
                    "אין תשובות של הנציג בתקופה הזו.", "אין תקלות ספקים בתקופה הזו."]:  # fmt: skip
        assert wording in html


def test_another_business_data_never_reaches_the_page(owner_b, business_a):
    call = factories.make_call(business_a, started_at=at(0))
    factories.make_event(call, CallEvent.Kind.ERROR, role="asr")
    factories.make_lead(business_a)
    client_b = logged_in(owner_b)
    html = client_b.get(reverse("admin:index")).content.decode()
    assert re.search(r'id="stat-calls">0<', html) and re.search(r'id="stat-errors">0<', html)
    assert "אין שיחות בתקופה הזו." in html
