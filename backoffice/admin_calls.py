"""Calls in the admin: a list to browse, and per call a page that tells the whole story (the timeline)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from backoffice.admin_scoping import ScopedAdmin
from backoffice.admin_timeline import build_timeline, recording_audio_url
from backoffice.labels import BusinessFilter, business_column
from backoffice.phone_display import phone_html, phone_text, route_html
from crm import selectors
from crm.models import Call, CallEvent, Recording, Utterance
from crm.phones import normalize_phone
from crm.recordings import playable_recording


def duration_text(seconds: int | float | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


class ReadOnlyAdmin(ScopedAdmin):
    """Calls and what happened in them are facts written by the voice app; nobody edits them here."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Call)
class CallAdmin(ReadOnlyAdmin):
    scoped_queryset = staticmethod(selectors.calls_for)
    list_display = ["started_at", "caller", "lead_link", business_column, "outcome", "duration", "has_recording"]
    list_display_links = ["started_at"]
    list_filter = [
        "outcome",
        "status",
        ("business", BusinessFilter),
        "agent_mode",
    ]
    search_fields = ["call_sid", "from_number", "to_number", "lead__name", "summary"]
    search_help_text = _("Name, phone number in any format, CallSid or words from the summary.")
    date_hierarchy = "started_at"
    list_select_related = ["lead", "business"]
    list_per_page = 50
    timeline_template = "admin/crm/call/timeline.html"

    class Media:
        css = {"all": ["crm/admin.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("lead", "business").prefetch_related("recordings")

    def get_urls(self):
        from backoffice.live_views import live_urls  # the live pages (calls in progress), before the catch-all URLs

        return live_urls(self) + super().get_urls()

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        phone = normalize_phone(search_term)
        if phone:
            queryset |= self.get_queryset(request).filter(from_number=phone)
        return queryset, may_have_duplicates

    @admin.display(description=_("caller"), ordering="from_number")
    def caller(self, call: Call) -> str:
        return phone_html(call.from_number)

    @admin.display(description=_("lead"), ordering="lead__name")
    def lead_link(self, call: Call) -> str:
        if call.lead is None:
            return "—"
        url = reverse("admin:crm_lead_change", args=[call.lead.pk])
        if call.lead.name:
            return format_html('<a href="{}" dir="auto">{}</a>', url, call.lead.name)
        return format_html('<a href="{}">{}</a>', url, phone_html(call.lead.phone))

    @admin.display(description=_("duration"), ordering="duration_seconds")
    def duration(self, call: Call) -> str:
        return duration_text(call.duration_seconds)

    @admin.display(description=_("recording"))
    def has_recording(self, call: Call) -> str:
        """A ▶ that plays the call's recording, or a quiet "—": most calls have none, and that is no error
        (a red ✗ read as one)."""
        recording = playable_recording(call)
        if recording is None:
            return format_html('<span class="no-recording" title="{}">—</span>', "אין הקלטה")
        return format_html(
            '<a class="play-recording" href="{}" title="{}" aria-label="{}">▶</a>',
            recording_audio_url(recording.pk),
            "האזנה להקלטה",
            "האזנה להקלטה",
        )

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        """The call page is the timeline, not a form: calls are read, never edited."""
        call = self.get_object(request, unquote(object_id))
        if call is None:  # not in this user's businesses, or no such call: the same answer
            raise Http404(_("No such call."))
        if not self.has_view_permission(request, call):
            raise PermissionDenied
        return self.timeline_view(request, call)

    def timeline_view(self, request: HttpRequest, call: Call) -> HttpResponse:
        call = (
            selectors.calls_for(request.user)
            .select_related("lead", "business")
            .prefetch_related("events", "utterances", "recordings")
            .get(pk=call.pk)
        )
        recording = playable_recording(call)
        other_calls = []
        if call.lead_id:
            other_calls = list(selectors.calls_for(request.user).filter(lead_id=call.lead_id).exclude(pk=call.pk)[:20])
        context = {
            **self.admin_site.each_context(request),
            "title": _("Call from %(caller)s") % {"caller": phone_text(call.from_number)},
            "opts": self.opts,
            "call": call,
            "duration": duration_text(call.duration_seconds),
            "timeline": build_timeline(call),
            "recording": recording,
            "recording_url": recording_audio_url(recording.pk) if recording else "",
            "recordings": [(r, recording_audio_url(r.pk)) for r in call.recordings.all() if r.file and r != recording],
            "other_calls": [(c, duration_text(c.duration_seconds)) for c in other_calls],
            "has_view_permission": True,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.timeline_template, context)


@admin.register(CallEvent)
class CallEventAdmin(ReadOnlyAdmin):
    scoped_queryset = staticmethod(selectors.events_for)
    list_display = ["call", "kind", "offset_ms", "created_at"]
    list_filter = ["kind"]
    search_fields = ["call__call_sid"]
    date_hierarchy = "created_at"
    list_select_related = ["call"]


@admin.register(Utterance)
class UtteranceAdmin(ReadOnlyAdmin):
    scoped_queryset = staticmethod(selectors.utterances_for)
    list_display = ["call", "speaker", "text", "start_ms", "interrupted"]
    list_filter = ["speaker", "interrupted"]
    search_fields = ["text", "call__call_sid"]
    list_select_related = ["call"]


@admin.register(Recording)
class RecordingAdmin(ReadOnlyAdmin):
    scoped_queryset = staticmethod(selectors.recordings_for)
    list_display = ["call_route", "kind", "source", "status", "duration_seconds", "player", "created_at"]
    list_display_links = ["call_route"]
    list_filter = ["kind", "status", "source"]
    search_fields = ["recording_sid", "call__call_sid", "transcript"]
    date_hierarchy = "created_at"
    list_select_related = ["call"]

    class Media:
        css = {"all": ["crm/admin.css"]}

    @admin.display(description=_("call"), ordering="call__started_at")
    def call_route(self, recording: Recording) -> str:
        """The call's two numbers as people dial them, caller first in the reading direction."""
        return route_html(recording.call.from_number, recording.call.to_number)

    @admin.display(description=_("listen"))
    def player(self, recording: Recording) -> str:
        if not recording.file:
            return "—"
        return format_html(
            '<audio controls preload="none" src="{}" class="inline-player"></audio>',
            recording_audio_url(recording.pk),
        )
