"""Business settings: what the agent says and how it listens. Owners edit them; sales staff only look."""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import async_to_sync
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from backoffice.admin_scoping import ScopedAdmin
from backoffice.business_hours_form import CLOSED_DATES_FIELD, HOURS_FIELDS
from backoffice.forms import MAX_GREETING_CHARS, BusinessForm, PhoneNumberForm
from backoffice.labels import STAFF_MEMBER_LABEL
from backoffice.line_check import line_check_urls
from backoffice.membership_form import MembershipForm
from backoffice.phone_display import phone_html
from crm import selectors
from crm.models import Business, Membership, PhoneNumber
from crm.opening_hours import WEEKDAY_LABELS, WEEKDAYS, format_ranges
from crm.staff_groups import sync_staff_groups

logger = logging.getLogger(__name__)

# The groups created by migration 0003_groups; a membership puts its user in the matching one.
PREVIEW_TIMEOUT_S = 20.0


def owns(request: HttpRequest, business: Business | None) -> bool:
    return business is None or selectors.owned_businesses_for(request.user).filter(pk=business.pk).exists()


class OwnerEditableInline(admin.TabularInline):
    """Rows that belong to a business: editable by its owners, visible to the rest of its staff."""

    extra = 0

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_add_permission(request, obj) and owns(request, obj)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_change_permission(request, obj) and owns(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and owns(request, obj)


class PhoneNumberInline(OwnerEditableInline):
    model = PhoneNumber
    form = PhoneNumberForm
    verbose_name_plural = _("phone numbers that reach the agent")
    readonly_fields = ["shown_number"]

    def get_fields(self, request: HttpRequest, obj=None) -> tuple[str, ...]:
        """Owners edit the number; the rest of the staff read it the way it is dialled (a read-only field
        would show the raw E.164, which right-to-left turns into "97233763805+")."""
        if self.has_change_permission(request, obj):
            return ("number", "label")
        return ("shown_number", "label")

    @admin.display(description=_("number"))
    def shown_number(self, phone_number: PhoneNumber) -> str:
        return phone_html(phone_number.number)


class MembershipInline(admin.TabularInline):
    """Who works here. Accounts are created by a superuser, who also assigns them; owners see the list."""

    model = Membership
    form = MembershipForm  # the phone for "transfer to me", validated and stored in E.164
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["shown_phone", "staff_member"]

    def get_fields(self, request: HttpRequest, obj=None) -> tuple[str, ...]:
        """Owners read the transfer phone the way it is dialled, not as raw E.164 turned around by RTL."""
        fields = tuple(str(name) for name in super().get_fields(request, obj) if name not in self.readonly_fields)
        if self.has_change_permission(request, obj):
            return fields
        shown = {"phone": "shown_phone", "user": "staff_member"}  # read-only columns under Hebrew headers
        return tuple(shown.get(name, name) for name in fields)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        """The user column is headed "staff member": the field itself has only its English name."""
        if db_field.name == "user":
            kwargs["label"] = STAFF_MEMBER_LABEL
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=STAFF_MEMBER_LABEL)
    def staff_member(self, membership: Membership) -> str:
        return str(membership.user)

    @admin.display(description=Membership._meta.get_field("phone").verbose_name)
    def shown_phone(self, membership: Membership) -> str:
        return phone_html(membership.phone)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser


