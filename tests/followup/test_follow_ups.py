"""Callback requests and voicemails become follow-up tasks (followup/follow_ups.py): one per call and source
whatever retries, for the lead's owner or the next on-duty sales person in turn, on the call's timeline."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from crm.models import CallEvent, Membership
from crm.opening_hours import weekday_key
from followup import follow_ups
from followup.models import FollowUp
from tests.support import factories
from voice.call_digest import Digest, finish_call

pytestmark = pytest.mark.django_db

ISRAEL = ZoneInfo("Asia/Jerusalem")


@pytest.fixture
def business():
    return factories.make_business("מרפאת שיניים אלון", time_zone="Asia/Jerusalem")


def local_tomorrow(hour: int) -> dt.datetime:
    today = timezone.now().astimezone(ISRAEL).date()
    return dt.datetime.combine(today + dt.timedelta(days=1), dt.time(hour), tzinfo=ISRAEL)


def call_with_callback_request(business, lead, **changed):
    """A call in which the agent's tool saved a callback request (as the store records it)."""
    call = factories.make_call(business, lead)
    changed = changed or {"callback_time": "מחר בעשר", "callback_at": local_tomorrow(10).isoformat()}
    factories.make_event(
        call, CallEvent.Kind.TOOL_CALL, name="save_lead_details", arguments=changed, changed=changed, ok=True
    )
    return call


def staff(business, name: str, *, on_duty: bool = True, role: str = Membership.Role.STAFF):
    user = factories.make_user(name)
    membership = factories.add_member(user, business, role)
    membership.on_duty = on_duty
    membership.save()
    return user


# -- a callback request ----------------------------------------------------------------------------------------
def test_a_callback_request_makes_exactly_one_task_for_the_leads_owner_whatever_retries(business):
    owner = staff(business, "dana")
    staff(business, "yossi")
    lead = factories.make_lead(business, name="רון לוי", owner=owner, callback_time="מחר בעשר", interest="הלבנה")
    lead.callback_at = local_tomorrow(10)
    lead.save()
    call = call_with_callback_request(business, lead)

    first = follow_ups.after_call(call)
    assert follow_ups.after_call(call) == first  # the digest's signal heard again: the same task
    follow_ups.after_call(call)

    task = FollowUp.objects.get()
    assert task == first and task.business == business and task.lead == lead and task.call == call
    assert task.source == FollowUp.Source.CALLBACK and task.state == FollowUp.State.OPEN
    assert task.due_at == local_tomorrow(10)
    assert task.assignee == owner
    assert "„מחר בעשר”" in task.note and "הלבנה" in task.note
    (event,) = call.events.filter(kind=CallEvent.Kind.FOLLOW_UP)
    assert event.payload["follow_up_id"] == task.pk and event.payload["assignee"] == "dana"
    assert event.payload["due_at"] == local_tomorrow(10).isoformat()


def test_the_digests_words_become_the_task_through_the_after_call_signal(business, django_capture_on_commit_callbacks):
    lead = factories.make_lead(business, name="רון")
    call = factories.make_call(business, lead, started_at=timezone.now() - dt.timedelta(minutes=2))
    digest = Digest(summary="ביקש שיחזרו אליו מחר בבוקר.", facts={"callback_time": "מחר בבוקר"})

    with django_capture_on_commit_callbacks(execute=True):
        assert finish_call(call.pk, digest)
    with django_capture_on_commit_callbacks(execute=True):
        assert not finish_call(call.pk, digest)  # a redelivered digest job: nothing more

    lead.refresh_from_db()
    assert lead.callback_time == "מחר בבוקר" and lead.callback_at == local_tomorrow(9)  # no hours set: as said
    task = FollowUp.objects.get()
    assert task.call == call and task.due_at == local_tomorrow(9) and task.source == FollowUp.Source.CALLBACK


def test_a_request_the_words_do_not_time_is_due_as_soon_as_the_business_is_open(business):
    lead = factories.make_lead(business, callback_time="כשנוח לכם")
    call = call_with_callback_request(business, lead, callback_time="כשנוח לכם")
    before = timezone.now()
    task = follow_ups.after_call(call)
    assert task is not None and before <= task.due_at <= timezone.now()


def test_no_callback_request_in_this_call_makes_no_task(business):
    lead = factories.make_lead(business, callback_time="מחר בעשר")  # asked in an earlier call
    lead.callback_at = local_tomorrow(10)
    lead.save()
    call = factories.make_call(business, lead)
    factories.make_event(call, CallEvent.Kind.TOOL_CALL, name="save_lead_details", arguments={"name": "רון"}, ok=True)
    assert follow_ups.after_call(call) is None
    assert not FollowUp.objects.exists()


