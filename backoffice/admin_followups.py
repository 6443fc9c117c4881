"""Follow-up tasks in the admin: "my follow-ups" for the sales user, one click to close a task with what came
of it, and the lead's tasks on its page beside its calls.

Scoped like every admin page of ours: a staff member sees and works the tasks of their businesses (another
business's task is not found, 404), whoever they are assigned to; the list opens on their own open tasks.
The staff groups carry only crm permissions, so the permission here is membership itself: anyone who works
for a business may view, add and close its tasks; only superusers delete them.

The front page (templates/admin/index.html) shows the user's overdue, today's and upcoming tasks first, and
the header counts those due (backoffice/templatetags/followups_admin.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from backoffice.admin_scoping import ScopedAdmin, colleagues_for
from backoffice.phone_display import phone_html
from crm import selectors
from crm.models import Call, Lead, Membership
from followup.follow_ups import NotOpen, choose_assignee, mark_done
from followup.models import FollowUp

User = get_user_model()

CALL_BACK_TEMPLATE = "backoffice/includes/call_back_button.html"
OUTCOME_REQUIRED = "כתבו בקצרה מה יצא מזה (למשל: ״דיברנו, נקבעה פגישה ליום שלישי״). המשימה לא נסגרה."
ASSIGNEE_ELSEWHERE = "%(user)s אינו/ה עובד/ת בעסק של הליד הזה."


# -- reads -----------------------------------------------------------------------------------------------------
def follow_ups_for(user: selectors.User) -> QuerySet[FollowUp]:
    """The tasks of the user's businesses (all of them for superusers)."""
    return FollowUp.objects.filter(business__in=selectors.businesses_for(user))


def my_open_follow_ups(user: selectors.User) -> QuerySet[FollowUp]:
    """The user's own open tasks, soonest first."""
    if not user.is_authenticated:
        return FollowUp.objects.none()
    return (
        follow_ups_for(user)
        .filter(assignee_id=user.pk, state=FollowUp.State.OPEN)
        .select_related("lead", "business")
        .order_by("due_at")
    )


