"""Follow-ups in the admin (backoffice/admin_followups.py): the sales user's own tasks first on the front page
and in the header, the task list with its filters, one click to close a task with what came of it, the lead's
tasks on its page, tasks added by hand; and none of it across businesses."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import CallEvent, Membership
from followup.models import FollowUp
from tests.backoffice.conftest import logged_in
from tests.support import factories

pytestmark = pytest.mark.django_db


def task(business, assignee, *, hours: float, lead=None, call=None, **fields) -> FollowUp:
    lead = lead or factories.make_lead(business, name=fields.pop("lead_name", "רון לוי"))
    due_at = timezone.now() + dt.timedelta(hours=hours)
    return FollowUp.objects.create(business=business, lead=lead, call=call, assignee=assignee, due_at=due_at, **fields)


@pytest.fixture
def colleague_a(business_a):
    return factories.make_staff(business_a, "colleague_a")


@pytest.fixture
def b_task(business_b, owner_b):
    return task(business_b, owner_b, hours=-1, lead_name="Secret B lead", note="B's private note")


def done_url(follow_up: FollowUp) -> str:
    return reverse("admin:followup_followup_done", args=[follow_up.pk])


# -- the landing page and the header ---------------------------------------------------------------------------
def test_the_front_page_starts_with_my_follow_ups_overdue_highlighted_and_the_header_counts_them(
    staff_client, staff_a, colleague_a, business_a
):
    task(business_a, staff_a, hours=-2, lead_name="דנה באיחור")
    task(business_a, staff_a, hours=-0.5, lead_name="יוסי גם באיחור")
    task(business_a, staff_a, hours=48, lead_name="מיכל בהמשך")
    task(business_a, colleague_a, hours=-1, lead_name="של עמית")

    html = staff_client.get(reverse("admin:index")).content.decode()

    panel = html[html.index('id="my-follow-ups"') : html.index("</section>", html.index('id="my-follow-ups"'))]
    assert html.index('id="my-follow-ups"') < html.index("crm-dashboard")  # first on the page
    assert "דנה באיחור" in panel and "מיכל בהמשך" in panel and "של עמית" not in panel
    assert panel.count('class="follow-up-row overdue"') == 2
    assert 'name="outcome"' in panel and "csrfmiddlewaretoken" in panel
    assert 'id="my-follow-ups-link"' in html and '<span class="badge" title="משימות שהגיע זמנן">2</span>' in html


def test_the_task_list_opens_on_my_open_tasks_and_filters_by_due(staff_client, staff_a, colleague_a, business_a):
    task(business_a, staff_a, hours=-3, lead_name="באיחור שלי")
    task(business_a, staff_a, hours=72, lead_name="בהמשך שלי")
    task(business_a, staff_a, hours=-3, lead_name="סגורה שלי", state=FollowUp.State.DONE)
    task(business_a, colleague_a, hours=-3, lead_name="של עמית")
    url = reverse("admin:followup_followup_changelist")

    mine = staff_client.get(url).content.decode()
    assert "באיחור שלי" in mine and "בהמשך שלי" in mine
    assert "סגורה שלי" not in mine and "של עמית" not in mine
    assert "follow-up-overdue" in mine

    overdue = staff_client.get(url, {"due": "overdue"}).content.decode()
    assert "באיחור שלי" in overdue and "בהמשך שלי" not in overdue
    upcoming = staff_client.get(url, {"due": "upcoming"}).content.decode()
    assert "בהמשך שלי" in upcoming and "באיחור שלי" not in upcoming
    everyone = staff_client.get(url, {"who": "all"}).content.decode()
    assert "של עמית" in everyone


# -- done, with an outcome -------------------------------------------------------------------------------------
def test_done_with_an_outcome_closes_the_task_and_notes_it_on_the_calls_timeline(staff_client, staff_a, business_a):
    lead = factories.make_lead(business_a, name="רון")
    call = factories.make_call(business_a, lead)
    follow_up = task(business_a, staff_a, hours=-1, lead=lead, call=call)

    response = staff_client.post(done_url(follow_up), {"outcome": "דיברנו, נקבעה פגישה", "next": "/admin/"})

    assert response.status_code == 302 and response["Location"] == "/admin/"
    follow_up.refresh_from_db()
    assert follow_up.state == FollowUp.State.DONE and follow_up.outcome == "דיברנו, נקבעה פגישה"
    assert follow_up.done_at is not None
    (event,) = call.events.filter(kind=CallEvent.Kind.FOLLOW_UP)
    assert event.payload["state"] == "done" and event.payload["by"] == "staff_a"


def test_done_without_an_outcome_is_refused_and_changes_nothing(staff_client, staff_a, business_a):
    follow_up = task(business_a, staff_a, hours=-1)
    response = staff_client.post(done_url(follow_up), {"outcome": "   "})
    assert response.status_code == 200
    assert "כתבו בקצרה מה יצא מזה" in response.content.decode()
    follow_up.refresh_from_db()
    assert follow_up.state == FollowUp.State.OPEN and follow_up.outcome == "" and follow_up.done_at is None


def test_done_twice_closes_once(staff_client, staff_a, business_a):
    follow_up = task(business_a, staff_a, hours=-1)
    staff_client.post(done_url(follow_up), {"outcome": "ראשון"})
    response = staff_client.post(done_url(follow_up), {"outcome": "שני"}, follow=True)
    assert "המשימה כבר נסגרה קודם" in response.content.decode()
    follow_up.refresh_from_db()
    assert follow_up.outcome == "ראשון"


def test_done_needs_a_post_with_the_csrf_token(staff_a, business_a):
    from django.test import Client

    follow_up = task(business_a, staff_a, hours=-1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_a)
    assert client.post(done_url(follow_up), {"outcome": "נסיון"}).status_code == 403
    page = client.get(done_url(follow_up))  # GET shows the form, changes nothing
    assert page.status_code == 200 and 'name="outcome"' in page.content.decode()
    follow_up.refresh_from_db()
    assert follow_up.state == FollowUp.State.OPEN


# -- another business ------------------------------------------------------------------------------------------
def test_another_business_cannot_see_or_close_a_task(staff_client, b_task):
    assert staff_client.post(done_url(b_task), {"outcome": "סגרתי לך"}).status_code == 404
    assert staff_client.get(done_url(b_task)).status_code == 404
    change = staff_client.get(reverse("admin:followup_followup_change", args=[b_task.pk]), follow=True)
    listing = staff_client.get(reverse("admin:followup_followup_changelist"), {"who": "all", "state": "any"})
    for body in (change.content.decode(), listing.content.decode()):
        assert "Secret B lead" not in body and "private note" not in body
    b_task.refresh_from_db()
    assert b_task.state == FollowUp.State.OPEN and b_task.outcome == ""


def test_someone_without_a_business_cannot_open_the_task_list(business_a):
    outsider = factories.make_user("outsider")
    response = logged_in(outsider).get(reverse("admin:followup_followup_changelist"))
    assert response.status_code == 403


# -- the lead page, and tasks added by hand --------------------------------------------------------------------
def test_the_lead_page_shows_its_tasks_with_its_calls_and_the_call_back_button(staff_client, staff_a, business_a):
    lead = factories.make_lead(business_a, name="רון")
    factories.make_call(business_a, lead, summary="שאל על מחירים")
    task(business_a, staff_a, hours=-1, lead=lead, note="לשלוח הצעת מחיר")
    html = staff_client.get(reverse("admin:crm_lead_change", args=[lead.pk])).content.decode()
    assert "משימות מעקב" in html and "לשלוח הצעת מחיר" in html and "סימון כבוצע" in html
    assert "שאל על מחירים" in html
    assert html.index("משימות מעקב") < html.index("שאל על מחירים")
    assert reverse("crm_lead_call_back", args=[lead.pk]) in html


def test_a_task_added_by_hand_goes_to_the_leads_owner_in_its_business(staff_client, staff_a, colleague_a, business_a):
    lead = factories.make_lead(business_a, name="רון", owner=colleague_a)
    response = staff_client.post(
        reverse("admin:followup_followup_add"),
        {"lead": lead.pk, "due_at_0": "2030-01-01", "due_at_1": "10:00", "note": "להתקשר אחרי החג"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    follow_up = FollowUp.objects.get()
    assert follow_up.business == business_a and follow_up.source == FollowUp.Source.MANUAL
    assert follow_up.assignee == colleague_a and follow_up.note == "להתקשר אחרי החג"


def test_a_task_cannot_be_added_for_another_business_or_to_someone_outside_it(
    staff_client, business_a, business_b, owner_b
):
    b_lead = factories.make_lead(business_b, name="Secret B lead")
    a_lead = factories.make_lead(business_a, name="רון")
    add = reverse("admin:followup_followup_add")
    form = {"due_at_0": "2030-01-01", "due_at_1": "10:00"}
    staff_client.post(add, {**form, "lead": b_lead.pk})
    # owner_b is offered to nobody in A (the choice is not there), and is refused if posted anyway
    staff_client.post(add, {**form, "lead": a_lead.pk, "assignee": owner_b.pk})
    assert not FollowUp.objects.exists()


def test_a_new_due_time_is_reminded_again(staff_client, staff_a, business_a):
    follow_up = task(business_a, staff_a, hours=-1)
    FollowUp.objects.filter(pk=follow_up.pk).update(reminded_at=timezone.now())
    later = timezone.localtime() + dt.timedelta(days=2)
    response = staff_client.post(
        reverse("admin:followup_followup_change", args=[follow_up.pk]),
        {
            "due_at_0": later.date().isoformat(),
            "due_at_1": "10:00",
            "assignee": staff_a.pk,
            "note": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    follow_up.refresh_from_db()
    assert follow_up.reminded_at is None and timezone.localtime(follow_up.due_at).hour == 10


def test_an_owner_sees_the_task_list_too(owner_client, owner_a, business_a):
    task(business_a, owner_a, hours=-1, lead_name="של הבעלים")
    assert Membership.objects.get(user=owner_a).role == Membership.Role.OWNER
    assert "של הבעלים" in owner_client.get(reverse("admin:followup_followup_changelist")).content.decode()


def test_a_task_is_added_by_hand_on_the_lead_page(staff_client, staff_a, business_a):
    lead = factories.make_lead(business_a, "+972501234567", "רון")
    data = {
        "name": lead.name,
        "phone": "050-123-4567",
        "business": business_a.pk,
        "status": "new",
        "source": "phone",
        "calls-TOTAL_FORMS": "0",
        "calls-INITIAL_FORMS": "0",
        "follow_ups-TOTAL_FORMS": "1",
        "follow_ups-INITIAL_FORMS": "0",
        "follow_ups-0-lead": lead.pk,
        "follow_ups-0-due_at_0": "2030-01-02",
        "follow_ups-0-due_at_1": "09:30",
        "follow_ups-0-note": "לשלוח קטלוג",
    }
    response = staff_client.post(reverse("admin:crm_lead_change", args=[lead.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    follow_up = FollowUp.objects.get()
    assert (follow_up.lead, follow_up.business, follow_up.source) == (lead, business_a, FollowUp.Source.MANUAL)
    assert follow_up.assignee == staff_a  # no owner: the on-duty sales person whose turn it is
    assert timezone.localtime(follow_up.due_at).strftime("%d/%m/%Y %H:%M") == "02/01/2030 09:30"
