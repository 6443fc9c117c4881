"""Calls in the admin: a list to browse, and per call a page that tells the whole story (the timeline)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import Truncator, capfirst
from django.utils.translation import gettext_lazy as _

from backoffice import call_inbox
from backoffice.admin_scoping import ScopedAdmin
from backoffice.admin_timeline import build_timeline, recording_audio_url
from backoffice.labels import BusinessFilter, business_column
from backoffice.phone_display import phone_html, phone_text, route_html
from crm import selectors
from crm.models import Call, CallEvent, Recording, Utterance
from crm.phones import normalize_phone
from crm.recordings import playable_recording

SUMMARY_CHARS = 140  # two or three lines of the inbox; the call page has the whole summary


def duration_text(seconds: int | float | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def when_html(started_at: dt.datetime, now: dt.datetime | None = None) -> str:
    """When a call came, as staff say it, the day over the time: "today 13:05", "yesterday 09:12", else the
    date (the year only when it is not this one). Local time."""
    local = timezone.localtime(started_at)
    today = timezone.localdate(now)
    if local.date() == today:
        day = format_html("{}", _("today"))
    elif local.date() == today - dt.timedelta(days=1):
        day = format_html("{}", _("yesterday"))
    else:
        shown = f"{local:%d/%m}" if local.year == today.year else f"{local:%d/%m/%Y}"
        day = format_html('<bdi dir="ltr">{}</bdi>', shown)
    return format_html(
        '<time class="inbox-when" datetime="{}"><span class="day">{}</span> <bdi dir="ltr">{}</bdi></time>',
        local.isoformat(),
        day,
        f"{local:%H:%M}",
    )


class ReadOnlyAdmin(ScopedAdmin):
    """Calls and what happened in them are facts written by the voice app; nobody edits them here."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class InboxChangeList(ChangeList):
    """The calls that still need follow-up first, then the newest, unless the user sorts by a column.

    The default order names an annotation of the inbox's own queryset, so it lives here and not in the admin's
    ``ordering``/``get_ordering``: Django also orders other pages' choices of calls by those (a job's call,
    on the plain, unannotated table)."""

    def _get_default_ordering(self) -> list[str]:
        return ["-needs_follow_up", "-started_at"]