def today_bounds(now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """Start of today and of tomorrow on the site's clock."""
    local = timezone.localtime(now)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + dt.timedelta(days=1)


def due_state(follow_up: FollowUp, now: dt.datetime | None = None) -> str:
    """ "overdue", "today" or "upcoming" (closed tasks: their state)."""
    if follow_up.state != FollowUp.State.OPEN:
        return follow_up.state
    now = now or timezone.now()
    if follow_up.due_at < now:
        return "overdue"
    return "today" if follow_up.due_at < today_bounds(now)[1] else "upcoming"


def call_back_enabled() -> bool:
    """The "call back" button can be shown: its template and its view are both in place."""
    try:
        get_template(CALL_BACK_TEMPLATE)
        reverse("crm_lead_call_back", args=[1])
    except (TemplateDoesNotExist, NoReverseMatch):
        return False
    return True


def works_for_a_business(user: Any) -> bool:
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    return bool(user.is_superuser or Membership.objects.filter(user_id=user.pk).exists())


class MemberPermissions:
    """Anyone who works for a business may view, add and change its tasks (rows are scoped elsewhere)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return works_for_a_business(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return works_for_a_business(request.user)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return works_for_a_business(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return works_for_a_business(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)


# -- forms -----------------------------------------------------------------------------------------------------
class DoneForm(forms.Form):
    outcome = forms.CharField(
        label="מה יצא מזה?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "dir": "auto"}),
        error_messages={"required": OUTCOME_REQUIRED},
    )

    def clean_outcome(self) -> str:
        outcome = self.cleaned_data["outcome"].strip()
        if not outcome:
            raise forms.ValidationError(OUTCOME_REQUIRED)
        return outcome


class FollowUpForm(forms.ModelForm):
    """A task added or edited by hand: its business is its lead's, its assignee must work there, nobody
    chosen means the usual rules (owner, else whose turn it is); a new due time is reminded again."""

    class Meta:
        model = FollowUp
        fields = ["lead", "due_at", "assignee", "note"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        lead, assignee = data.get("lead") or self._lead(), data.get("assignee")
        if lead is not None and assignee is not None and not self._works_for(assignee, lead):
            self.add_error("assignee", ASSIGNEE_ELSEWHERE % {"user": assignee})
        return data

    @staticmethod
    def _works_for(user: Any, lead: Lead) -> bool:
        return Membership.objects.filter(user=user, business_id=lead.business_id).exists()

    def _lead(self) -> Lead | None:
        return self.instance.lead if self.instance.lead_id else None

    def save(self, commit: bool = True) -> FollowUp:
        follow_up = self.instance
        lead = follow_up.lead
        if follow_up.pk is None:
            follow_up.business_id = lead.business_id
            follow_up.source = FollowUp.Source.MANUAL
            if follow_up.assignee_id is None:
                follow_up.assignee = choose_assignee(lead.business, lead)
        elif "due_at" in self.changed_data:
            follow_up.reminded_at = None  # reminded again at the new time
        return cast(FollowUp, super().save(commit))


# -- the lead page ---------------------------------------------------------------------------------------------
class TasksUntouchedFormSet(BaseInlineFormSet):
    """A lead saved without the task rows (a POST made before tasks were on the page, or by a script that
    sends the lead's own fields) leaves its tasks as they are, instead of failing on the missing rows."""

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        prefix = kwargs.get("prefix") or self.get_default_prefix()
        if data is not None and f"{prefix}-TOTAL_FORMS" not in data:
            data = data.copy()
            data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
        super().__init__(data, *args, **kwargs)


class LeadFollowUpInline(MemberPermissions, admin.TabularInline):
    """The lead's tasks on its page, beside its calls; a row added here is a task added by hand."""

    model = FollowUp
    fk_name = "lead"
    form = FollowUpForm
    formset = TasksUntouchedFormSet
    fields = ["due_at", "assignee", "note", "source", "task_state", "close"]
    readonly_fields = ["source", "task_state", "close"]
    extra = 0
    can_delete = False
    ordering = ["-due_at"]
    verbose_name = "משימת מעקב"
    verbose_name_plural = "משימות מעקב"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return follow_ups_for(request.user).select_related("assignee").order_by("-due_at")

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.related_model is User:
            kwargs["queryset"] = colleagues_for(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="מצב")
    def task_state(self, follow_up: FollowUp) -> str:
        return state_html(follow_up) if follow_up.pk else "—"

    @admin.display(description="")
    def close(self, follow_up: FollowUp) -> str:
        return done_link(follow_up) if follow_up.pk else ""


def state_html(follow_up: FollowUp) -> str:
    state = due_state(follow_up)
    labels = {"overdue": "באיחור", "today": "היום", "upcoming": "פתוחה"}
    label = labels.get(state) or follow_up.get_state_display()
    return format_html('<span class="follow-up follow-up-{}">{}</span>', state, label)


def done_link(follow_up: FollowUp) -> str:
    if follow_up.state != FollowUp.State.OPEN:
        return follow_up.outcome[:80] or "—"
    url = reverse("admin:followup_followup_done", args=[follow_up.pk])
    return format_html('<a class="button follow-up-done-link" href="{}">סימון כבוצע</a>', url)


# -- filters ---------------------------------------------------------------------------------------------------
class DefaultChoiceFilter(admin.SimpleListFilter):
    """A filter whose first choice is what the list shows with no parameter (``default_label``)."""

    default_label = ""

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": self.default_label,
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class AssigneeFilter(DefaultChoiceFilter):
    title = "באחריות"
    parameter_name = "who"
    default_label = "שלי"

    def lookups(self, request, model_admin):
        return [("all", "של כולם"), ("nobody", "ללא אחראי")]

    def queryset(self, request, queryset):
        match self.value():
            case "all":
                return queryset
            case "nobody":
                return queryset.filter(assignee__isnull=True)
        return queryset.filter(assignee_id=request.user.pk)


class StateFilter(DefaultChoiceFilter):
    title = "מצב"
    parameter_name = "state"
    default_label = "פתוחות"

    def lookups(self, request, model_admin):
        return [("done", "בוצעו"), ("missed", "הוחמצו"), ("any", "הכול")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "any":
            return queryset
        if value in (FollowUp.State.DONE, FollowUp.State.MISSED):
            return queryset.filter(state=value)
        return queryset.filter(state=FollowUp.State.OPEN)


class DueFilter(admin.SimpleListFilter):
    title = "מועד"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("overdue", "באיחור"), ("today", "היום"), ("upcoming", "בהמשך")]

    def queryset(self, request, queryset):
        now = timezone.now()
        start, end = today_bounds(now)
        match self.value():
            case "overdue":
                return queryset.filter(due_at__lt=now)
            case "today":
                return queryset.filter(due_at__gte=start, due_at__lt=end)
            case "upcoming":
                return queryset.filter(due_at__gte=end)
        return queryset


# -- the task list and its pages -------------------------------------------------------------------------------
@admin.register(FollowUp)
class FollowUpAdmin(MemberPermissions, ScopedAdmin):
    scoped_queryset = staticmethod(follow_ups_for)
    form = FollowUpForm
    list_display = ["due", "lead_name", "lead_phone", "source", "note_start", "assignee", "task_state", "close"]
    list_display_links = ["due"]
    list_filter = [AssigneeFilter, StateFilter, DueFilter, "source"]
    list_select_related = ["lead", "assignee", "business"]
    search_fields = ["lead__name", "lead__phone", "note", "outcome"]
    ordering = ["due_at"]
    list_per_page = 50
    autocomplete_fields = ["lead"]
    actions = None

    class Media:
        css = {"all": ["crm/admin.css"]}

    def get_fields(self, request: HttpRequest, obj: FollowUp | None = None):
        if obj is None:
            return ["lead", "due_at", "assignee", "note"]
        return ["lead", "due_at", "assignee", "note", "source", "task_state", "outcome", "done_at", "call_link"]

    def get_readonly_fields(self, request: HttpRequest, obj: FollowUp | None = None):
        if obj is None:
            return []
        closed = obj.state != FollowUp.State.OPEN
        return ["lead", "source", "task_state", "outcome", "done_at", "call_link", *(["due_at"] if closed else [])]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial: dict[str, Any] = dict(super().get_changeform_initial_data(request))
        initial.setdefault("due_at", timezone.localtime().replace(second=0, microsecond=0))
        return initial

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.related_model is Lead:
            kwargs["queryset"] = selectors.leads_for(request.user)
        elif db_field.related_model is Call:
            kwargs["queryset"] = selectors.calls_for(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # --- Columns.
    @admin.display(description="מועד", ordering="due_at")
    def due(self, follow_up: FollowUp) -> str:
        local = timezone.localtime(follow_up.due_at)
        return format_html(
            '<time class="follow-up follow-up-{}" datetime="{}">{}</time>',
            due_state(follow_up),
            follow_up.due_at.isoformat(),
            local.strftime("%d/%m/%Y %H:%M"),
        )

    @admin.display(description="ליד", ordering="lead__name")
    def lead_name(self, follow_up: FollowUp) -> str:
        url = reverse("admin:crm_lead_change", args=[follow_up.lead_id])
        return format_html('<a href="{}" dir="auto">{}</a>', url, follow_up.lead.name or "ללא שם")

    @admin.display(description="טלפון")
    def lead_phone(self, follow_up: FollowUp) -> str:
        return phone_html(follow_up.lead.phone)

    @admin.display(description="מה לעשות")
    def note_start(self, follow_up: FollowUp) -> str:
        text = follow_up.note[:100] + ("…" if len(follow_up.note) > 100 else "")
        return format_html('<span dir="auto">{}</span>', text) if text else "—"

    @admin.display(description="מצב", ordering="state")
    def task_state(self, follow_up: FollowUp) -> str:
        return state_html(follow_up)

    @admin.display(description="")
    def close(self, follow_up: FollowUp) -> str:
        return done_link(follow_up)

    @admin.display(description="שיחה")
    def call_link(self, follow_up: FollowUp) -> str:
        if follow_up.call_id is None:
            return "—"
        url = reverse("admin:crm_call_change", args=[follow_up.call_id])
        return format_html('<a href="{}">לדף השיחה</a>', url)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None):
        extra = {"title": "המשימות שלי", **(extra_context or {})}
        return super().changelist_view(request, extra)

    # --- Done, with what came of it.
    def get_urls(self):
        done = path(
            "<int:object_id>/done/",
            self.admin_site.admin_view(self.done_view),
            name="followup_followup_done",
        )
        return [done, *super().get_urls()]

    def done_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """GET: the task and a box for its outcome. POST: close it (an empty outcome is refused, and a task
        closed already stays as it was). Another business's task is not found."""
        follow_up = self.get_queryset(request).select_related("lead", "assignee").filter(pk=object_id).first()
        if follow_up is None:
            raise Http404("no such follow-up")
        if not self.has_change_permission(request, follow_up):
            raise PermissionDenied
        form = DoneForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                mark_done(follow_up.pk, form.cleaned_data["outcome"], request.user)
            except NotOpen:
                messages.warning(request, "המשימה כבר נסגרה קודם. לא שונה דבר.")
            else:
                messages.success(request, f"המשימה של {follow_up.lead} סומנה כבוצעה.")
            return HttpResponseRedirect(self._next_url(request))
        context = {
            **self.admin_site.each_context(request),
            "title": "סימון משימה כבוצעה",
            "opts": self.opts,
            "follow_up": follow_up,
            "due_state": due_state(follow_up),
            "form": form,
            "next": self._next_url(request),
            "call_back_enabled": call_back_enabled(),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "backoffice/followups/done.html", context)

    def _next_url(self, request: HttpRequest) -> str:
        target = request.POST.get("next") or request.GET.get("next") or ""
        if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
            return target
        return reverse("admin:followup_followup_changelist")
