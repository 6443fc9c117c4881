"""Leads in the admin: find anyone by name or phone, see their calls, work follow-ups, import and export."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypedDict, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, override
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import CSV, XLSX

from backoffice.admin_calls import duration_text
from backoffice.admin_followups import LeadFollowUpInline
from backoffice.admin_scoping import ScopedAdmin, colleagues_for
from backoffice.admin_timeline import recording_audio_url
from backoffice.forms import AssignOwnerForm, LeadForm
from backoffice.labels import BUSINESS_LABEL, BusinessFilter, SourceFilter, business_column, source_choices
from backoffice.lead_story import change_details, lead_story, with_details
from backoffice.phone_display import isolated_hint, phone_html
from backoffice.resources import (
    LeadConfirmImportForm,
    LeadExportForm,
    LeadImportForm,
    LeadResource,
    import_template_csv,
)
from crm import selectors
from crm.models import Call, Lead, Membership
from crm.phones import normalize_phone
from crm.recordings import playable_recording

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class CallStats(TypedDict):
    """What LeadAdmin.get_queryset annotates on every lead of the list."""

    call_total: int
    last_call_at: datetime | None


class FollowUpFilter(admin.SimpleListFilter):
    title = gettext_lazy("follow-up due")
    parameter_name = "follow_up"

    def lookups(self, request, model_admin):
        return [
            ("overdue", _("Overdue")),
            ("today", _("Today")),
            ("week", _("In the next 7 days")),
            ("none", _("No follow-up set")),
        ]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        match self.value():
            case "overdue":
                return queryset.filter(next_follow_up__lt=today)
            case "today":
                return queryset.filter(next_follow_up=today)
            case "week":
                return queryset.filter(next_follow_up__gte=today, next_follow_up__lt=today + timedelta(days=7))
            case "none":
                return queryset.filter(next_follow_up__isnull=True)
        return queryset


class LeadCallInline(admin.TabularInline):
    """The lead's calls, newest first, each with its outcome and a player; the time opens the call page."""

    model = Call
    fk_name = "lead"
    fields = readonly_fields = ("call_link", "duration", "outcome", "summary_start", "play")
    extra = 0
    can_delete = False
    ordering = ["-started_at"]
    verbose_name = gettext_lazy("call")
    verbose_name_plural = gettext_lazy("calls")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return selectors.calls_for(request.user).prefetch_related("recordings").order_by("-started_at")

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description=gettext_lazy("time"))
    def call_link(self, call: Call) -> str:
        url = reverse("admin:crm_call_change", args=[call.pk])
        return format_html(
            '<a href="{}"><time datetime="{}">{}</time></a>',
            url,
            call.started_at.isoformat(),
            timezone.localtime(call.started_at).strftime("%d/%m/%Y %H:%M"),
        )

    @admin.display(description=gettext_lazy("duration"))
    def duration(self, call: Call) -> str:
        return format_html('<bdi dir="ltr">{}</bdi>', duration_text(call.duration_seconds))

    @admin.display(description=gettext_lazy("summary"))
    def summary_start(self, call: Call) -> str:
        text = call.summary[:120] + ("…" if len(call.summary) > 120 else "")
        return format_html('<span dir="auto">{}</span>', text) if text else "—"

    @admin.display(description=gettext_lazy("recording"))
    def play(self, call: Call) -> str:
        recording = playable_recording(call)
        if recording is None:
            return "—"
        return format_html(
            '<audio class="inline-player" controls preload="none" src="{}" aria-label="{}"></audio>',
            recording_audio_url(recording.pk),
            _("Play the recording"),
        )