def test_a_refused_tool_call_is_no_request(business):
    lead = factories.make_lead(business)
    call = factories.make_call(business, lead)
    factories.make_event(
        call, CallEvent.Kind.TOOL_CALL, name="save_lead_details", arguments={"callback_at": "מחר"}, changed={}, ok=False
    )
    assert follow_ups.after_call(call) is None


def test_a_hidden_caller_makes_no_task(business):
    call = factories.make_call(business, None, from_number="")
    assert follow_ups.after_call(call) is None


# -- a voicemail -----------------------------------------------------------------------------------------------
def test_a_voicemail_makes_one_task_due_now_when_open(business):
    lead = factories.make_lead(business)
    call = factories.make_call(business, lead)
    recording = factories.make_recording(call, summary="מבקשת הצעת מחיר")
    before = timezone.now()
    task = follow_ups.after_voicemail(recording)
    assert follow_ups.after_voicemail(recording) == task
    assert FollowUp.objects.get() == task
    assert task.source == FollowUp.Source.VOICEMAIL and "מבקשת הצעת מחיר" in task.note
    assert before <= task.due_at <= timezone.now()


def test_a_voicemail_left_when_closed_is_due_at_the_next_opening(business):
    tomorrow = local_tomorrow(0).date()
    business.opening_hours = {weekday_key(tomorrow): [["09:00", "17:00"]]}
    business.save()
    call = factories.make_call(business, factories.make_lead(business))
    task = follow_ups.after_voicemail(factories.make_recording(call))
    assert task.due_at == local_tomorrow(9)


# -- who gets it -----------------------------------------------------------------------------------------------
def test_without_an_owner_tasks_go_round_the_on_duty_sales_staff_skipping_those_off_duty(business):
    a = staff(business, "a")
    staff(business, "b_off", on_duty=False)
    c = staff(business, "c")
    staff(business, "boss", role=Membership.Role.OWNER)
    assignees = []
    for _ in range(5):
        lead = factories.make_lead(business)
        assignees.append(follow_ups.after_call(call_with_callback_request(business, lead)).assignee)
    assert assignees == [a, c, a, c, a]


def test_the_turn_is_kept_in_the_database(business):
    a, b = staff(business, "a"), staff(business, "b")
    first = follow_ups.after_call(call_with_callback_request(business, factories.make_lead(business)))
    assert first.assignee == a
    # Whatever process comes next (another worker, after a restart) continues the turn.
    assert follow_ups.choose_assignee(business, factories.make_lead(business)) == b


def test_owners_take_turns_only_when_no_sales_staff_is_on_duty(business):
    staff(business, "off", on_duty=False)
    boss = staff(business, "boss", role=Membership.Role.OWNER)
    task = follow_ups.after_call(call_with_callback_request(business, factories.make_lead(business)))
    assert task.assignee == boss


def test_an_owner_who_left_the_business_does_not_get_the_task(business):
    other = factories.make_business("Garage Beta")
    gone = staff(other, "gone")
    a = staff(business, "a")
    lead = factories.make_lead(business, owner=gone)
    assert follow_ups.after_call(call_with_callback_request(business, lead)).assignee == a


def test_nobody_on_duty_leaves_the_task_unassigned(business):
    staff(business, "off", on_duty=False)
    task = follow_ups.after_call(call_with_callback_request(business, factories.make_lead(business)))
    assert task is not None and task.assignee is None


# -- closing ---------------------------------------------------------------------------------------------------
def test_done_needs_an_outcome_and_closes_once(business):
    user = staff(business, "a")
    task = follow_ups.after_call(call_with_callback_request(business, factories.make_lead(business)))
    with pytest.raises(ValueError):
        follow_ups.mark_done(task.pk, "   ", user)
    task.refresh_from_db()
    assert task.state == FollowUp.State.OPEN and task.done_at is None

    follow_ups.mark_done(task.pk, "דיברנו, נקבעה פגישה", user)
    with pytest.raises(follow_ups.NotOpen):
        follow_ups.mark_done(task.pk, "שוב", user)
    task.refresh_from_db()
    assert task.state == FollowUp.State.DONE and task.outcome == "דיברנו, נקבעה פגישה" and task.done_at
    events = [e.payload for e in task.call.events.filter(kind=CallEvent.Kind.FOLLOW_UP).order_by("pk")]
    assert [e["state"] for e in events] == ["open", "done"] and events[1]["outcome"] == "דיברנו, נקבעה פגישה"