@admin.register(Business)
class BusinessAdmin(ScopedAdmin):
    scoped_queryset = staticmethod(selectors.businesses_for)
    form = BusinessForm
    change_form_template = "admin/crm/business/change_form.html"
    list_display = [
        "name",
        "agent_mode",
        "agent_enabled",
        "language",
        "voice_name",
        "record_calls",
        "is_default",
    ]
    list_filter = ["agent_mode", "agent_enabled", "language"]
    search_fields = ["name", "phone_numbers__number"]
    inlines = [PhoneNumberInline, MembershipInline]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "is_default", "agent_enabled", "agent_mode"]}),
        (
            _("What the agent says"),
            {
                "fields": ["greeting", "system_prompt"],
                "description": _(
                    "The greeting is spoken as the call is answered; the prompt guides every reply. "
                    "{business} is replaced by the business's name."
                ),
            },
        ),
        (
            _("The business"),
            {
                "fields": ["address", "knowledge"],
                "description": _(
                    "What the agent may tell callers. It answers about services, prices and policies only from "
                    "this text, and never makes up what is not in it."
                ),
            },
        ),
        (
            _("Opening hours"),
            {
                "fields": [*HOURS_FIELDS, CLOSED_DATES_FIELD, "after_hours"],
                "description": _(
                    "Ranges like 09:00-13:00, 16:00-19:00; an empty day is closed. A night past midnight is two "
                    "ranges (until 24:00, then from 00:00 the next day). With no hours at all the business "
                    "counts as always open. Times are in the business's time zone."
                ),
            },
        ),
        (
            _("How the agent speaks"),
            {
                "fields": [
                    "addresses_callers",
                    "speaks_as",
                    "apology",
                    "idle_prompt",
                    "goodbye",
                    "fillers",
                    "after_hours_line",
                ],
                "description": _(
                    "{business} is replaced by the business's name, and {next_open} (after hours) by when it "
                    "opens again. Lines left at their default follow the choices above."
                ),
            },
        ),
        (
            _("Transfer to a person"),
            {"fields": ["transfer_number", "transfer_ring_seconds"]},
        ),
        (_("Voice and language"), {"fields": ["voice_name", "language", "time_zone"]}),
        (
            _("Turn-taking"),
            {
                "fields": ["eou_silence_ms", "barge_in_min_ms", "idle_prompt_seconds", "max_call_minutes"],
                "description": _(
                    "How long a pause ends the caller's turn, how much speech interrupts the agent, "
                    "and when a quiet or long call ends."
                ),
            },
        ),
        (
            _("Voicemail"),
            {
                "fields": ["fallback_message", "fallback_audio"],
                "description": _("Played when the agent is off or cannot continue; an uploaded recording wins."),
            },
        ),
        (_("Recording"), {"fields": ["record_calls", "twilio_recording"]}),
        (
            _("After the call"),
            {
                "fields": [
                    "notification_emails",
                    "webhook_url",
                    "webhook_secret",
                    "followup_sms_text",
                    "whatsapp_sender",
                ],
                "description": _(
                    "Who hears about each call as soon as its summary is ready, and the message the caller gets."
                ),
            },
        ),
        (_("Record"), {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_fieldsets(self, request: HttpRequest, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        # Which business answers unclaimed numbers is a server-wide choice; the webhook is the owner's (its
        # URL may carry a token; sales staff, who see the settings read-only, see neither it nor its secret).
        owner = obj is not None and owns(request, obj)
        hidden = {"is_default"} if owner else {"is_default", "webhook_url", "webhook_secret"}
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
            for name, options in fieldsets
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Business | None = None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        if obj is None:
            return selectors.owned_businesses_for(request.user).exists()
        return owns(request, obj)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is Membership:
            users = {m.user for m in formset.new_objects + [m for m, _ in formset.changed_objects]}
            users |= {m.user for m in formset.deleted_objects}
            for user in users:
                sync_staff_groups(user)

    # --- "Preview greeting": the configured TTS renders the text, the browser plays it.
    def get_urls(self):
        urls = super().get_urls()
        preview = path(
            "<path:object_id>/preview-greeting/",
            self.admin_site.admin_view(self.preview_greeting_view),
            name="crm_business_preview_greeting",
        )
        return [preview, *line_check_urls(self), *urls]

    def render_change_form(self, request: HttpRequest, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["preview_greeting_url"] = reverse("admin:crm_business_preview_greeting", args=[obj.pk])
            if self.has_change_permission(request, obj):  # owners (and superusers): the line check is theirs
                context["line_check_url"] = reverse("admin:crm_business_line_check", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def preview_greeting_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return _preview_greeting(self, request, object_id)


def _hours_display(day: str):
    # Staff who may only look see the settings read-only; the day's box is a form field, not a model field,
    # so the admin shows it through this method (found by the field's name).
    @admin.display(description=WEEKDAY_LABELS[day])
    def display(self: BusinessAdmin, obj: Business) -> str:
        return format_ranges(obj.opening_hours.get(day, [])) or str(_("Closed"))

    return display


@admin.display(description=_("Closed dates"))
def _closed_dates_display(self: BusinessAdmin, obj: Business) -> str:
    return ", ".join(obj.closed_dates)


for _day in WEEKDAYS:
    setattr(BusinessAdmin, f"hours_{_day}", _hours_display(_day))
BusinessAdmin.closed_dates_text = _closed_dates_display  # type: ignore[attr-defined]


def _preview_greeting(model_admin: BusinessAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    business = model_admin.get_object(request, object_id)
    if business is None:
        raise Http404(_("No such business."))
    if not model_admin.has_view_permission(request, business):
        raise PermissionDenied
    # The text being edited (not yet saved) may be previewed; it is never stored here.
    text = (request.GET.get("text") or business.greeting).strip()[:MAX_GREETING_CHARS]
    if not text:
        return HttpResponse(_("The greeting is empty."), status=400, content_type="text/plain; charset=utf-8")
    try:
        wav = render_speech_wav(text, voice=business.voice_name, language=business.language)
    except PreviewUnavailable as exc:
        logger.warning("greeting preview failed for business %s: %s", business.pk, exc)
        return HttpResponse(
            _("The voice could not be rendered right now. Try again in a minute."),
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    response = HttpResponse(wav, content_type="audio/wav")
    response["Cache-Control"] = "no-store"
    response["Content-Disposition"] = 'inline; filename="greeting-preview.wav"'
    return response


class PreviewUnavailable(Exception):
    """No TTS could render the text."""


def _tts_chain() -> list:
    """The configured TTS and its fallback, exactly as calls get them; espeak-ng alone if misconfigured."""
    from voice.provider_settings import providers_from_settings
    from voice.providers.espeak import EspeakTTS, espeak_available

    try:
        providers = providers_from_settings()
    except ValueError as exc:  # e.g. OpenAI named without a key: the offline voice still previews
        logger.warning("providers not configured (%s); previewing with espeak-ng", exc)
        return [EspeakTTS()] if espeak_available() else []
    return [tts for tts in (providers.tts, providers.fallback_tts) if tts is not None]


async def _synthesize(tts, text: str, voice: str, language: str) -> bytes:
    async with asyncio.timeout(PREVIEW_TIMEOUT_S):
        return b"".join([chunk async for chunk in tts.synthesize(text, voice=voice, language=language)])


def render_speech_wav(text: str, *, voice: str, language: str) -> bytes:
    """8 kHz mu-law from the TTS, as the caller would hear it, wrapped as a WAV the browser plays."""
    from voice.audio.wav import mulaw_to_wav
    from voice.providers.base import ProviderError

    errors = []
    for tts in _tts_chain():
        try:
            audio = async_to_sync(_synthesize)(tts, text, voice, language)
        except (ProviderError, TimeoutError, OSError) as exc:
            errors.append(f"{type(tts).__name__}: {exc}")
            continue
        if audio:
            return mulaw_to_wav(audio)
        errors.append(f"{type(tts).__name__}: no audio")
    raise PreviewUnavailable("; ".join(errors) or "no text-to-speech configured")