@admin.register(Lead)
class LeadAdmin(ImportExportMixin, ScopedAdmin):
    scoped_queryset = staticmethod(selectors.leads_for)
    form = LeadForm
    list_display = [
        "display_name",
        "phone_number",
        "status",
        "owner",
        business_column,
        "follow_up",
        "call_count",
        "last_call",
        "created_at",
    ]
    list_display_links = ["display_name", "phone_number"]
    list_filter = [
        "status",
        FollowUpFilter,
        ("owner", admin.RelatedOnlyFieldListFilter),
        ("business", BusinessFilter),
        SourceFilter,
    ]
    search_fields = ["name", "phone", "interest", "notes"]
    search_help_text = isolated_hint(
        gettext_lazy("Name, phone number in any format (%(local)s, %(international)s), interest or notes."),
        local="050-123 4567",
        international="+972…",
    )
    date_hierarchy = "created_at"
    list_select_related = ["owner", "business"]
    list_per_page = 50
    inlines = [LeadFollowUpInline, LeadCallInline]  # the lead's tasks, then its calls
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "phone", "business", "status", "owner"]}),
        (gettext_lazy("Follow-up"), {"fields": ["next_follow_up", "callback_time", "notes"]}),
        (gettext_lazy("What the caller wants"), {"fields": ["interest", "source"]}),
        (gettext_lazy("Record"), {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]
    actions = ["assign_owner", "assign_to_me"]

    class Media:
        css = {"all": ["crm/admin.css"]}

    # Import / export.
    resource_classes = [LeadResource]
    formats = [CSV, XLSX]
    import_form_class = LeadImportForm
    confirm_form_class = LeadConfirmImportForm
    export_form_class = LeadExportForm
    import_template_name = "admin/crm/lead/import.html"  # errors in the table, the template file's link
    to_encoding = "utf-8-sig"  # a BOM, so Excel reads the CSV as UTF-8 and shows Hebrew, not mojibake
    from_encoding = "utf-8-sig"  # files saved by Excel start with one; plain UTF-8 reads the same

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .select_related("owner", "business")
            .annotate(call_total=Count("calls", distinct=True), last_call_at=Max("calls__started_at"))
        )

    # --- List columns.
    @admin.display(description=gettext_lazy("name"), ordering="name")
    def display_name(self, lead: Lead) -> str:
        return format_html('<span dir="auto">{}</span>', lead.name) if lead.name else "—"

    @admin.display(description=gettext_lazy("phone"), ordering="phone")
    def phone_number(self, lead: Lead) -> str:
        return phone_html(lead.phone)

    @admin.display(description=gettext_lazy("next follow-up"), ordering="next_follow_up")
    def follow_up(self, lead: Lead) -> str:
        if lead.next_follow_up is None:
            return "—"
        today = timezone.localdate()
        state = "overdue" if lead.next_follow_up < today else "today" if lead.next_follow_up == today else "later"
        return format_html(
            '<time class="follow-up follow-up-{}" datetime="{}">{}</time>',
            state,
            lead.next_follow_up.isoformat(),
            lead.next_follow_up.strftime("%d/%m/%Y"),
        )

    @admin.display(description=gettext_lazy("calls"), ordering="call_total")
    def call_count(self, lead: WithAnnotations[Lead, CallStats]) -> int:
        return lead.call_total

    @admin.display(description=gettext_lazy("last call"), ordering="last_call_at")
    def last_call(self, lead: WithAnnotations[Lead, CallStats]) -> str:
        if lead.last_call_at is None:
            return "—"
        return timezone.localtime(lead.last_call_at).strftime("%d/%m/%Y %H:%M")

    # --- Search: phone numbers in any format.
    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        """People type numbers the way they say them ("050-123 4567", "+972 50…", "0097250…"); leads store
        E.164. A full number is normalised; a partial one is matched on its digits without the trunk 0."""
        result, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term and re.fullmatch(r"[\d\s\-+().]+", term):
            phone = normalize_phone(term)
            if phone:
                result |= queryset.filter(phone=phone)
            digits = re.sub(r"\D", "", term)
            if digits.startswith("0") and not digits.startswith("00"):
                digits = digits[1:]  # the trunk 0 of a local number is not in E.164
            if len(digits) >= 3:
                result |= queryset.filter(phone__contains=digits)
        return result, may_have_duplicates

    # --- Forms: choices from the user's businesses, the owner from the lead's business.
    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and "owner" in form.base_fields:
            owner_field = cast(forms.ModelChoiceField, form.base_fields["owner"])
            owner_field.queryset = colleagues_for(request.user, obj.business)
        if "business" in form.base_fields:
            businesses = selectors.businesses_for(request.user)
            cast(forms.ModelChoiceField, form.base_fields["business"]).queryset = businesses
            form.base_fields["business"].label = BUSINESS_LABEL  # the field has no Hebrew name of its own
        if "source" in form.base_fields:  # "phone" is read as "שיחת טלפון"; the stored word stays
            current = obj.source if obj is not None else str(form.base_fields["source"].initial or "")
            form.base_fields["source"].widget = forms.Select(choices=source_choices(current))
            if obj is None and businesses.count() == 1:
                form.base_fields["business"].initial = businesses.first()
        return form

    # --- Bulk actions.
    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if not self.has_change_permission(request):
            return actions
        for status, label in Lead.Status.choices:
            name = f"set_status_{status}"
            description = _("Set status to “%(status)s”") % {"status": label}
            actions[name] = (self._status_action(status), name, description)
        return actions

    @staticmethod
    def _status_action(status: str):
        def action(modeladmin: LeadAdmin, request: HttpRequest, queryset: QuerySet) -> None:
            updated = modeladmin._update_and_log(request, queryset, status=status)
            modeladmin.message_user(
                request,
                ngettext("%(count)d lead is now “%(status)s”.", "%(count)d leads are now “%(status)s”.", updated)
                % {"count": updated, "status": Lead.Status(status).label},
                messages.SUCCESS,
            )

        return action

    @admin.action(description=gettext_lazy("Assign to me"), permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet) -> None:
        user = request.user
        if not user.is_authenticated:  # the admin lets only staff in; this tells the type checker so
            raise PermissionDenied
        mine = queryset.filter(business__in=Membership.objects.filter(user=user).values("business"))
        updated = self._update_and_log(request, mine, owner=user)
        self._report_assignment(request, updated, queryset.count() - updated, user)

    @admin.action(description=gettext_lazy("Assign an owner…"), permissions=["change"])
    def assign_owner(self, request: HttpRequest, queryset: QuerySet):
        """An intermediate page to choose a colleague; leads of businesses they do not work for are kept."""
        User = get_user_model()
        owners = colleagues_for(request.user).filter(
            pk__in=User.objects.filter(memberships__business__in=queryset.values("business")).values("pk")
        )
        if "apply" in request.POST:
            form = AssignOwnerForm(request.POST, owners=owners)
            if form.is_valid():
                owner = form.cleaned_data["owner"]
                target = queryset
                if owner is not None:
                    target = queryset.filter(business__in=Membership.objects.filter(user=owner).values("business"))
                updated = self._update_and_log(request, target, owner=owner)
                self._report_assignment(request, updated, queryset.count() - updated, owner)
                return None
        else:
            form = AssignOwnerForm(owners=owners)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Assign an owner"),
            "opts": self.opts,
            "form": form,
            "leads": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/crm/lead/assign_owner.html", context)

    # --- The lead's story: status and owner changes kept with their old and new values.
    def _update_and_log(self, request: HttpRequest, queryset: QuerySet, **values) -> int:
        """A bulk update, each lead's change in the admin's history as the form's changes are (the story)."""
        before = {lead.pk: lead for lead in queryset.select_related("owner")}
        updated = queryset.update(**values, updated_at=timezone.now())
        with override(None):  # Django keeps field names untranslated in its history, and translates on show
            fields = [str(getattr(Lead._meta.get_field(name), "verbose_name", name)) for name in values]
        for lead in Lead.objects.filter(pk__in=list(before)).select_related("owner"):
            details = change_details(before[lead.pk], lead, old_notes=lead.notes)
            if details:
                self.log_change(request, lead, with_details([{"changed": {"fields": fields}}], details))
        return updated

    def construct_change_message(self, request: HttpRequest, form, formsets, add: bool = False):
        message = super().construct_change_message(request, form, formsets, add)
        if add:
            return message
        before = Lead(status=form.initial.get("status"), owner_id=form.initial.get("owner"))
        details = change_details(before, form.instance, old_notes=form.initial.get("notes") or "")
        return with_details(message, details)

    def render_change_form(self, request: HttpRequest, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk is not None:
            context["story"] = lead_story(obj, request.user)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _report_assignment(self, request: HttpRequest, updated: int, skipped: int, owner) -> None:
        who = str(owner) if owner else _("nobody")
        self.message_user(
            request,
            ngettext("%(count)d lead assigned to %(owner)s.", "%(count)d leads assigned to %(owner)s.", updated)
            % {"count": updated, "owner": who},
            messages.SUCCESS,
        )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d lead was left as it was: %(owner)s does not work for its business.",
                    "%(count)d leads were left as they were: %(owner)s does not work for their business.",
                    skipped,
                )
                % {"count": skipped, "owner": who},
                messages.WARNING,
            )

    # --- Import: into one of the user's businesses, chosen on the form and carried to the confirm step.
    def has_import_permission(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_import_form_kwargs(self, request: HttpRequest):
        return {
            **super().get_import_form_kwargs(request),
            "businesses": selectors.businesses_for(request.user),
        }

    def get_confirm_form_kwargs(self, request: HttpRequest, import_form=None):
        kwargs = super().get_confirm_form_kwargs(request, import_form)
        return {**kwargs, "businesses": selectors.businesses_for(request.user)}

    def get_confirm_form_initial(self, request: HttpRequest, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["business"] = import_form.cleaned_data["business"].pk
        return initial

    def get_import_resource_kwargs(self, request: HttpRequest, **kwargs):
        form = kwargs.get("form")
        business = None
        if form is not None and form.is_bound and form.is_valid():
            business = form.cleaned_data.get("business")
        return {**super().get_import_resource_kwargs(request, **kwargs), "business": business}

    def get_urls(self):
        template = path(
            "import/template/",
            self.admin_site.admin_view(self.import_template_view),
            name="crm_lead_import_template",
        )
        return [template, *super().get_urls()]

    def import_template_view(self, request: HttpRequest) -> HttpResponse:
        """A CSV to fill in: the import's columns in the user's language and one example lead."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        response = HttpResponse(import_template_csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="leads-import-template.csv"'
        return response
