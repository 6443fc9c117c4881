"""Admin registrations. Every queryset is scoped to the businesses the staff user belongs to."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from crm import selectors
from crm.models import Business, Call, CallEvent, Lead, Membership, PhoneNumber, Recording, Utterance


class PhoneNumberInline(admin.TabularInline):
    model = PhoneNumber
    extra = 0


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Business)
class BusinessAdmin(admin.ModelAdmin):
    list_display = ["name", "agent_mode", "agent_enabled", "language", "is_default"]
    list_filter = ["agent_mode", "agent_enabled", "language"]
    search_fields = ["name", "phone_numbers__number"]
    inlines = [PhoneNumberInline, MembershipInline]

    def get_queryset(self, request: HttpRequest):
        return selectors.businesses_for(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Business | None = None) -> bool:
        if obj is not None and not selectors.owned_businesses_for(request.user).filter(pk=obj.pk).exists():
            return False
        return super().has_change_permission(request, obj)


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["phone", "name", "status", "owner", "next_follow_up", "created_at"]
    list_filter = ["status", "business", "owner", "next_follow_up"]
    search_fields = ["name", "phone", "notes", "interest"]
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest):
        return selectors.leads_for(request.user).select_related("owner", "business")


class UtteranceInline(admin.TabularInline):
    model = Utterance
    extra = 0
    fields = ["speaker", "text", "start_ms", "end_ms", "interrupted", "heard_text"]
    readonly_fields = fields
    can_delete = False


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = [
        "call_sid",
        "from_number",
        "to_number",
        "status",
        "outcome",
        "duration_seconds",
        "started_at",
    ]
    list_filter = ["status", "outcome", "business", "agent_mode"]
    search_fields = ["call_sid", "from_number", "to_number", "lead__name"]
    date_hierarchy = "started_at"
    inlines = [UtteranceInline]

    def get_queryset(self, request: HttpRequest):
        return selectors.calls_for(request.user).select_related("lead", "business")


@admin.register(CallEvent)
class CallEventAdmin(admin.ModelAdmin):
    list_display = ["call", "kind", "offset_ms", "created_at"]
    list_filter = ["kind"]
    search_fields = ["call__call_sid"]
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest):
        return selectors.events_for(request.user).select_related("call")


@admin.register(Utterance)
class UtteranceAdmin(admin.ModelAdmin):
    list_display = ["call", "speaker", "text", "start_ms", "interrupted"]
    list_filter = ["speaker", "interrupted"]
    search_fields = ["text", "call__call_sid"]

    def get_queryset(self, request: HttpRequest):
        return selectors.utterances_for(request.user).select_related("call")


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ["call", "kind", "source", "status", "duration_seconds", "created_at"]
    list_filter = ["kind", "status", "source"]
    search_fields = ["recording_sid", "call__call_sid", "transcript"]
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest):
        return selectors.recordings_for(request.user).select_related("call")
