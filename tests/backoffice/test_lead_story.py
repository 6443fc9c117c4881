"""The lead's story on its page: the next action on top, then what happened, newest first, in Hebrew sentences,
with a player for each recorded call; only what the user's businesses own."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.contrib.admin.models import LogEntry
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from backoffice.lead_story import lead_story
from crm.models import Call, CallEvent, Lead, Recording
from followup.models import FollowUp
from tests.support import factories

pytestmark = pytest.mark.django_db
LIST = "admin:crm_lead_changelist"


def change_url(lead: Lead) -> str:
    return reverse("admin:crm_lead_change", args=[lead.pk])


def story_html(client, lead: Lead) -> str:
    """The story's section of the lead page, as served."""
    body = client.get(change_url(lead)).content.decode()
    match = re.search(r'<section class="lead-story".*?</section>', body, re.S)
    assert match, "the lead page has no story"
    return match[0]


def plain(html: str) -> str:
    """Visible words of a fragment: tags and isolates dropped, spaces squeezed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def sentences(story) -> list[str]:
    return [plain(str(entry.sentence)) for entry in story.entries]


def task(lead: Lead, *, due_in: timedelta, created_ago: timedelta = timedelta(0), **fields) -> FollowUp:
    follow_up = FollowUp.objects.create(business=lead.business, lead=lead, due_at=timezone.now() + due_in, **fields)
    FollowUp.objects.filter(pk=follow_up.pk).update(created_at=timezone.now() - created_ago)
    follow_up.refresh_from_db()
    return follow_up


@pytest.fixture
def lead(business_a):
    return factories.make_lead(business_a, "+972501234567", "דנה כהן", created_at=timezone.now() - timedelta(days=10))


# -- the order ---------------------------------------------------------------------------------------------
def test_the_feed_is_newest_first_from_calls_tasks_notes_and_changes_down_to_the_lead_s_creation(
    owner_a, owner_client, lead
):
    now = timezone.now()
    factories.make_call(lead.business, lead, started_at=now - timedelta(days=5), summary="ביקשה מחיר")
    task(lead, due_in=timedelta(days=1), created_ago=timedelta(days=3))
    stamp = timezone.localtime(now - timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    Lead.objects.filter(pk=lead.pk).update(notes=f"[{stamp}] מעדיפה אחרי 17:00")
    owner_client.post(reverse(LIST), {"action": "set_status_contacted", helpers.ACTION_CHECKBOX_NAME: [lead.pk]})  # now
    lead.refresh_from_db()

    story = lead_story(lead, owner_a)

    assert [entry.kind for entry in story.entries] == ["status", "note", "task_opened", "call", "created"]
    times = [entry.at for entry in story.entries]
    assert times == sorted(times, reverse=True)


# -- the next action ---------------------------------------------------------------------------------------
def test_the_next_action_is_the_earliest_open_task_and_is_marked_overdue_when_its_time_passed(owner_a, lead):
    task(lead, due_in=timedelta(days=2), note="לשלוח הצעת מחיר")
    overdue = task(lead, due_in=-timedelta(hours=3), note="לחזור אליה")
    task(lead, due_in=-timedelta(days=5), state=FollowUp.State.DONE, done_at=timezone.now(), outcome="דיברנו")

    action = lead_story(lead, owner_a).next_action

    assert action is not None and action.overdue
    assert action.at == overdue.due_at
    assert "לחזור אליה" in plain(str(action.sentence))
    assert action.url == reverse("admin:followup_followup_change", args=[overdue.pk])


def test_a_future_task_is_the_next_action_without_the_overdue_mark(owner_a, owner_client, lead, staff_a):
    future = task(lead, due_in=timedelta(days=1), source=FollowUp.Source.CALLBACK, assignee=staff_a)

    action = lead_story(lead, owner_a).next_action

    assert action is not None and not action.overdue and action.at == future.due_at
    assert "לחזור למתקשר, כפי שביקש" in plain(str(action.sentence))
    assert "באחריות staff_a" in plain(str(action.sentence))
    html = story_html(owner_client, lead)
    assert "lead-next-overdue" not in html and "באיחור" not in html


def test_without_a_task_the_caller_s_callback_time_is_the_next_action(owner_a, lead):
    Lead.objects.filter(pk=lead.pk).update(
        callback_at=timezone.now() + timedelta(hours=5),
        callback_time="מחר בבוקר",
        next_follow_up=timezone.localdate() + timedelta(days=7),
    )
    lead.refresh_from_db()

    action = lead_story(lead, owner_a).next_action

    assert action is not None and action.at == lead.callback_at and not action.overdue
    assert "כפי שביקש" in plain(str(action.sentence)) and "מחר בבוקר" in plain(str(action.sentence))


def test_a_follow_up_date_in_the_past_is_an_overdue_next_action(owner_a, lead):
    Lead.objects.filter(pk=lead.pk).update(next_follow_up=timezone.localdate() - timedelta(days=1))
    lead.refresh_from_db()

    action = lead_story(lead, owner_a).next_action

    assert action is not None and action.overdue
    assert "מעקב מתוכנן ל-" in plain(str(action.sentence))


def test_with_nothing_planned_the_page_says_so_above_the_feed(owner_a, owner_client, lead):
    assert lead_story(lead, owner_a).next_action is None
    html = story_html(owner_client, lead)
    assert html.index("data-next-action") < html.index("data-feed")
    assert "לא תוכנן דבר לליד הזה" in html


def test_the_next_action_is_above_the_feed_on_the_page(owner_client, lead):
    task(lead, due_in=-timedelta(hours=1), note="לחזור אליה")
    html = story_html(owner_client, lead)
    assert html.index("לחזור אליה") < html.index("data-feed")
    assert "lead-next-overdue" in html and "באיחור" in html


# -- each kind in words ------------------------------------------------------------------------------------
def test_a_call_reads_as_who_called_how_long_how_it_ended_and_its_summary_with_a_link(owner_a, lead):
    call = factories.make_call(lead.business, lead, duration_seconds=125, summary="ביקשה תור להלבנה")
    factories.make_event(call, CallEvent.Kind.LEAD_UPDATED, fields=["status", "interest"])

    (entry,) = [e for e in lead_story(lead, owner_a).entries if e.kind == "call"]

    assert plain(str(entry.sentence)) == (
        "שיחה נכנסת מ- 050-123-4567 , 2:05 דקות: המתקשר דיבר עם הנציג הממוחשב. הליד עודכן: סטטוס, תחום עניין"
    )
    assert '<bdi dir="ltr" class="phone">050-123-4567</bdi>' in str(entry.sentence)
    assert entry.summary == "ביקשה תור להלבנה"
    assert entry.url == reverse("admin:crm_call_change", args=[call.pk])


def test_a_voicemail_reads_as_a_voicemail_with_its_summary(owner_a, lead):
    call = factories.make_call(lead.business, lead, outcome=Call.Outcome.VOICEMAIL, duration_seconds=20)
    factories.make_recording(call, kind=Recording.Kind.VOICEMAIL, summary="מבקשת שיחזרו אליה")

    (entry,) = lead_story(lead, owner_a).entries[:1]

    assert entry.kind == "voicemail" and entry.title == "הודעה קולית"
    assert plain(str(entry.sentence)).endswith("0:20 דקות: המתקשר השאיר הודעה קולית")
    assert entry.summary == "מבקשת שיחזרו אליה"
    assert entry.audio_url


def test_an_outbound_call_back_reads_as_a_call_to_the_lead(owner_a, lead):
    factories.make_call(lead.business, lead, direction="outbound-callback", to_number=lead.phone, outcome="")

    (entry,) = lead_story(lead, owner_a).entries[:1]

    assert plain(str(entry.sentence)).startswith("שיחה יוצאת אל 050-123-4567")


def test_the_agent_s_stamped_notes_are_entries_at_their_time(owner_a, lead):
    Lead.objects.filter(pk=lead.pk).update(notes="לקוחה ותיקה\n[2026-11-30 09:15] מעדיפה וואטסאפ")
    lead.refresh_from_db()

    notes = [e for e in lead_story(lead, owner_a).entries if e.kind == "note"]

    assert [plain(str(e.sentence)) for e in notes] == ["נרשמה הערה: ‘ מעדיפה וואטסאפ ’"]
    assert notes[0].local_time == "30/11/2026 09:15"


def test_a_status_change_on_the_form_reads_with_old_and_new_status_and_who(owner_a, owner_client, lead):
    response = owner_client.post(change_url(lead), form_data(lead, status="qualified", notes="לקוחה ותיקה"))
    assert response.status_code == 302, response.context["adminform"].form.errors

    lead.refresh_from_db()
    texts = sentences(lead_story(lead, owner_a))

    assert "הסטטוס שונה מ-‘ חדש ’ ל-‘ מתאים ’ (על ידי owner_a)" in texts
    assert "נוספה הערה (על ידי owner_a): ‘ לקוחה ותיקה ’" in texts


def test_a_bulk_status_change_is_in_each_lead_s_story(owner_a, staff_client, lead):
    staff_client.post(reverse(LIST), {"action": "set_status_won", helpers.ACTION_CHECKBOX_NAME: [lead.pk]})

    (entry,) = [e for e in lead_story(lead, owner_a).entries if e.kind == "status"]

    assert plain(str(entry.sentence)).startswith("הסטטוס שונה מ-‘ חדש ’ ל-")
    assert plain(str(entry.sentence)).endswith("(על ידי staff_a)")
    assert LogEntry.objects.get(object_id=str(lead.pk)).get_change_message()  # Django's history still reads it


def test_owner_changes_read_as_assigned_and_passed_on(owner_a, owner_client, staff_client, staff_a, lead):
    staff_client.post(reverse(LIST), {"action": "assign_to_me", helpers.ACTION_CHECKBOX_NAME: [lead.pk]})
    owner_client.post(
        reverse(LIST),
        {"action": "assign_owner", "apply": "1", "owner": owner_a.pk, helpers.ACTION_CHECKBOX_NAME: [lead.pk]},
    )
    lead.refresh_from_db()
    assert lead.owner == owner_a

    owners = [plain(str(e.sentence)) for e in lead_story(lead, owner_a).entries if e.kind == "owner"]

    assert owners == [
        "הליד הועבר מ-‘ staff_a ’ אל ‘ owner_a ’ (על ידי owner_a)",
        "הליד הוקצה ל-‘ staff_a ’ (על ידי staff_a)",
    ]


def test_tasks_read_as_opened_done_and_missed(owner_a, lead, staff_a):
    task(lead, due_in=-timedelta(days=1), created_ago=timedelta(days=2), source=FollowUp.Source.VOICEMAIL,
         state=FollowUp.State.DONE, done_at=timezone.now(), outcome="נקבעה פגישה")  # fmt: skip
    task(lead, due_in=-timedelta(days=3), created_ago=timedelta(days=4), state=FollowUp.State.MISSED)

    texts = {e.kind: plain(str(e.sentence)) for e in lead_story(lead, owner_a).entries if e.kind.startswith("task")}

    assert texts["task_done"] == "משימת המעקב (הודעה קולית) בוצעה: ‘ נקבעה פגישה ’"
    assert texts["task_missed"] == "משימת המעקב (נוספה ידנית) הוחמצה"
    assert texts["task_opened"].startswith("נפתחה משימת מעקב (")


def test_the_lead_s_creation_is_the_first_entry(owner_a, lead):
    entry = lead_story(lead, owner_a).entries[-1]
    assert entry.kind == "created" and plain(str(entry.sentence)) == "הליד נוצר ( 050-123-4567 )"


# -- players -----------------------------------------------------------------------------------------------
def test_a_recorded_call_has_a_player_that_loads_nothing_until_played(owner_client, lead):
    call = factories.make_call(lead.business, lead)
    recording = factories.make_recording(call)
    html = story_html(owner_client, lead)
    assert re.search(rf'<audio [^>]*preload="none" src="[^"]*/recordings/{recording.pk}/audio"', html)


def test_a_call_without_a_recording_has_no_player_and_no_error_mark(owner_client, lead):
    call = factories.make_call(lead.business, lead)
    factories.make_recording(call, status=Recording.Status.FAILED, failure_reason="Twilio 404")
    html = story_html(owner_client, lead)
    assert "<audio" not in html
    assert "error" not in html and "Twilio 404" not in html
    assert reverse("admin:crm_call_change", args=[call.pk]) in html


# -- scoping and bad input ---------------------------------------------------------------------------------
def test_calls_and_tasks_of_a_business_the_user_does_not_work_for_are_not_in_the_story(
    owner_a, owner_client, lead, business_b
):
    foreign = factories.make_call(business_b, lead, summary="סוד של עסק ב")
    FollowUp.objects.create(business=business_b, lead=lead, due_at=timezone.now(), note="משימה של עסק ב")

    story = lead_story(lead, owner_a)

    assert all(entry.kind not in ("call", "task_opened") for entry in story.entries)
    assert story.next_action is None
    html = story_html(owner_client, lead)
    assert "סוד של עסק ב" not in html and "משימה של עסק ב" not in html
    assert reverse("admin:crm_call_change", args=[foreign.pk]) not in html


def test_the_story_of_another_business_s_lead_is_refused(owner_a, business_b):
    other = factories.make_lead(business_b, "+972521111111", "ליד של עסק ב")
    with pytest.raises(PermissionDenied):
        lead_story(other, owner_a)


def test_the_page_of_another_business_s_lead_is_not_found_as_before(owner_client, business_b):
    other = factories.make_lead(business_b, "+972521111111", "ליד של עסק ב")
    factories.make_call(business_b, other, summary="סיכום סודי")
    response = owner_client.get(change_url(other), follow=True)
    assert response.redirect_chain or response.status_code == 404
    assert "סיכום סודי" not in response.content.decode() and "lead-story" not in response.content.decode()


def form_data(lead: Lead, **changes) -> dict:
    data = {
        "name": lead.name,
        "phone": lead.phone,
        "business": lead.business_id,
        "status": lead.status,
        "source": lead.source,
        "notes": lead.notes,
        "calls-TOTAL_FORMS": "0",
        "calls-INITIAL_FORMS": "0",
        "follow_ups-TOTAL_FORMS": "0",
        "follow_ups-INITIAL_FORMS": "0",
    }
    return {**data, **changes}