@admin.register(Call)
class CallAdmin(ReadOnlyAdmin):
    """The calls inbox: who called, when, for how long, what came of it, its tags, how fast the agent first
    answered, and a player, the calls that still need follow-up first (backoffice/call_inbox.py)."""

    scoped_queryset = staticmethod(call_inbox.inbox_for)
    list_display = ["caller", "when", "duration", "story", business_column, "first_reply", "player"]
    list_display_links = ["caller"]
    list_filter = [
        "outcome",
        ("started_at", admin.DateFieldListFilter),
        ("business", BusinessFilter),
    ]
    search_fields = ["call_sid", "from_number", "to_number", "lead__name", "summary"]
    search_help_text = _(
        "Name, phone number in any format, CallSid, words from the summary or words the caller or the agent said."
    )
    date_hierarchy = "started_at"
    list_select_related = ["lead", "business"]
    list_per_page = 50
    timeline_template = "admin/crm/call/timeline.html"

    class Media:
        css = {"all": ["crm/admin.css", "crm/inbox.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("lead", "business").prefetch_related("recordings")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return InboxChangeList

    def get_list_display(self, request: HttpRequest):
        """The business column only for people who work for more than one business."""
        if selectors.businesses_for(request.user).count() > 1:
            return self.list_display
        return [column for column in self.list_display if column is not business_column]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        """Titled "Calls", not Django's "Select call to view": an inbox to work through."""
        return super().changelist_view(
            request, {"title": capfirst(self.opts.verbose_name_plural), **(extra_context or {})}
        )

    def get_urls(self):
        from backoffice.live_views import live_urls  # the live pages (calls in progress), before the catch-all URLs

        return live_urls(self) + super().get_urls()

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        """Django's search over ``search_fields``, plus the caller's number typed in any format and the words
        of the transcripts (full-text on PostgreSQL). All within ``queryset``: the user's calls, filtered."""
        result, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if not search_term.strip():
            return result, may_have_duplicates
        also = call_inbox.transcript_matches(search_term, queryset)
        if phone := normalize_phone(search_term):
            also |= Q(from_number=phone)
        return result | queryset.filter(also), may_have_duplicates

    @admin.display(description=_("caller"), ordering="lead__name")
    def caller(self, call: Call) -> str:
        """The lead's name over the number, or the number alone."""
        name = call.lead.name if call.lead is not None else ""
        if not name:
            return phone_html(call.from_number)
        return format_html(
            '<span class="inbox-caller"><bdi class="caller-name" dir="auto">{}</bdi> {}</span>',
            name,
            phone_html(call.from_number),
        )

    @admin.display(description=_("when"), ordering="started_at")
    def when(self, call: Call) -> str:
        return when_html(call.started_at)

    @admin.display(description=_("duration"), ordering="duration_seconds")
    def duration(self, call: Call) -> str:
        return format_html('<bdi dir="ltr">{}</bdi>', duration_text(call.duration_seconds))

    @admin.display(description=_("what happened"), ordering="outcome")
    def story(self, call: Call) -> str:
        """The outcome, the tags, then the start of the summary (the whole summary is on the call page)."""
        chips = [
            format_html('<span class="tag tag-{}">{}</span>', tag.name, tag.label) for tag in call_inbox.tags_of(call)
        ]
        if getattr(call, "needs_follow_up", False):
            label = call_inbox.NEEDS_FOLLOW_UP_LABEL
            chips.insert(0, format_html('<span class="tag needs-follow-up">{}</span>', label))
        summary = Truncator(call.summary).chars(SUMMARY_CHARS) if call.summary else ""
        return format_html(
            '<div class="inbox-story"><span class="outcome outcome-{}">{}</span>{}{}</div>',
            call.outcome or "none",
            call.get_outcome_display(),
            format_html('<span class="tags">{}</span>', mark_safe("".join(chips))) if chips else "",
            format_html('<p class="summary" dir="auto">{}</p>', summary) if summary else "",
        )

    @admin.display(description=_("first reply"))
    def first_reply(self, call: Call) -> str:
        """How long the caller waited for the agent's first answer; slow when a filler had to cover the wait."""
        ms = call_inbox.first_reply_ms(call)
        if ms is None:
            return mark_safe('<span class="none">—</span>')
        slow = " slow" if ms > settings.VOICE_FIRST_RESPONSE_DEADLINE_MS else ""
        return format_html(
            '<span class="first-reply{}" title="{}">'
            '<span class="inbox-label">{}:</span> <bdi dir="ltr">{}</bdi> {}</span>',
            slow,
            _("From the end of the caller's first words to the first sound of the agent's reply"),
            _("first reply"),
            f"{ms / 1000:.1f}",
            _("sec."),
        )

    @admin.display(description=_("recording"))
    def player(self, call: Call) -> str:
        """A player for the call's recording (fetched only when played), or a quiet "—": most calls have none,
        and that is no error (a red ✗ read as one)."""
        recording = playable_recording(call)
        if recording is None:
            return format_html('<span class="no-recording" title="{}">—</span>', _("No recording"))
        url = recording_audio_url(recording.pk)
        label = _("Listen to the recording")
        # The link inside <audio> is for browsers that cannot play it.
        return format_html(
            '<audio class="inbox-player" controls preload="none" src="{}" aria-label="{}">'
            '<a class="play-recording" href="{}" title="{}">▶</a></audio>',
            url,
            label,
            url,
            label,
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
    # The player next to the call it plays, where a narrow window still shows it; the source is a filter.
    list_display = ["call_route", "player", "kind", "status", "duration_seconds", "created"]
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

    @admin.display(description=_("when"), ordering="created_at")
    def created(self, recording: Recording) -> str:
        return when_html(recording.created_at)

    @admin.display(description=_("listen"))
    def player(self, recording: Recording) -> str:
        if not recording.file:
            return "—"
        return format_html(
            '<audio controls preload="none" src="{}" class="inline-player"></audio>',
            recording_audio_url(recording.pk),
        )
