"""Background jobs in the admin: the durable state of every Celery job (voice.models.Job), read-only.

Who sees it: superusers (the operators), who see every job. The staff groups (crm/staff_groups.py) carry no
permission on jobs: a job's last error is an operator's matter (provider hosts, HTTP codes, stack details),
and what a failure means for a call is already on that call's timeline as an error event. A staff user given
``voice.view_job`` by hand still sees only the jobs of their own businesses' calls (never the call-less ones).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from backoffice.admin_calls import ReadOnlyAdmin
from crm import selectors
from voice.models import Job


def jobs_for(user: selectors.User) -> QuerySet[Job]:
    if not user.is_authenticated or not user.is_active:
        return Job.objects.none()
    if user.is_superuser:
        return Job.objects.all()
    return Job.objects.filter(call__business__in=selectors.businesses_for(user))


class TaskFilter(admin.SimpleListFilter):
    """The tasks by their short name (voice.tasks.after_call → after_call)."""

    title = _("task")
    parameter_name = "task"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        names = model_admin.get_queryset(request).order_by("task").values_list("task", flat=True).distinct()
        return [(name, name.rsplit(".", 1)[-1]) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(task=self.value()) if self.value() else queryset


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    scoped_queryset = staticmethod(jobs_for)
    list_display = ["task_name", "key", "status", "attempts", "requeues", "error", "call_link", "updated_at"]
    list_filter = ["status", TaskFilter]
    search_fields = ["key", "last_error", "call__call_sid"]
    date_hierarchy = "created_at"
    list_select_related = ["call"]
    ordering = ["-updated_at"]
    list_per_page = 100

    def has_delete_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False  # the history of a job is evidence; rows go with their call

    @admin.display(description=_("task"), ordering="task")
    def task_name(self, job: Job) -> str:
        return job.task.rsplit(".", 1)[-1]

    @admin.display(description=_("last error"), ordering="last_error")
    def error(self, job: Job) -> str:
        return Truncator(job.last_error).chars(120) if job.last_error else "—"

    @admin.display(description=_("call"), ordering="call")
    def call_link(self, job: Job) -> str:
        if job.call_id is None:
            return "—"
        url = reverse("admin:crm_call_change", args=[job.call_id])
        return format_html('<a href="{}" dir="ltr">{}</a>', url, job.call.call_sid if job.call else job.call_id)
