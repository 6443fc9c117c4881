"""Background jobs in the admin: the operators' page (superusers), with status and task filters and the last
error; staff see no jobs page, and a staff user given the permission by hand sees only their own calls' jobs."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from crm.models import Call
from tests.backoffice.conftest import logged_in
from tests.support import factories
from voice.models import Job

pytestmark = pytest.mark.django_db

JOBS = reverse("admin:voice_job_changelist")


@pytest.fixture
def jobs_ab(business_a, business_b) -> tuple[Job, Job, Job]:
    call_a = Call.objects.create(call_sid="CA" + "a" * 32, business=business_a, from_number="+972501234567")
    call_b = Call.objects.create(call_sid="CA" + "b" * 32, business=business_b, from_number="+972501234568")
    failed = Job.objects.create(
        task="voice.tasks.ingest_twilio_recording",
        key="RE" + "a" * 32,
        call=call_a,
        status=Job.Status.FAILED,
        attempts=9,
        last_error="download failed: download answered HTTP 500",
    )
    done = Job.objects.create(task="voice.tasks.after_call", key="900002", call=call_b, status=Job.Status.DONE)
    orphan = Job.objects.create(task="voice.tasks.after_call", key="900003", status=Job.Status.PENDING)
    return failed, done, orphan


def test_the_operator_sees_every_job_with_its_last_error_and_filters(jobs_ab):
    failed, done, _orphan = jobs_ab
    client = logged_in(factories.make_user("root", superuser=True))

    html = client.get(JOBS).content.decode()
    assert all(job.key in html for job in jobs_ab)
    assert "download answered HTTP 500" in html
    assert reverse("admin:crm_call_change", args=[failed.call_id]) in html

    only_failed = client.get(JOBS, {"status__exact": "failed"}).content.decode()
    assert failed.key in only_failed and done.key not in only_failed
    only_after_call = client.get(JOBS, {"task": "voice.tasks.after_call"}).content.decode()
    assert failed.key not in only_after_call and done.key in only_after_call
    assert "after_call" in only_after_call and "ingest_twilio_recording" in only_after_call  # the filter's choices


def test_the_jobs_page_speaks_hebrew(jobs_ab):
    client = logged_in(factories.make_user("root", superuser=True))
    html = client.get(JOBS).content.decode()
    assert "משימות רקע" in html and "השגיאה האחרונה" in html and "נכשלה" in html


def test_staff_have_no_jobs_page(owner_client, staff_client, jobs_ab):
    assert owner_client.get(JOBS).status_code == 403
    assert staff_client.get(JOBS).status_code == 403
    assert "voice/job" not in owner_client.get(reverse("admin:index")).content.decode()


def test_a_staff_user_allowed_to_see_jobs_sees_only_their_businesses(owner_a, jobs_ab):
    failed, done, orphan = jobs_ab
    owner_a.user_permissions.add(Permission.objects.get(codename="view_job", content_type__app_label="voice"))
    client = logged_in(owner_a)

    html = client.get(JOBS).content.decode()
    assert failed.key in html and done.key not in html and orphan.key not in html
    assert client.get(reverse("admin:voice_job_change", args=[done.pk])).status_code in (302, 404)


def test_nobody_edits_or_deletes_a_job_in_the_admin(jobs_ab):
    failed, *_ = jobs_ab
    client = logged_in(factories.make_user("root", superuser=True))
    page = client.get(reverse("admin:voice_job_change", args=[failed.pk])).content.decode()
    assert 'name="_save"' not in page
    assert client.post(reverse("admin:voice_job_delete", args=[failed.pk])).status_code == 403
    assert Job.objects.filter(pk=failed.pk).exists()
