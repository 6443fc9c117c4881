"""The admin's front page: the last two weeks of the user's businesses in numbers and a bar chart."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.dashboard import dashboard_stats
from tests.support import factories

pytestmark = pytest.mark.django_db


def at(days_ago: int, hour: int = 12) -> datetime:
    day = timezone.localdate() - timedelta(days=days_ago)
    return timezone.make_aware(datetime.combine(day, time(hour)))


@pytest.fixture
def history(business_a, business_b):
    today = timezone.localdate()
    lead = factories.make_lead(business_a, "+972501234567", next_follow_up=today)
    factories.make_lead(business_a, "+972501234568", next_follow_up=today - timedelta(days=3))
    factories.make_lead(business_a, "+972501234569", created_at=at(30))  # before the period
    factories.make_call(business_a, lead, started_at=at(0), outcome="conversation", duration_seconds=60)
    factories.make_call(business_a, lead, started_at=at(0, 9), outcome="conversation", duration_seconds=120)
    factories.make_call(business_a, lead, started_at=at(2), outcome="voicemail", duration_seconds=30)
    factories.make_call(business_a, lead, started_at=at(13), outcome="no_message", duration_seconds=None)
    factories.make_call(business_a, lead, started_at=at(20), outcome="conversation")  # too old
    # Another business's activity never shows.
    b_lead = factories.make_lead(business_b, "+972521111111", next_follow_up=today)
    for _ in range(5):
        factories.make_call(business_b, b_lead, started_at=at(1), outcome="voicemail", duration_seconds=999)


def test_numbers_for_the_last_14_days_of_the_users_businesses(owner_a, history):
    stats = dashboard_stats(owner_a)
    assert stats.calls == 4
    assert stats.answered_by_agent == 2 and stats.voicemail == 1
    assert stats.agent_share == 67
    assert stats.average_duration_s == pytest.approx(70.0)
    assert stats.leads_created == 2
    assert stats.follow_ups_today == 1 and stats.follow_ups_overdue == 1
    assert len(stats.days) == 14
    assert stats.days[-1] == (timezone.localdate(), 2)
    assert stats.days[-3][1] == 1 and stats.days[0][1] == 1
    assert sum(n for _, n in stats.days) == 4


def test_days_follow_the_local_time_zone(owner_a, business_a):
    # 23:30 in Jerusalem is the previous day in UTC; it counts for the local day.
    factories.make_call(business_a, started_at=at(1, 23).replace(minute=30))
    stats = dashboard_stats(owner_a)
    assert stats.days[-2][1] == 1


def test_front_page_shows_the_dashboard(owner_client, history):
    body = owner_client.get(reverse("admin:index")).content.decode()
    assert re.search(r'id="stat-calls">4<', body)
    assert re.search(r'id="stat-agent">2<', body)
    assert re.search(r'id="stat-voicemail">1<', body)
    assert re.search(r'id="stat-duration"><bdi dir="ltr">1:10</bdi>', body)
    assert re.search(r'id="stat-leads">2<', body)
    assert re.search(r'id="stat-follow-ups">1<', body)
    svg = re.search(r'<svg class="daily-bars".*?</svg>', body, re.S).group(0)
    assert svg.count("<rect") == 14
    assert "?follow_up=today" in body
    assert f'id="live-calls-link" href="{reverse("admin:crm_call_live")}"' in body
    assert 'id="app-list"' in body or "app-crm" in body  # the usual model list is still there


def test_superuser_sees_every_business(history):
    root = factories.make_user("root", superuser=True)
    assert dashboard_stats(root).calls == 9
