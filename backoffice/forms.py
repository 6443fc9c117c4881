"""Admin forms: validation that speaks to the person editing, in words that translate to Hebrew."""

from __future__ import annotations

import os
import re
from functools import cache
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from backoffice.audio_files import is_playable_mp3, is_playable_wav
from backoffice.business_hours_form import BusinessHoursFields
from crm import defaults
from crm.models import Business, Lead, Membership, PhoneNumber
from crm.phones import display_phone, normalize_phone, valid_phone
from followup import webhooks
from voice.providers.openai_api import OPENAI_VOICES
from voice.providers.voices import FEMALE, GOOGLE_HE_VOICES

# A system prompt is sent on every turn; past this it costs latency and money and crowds out the call.
MAX_SYSTEM_PROMPT_CHARS = 8000
MAX_GREETING_CHARS = 500
MAX_FALLBACK_AUDIO_BYTES = 5 * 1024 * 1024
FALLBACK_AUDIO_EXTENSIONS = (".wav", ".mp3")
# The knowledge text goes into every turn's prompt too: a few thousand characters, no more.
MAX_KNOWLEDGE_CHARS = defaults.MAX_KNOWLEDGE_CHARS
MAX_LINE_CHARS = 300  # a fixed line is spoken whole, and nobody listens to a paragraph on hold
MAX_FILLERS = 12
MAX_SMS_CHARS = 300  # Hebrew texts go as UCS-2, 67 characters a segment: a longer text costs 5+ messages
# A lead's notes are read on one screen and go into exports and prompts; a novel pasted by mistake is refused.
MAX_LEAD_NOTES_CHARS = 20_000
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
# Which {placeholders} a text may use; anything else in braces is a typo the caller would hear.
_ALLOWED_PLACEHOLDERS = {
    "after_hours_line": {"{business}", "{next_open}"},
    "followup_sms_text": {"{business}", "{callback}"},
}
_TEXTS_WITH_PLACEHOLDERS = ("greeting", "system_prompt", "knowledge", *defaults.FIXED_LINE_FIELDS, "followup_sms_text")


def clean_phone(value: str, stored: str = "") -> str:
    """E.164 for any common way of writing a real number, or a clear error: a number with a digit missing
    ("0521234") is refused, not stored as something nobody can dial. The number already ``stored`` is kept
    however it is written: it came from the carrier (a caller's number) or an earlier save, and a form that
    only changes something else must not be refused for it."""
    if stored and normalize_phone(value) == stored:
        return stored
    phone = valid_phone(value)
    if phone is None:
        raise ValidationError(
            _(
                "“%(value)s” is not a valid phone number: check the prefix and the number of digits. "
                "Write it like 050-2345678 or +972502345678."
            ),
            code="invalid_phone",
            params={"value": value},
        )
    return phone


def voice_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The voices the agent can speak with: Google's he-IL voices (see voice/providers/voices.py), grouped by
    gender so the owner can match the way the agent speaks of itself, Wavenet (the better sounding) first;
    then OpenAI's voices, for a server whose speech comes from OpenAI (they speak Hebrew with an accent)."""
    names = sorted(GOOGLE_HE_VOICES, key=lambda name: ("Standard" in name, name))
    female = [(name, name) for name in names if GOOGLE_HE_VOICES[name] == FEMALE]
    male = [(name, name) for name in names if GOOGLE_HE_VOICES[name] != FEMALE]
    openai = [(name, name) for name in sorted(OPENAI_VOICES)]
    return [(str(_("Female voices")), female), (str(_("Male voices")), male), (str(_("OpenAI voices")), openai)]


def known_voice(name: str) -> bool:
    return name in GOOGLE_HE_VOICES or name in OPENAI_VOICES


@cache
def _time_zones() -> frozenset[str]:
    """The IANA zone names this system knows (read once: it walks the zone files)."""
    return frozenset(available_timezones())


def _minutes_range(field: str) -> tuple[int, int]:
    """The (min, max) of a model field's Min/MaxValueValidators, so the form and the model agree."""
    model_field = Business._meta.get_field(field)
    assert isinstance(model_field, models.Field)  # a column, not a relation
    validators = model_field.validators
    low = next(v.limit_value for v in validators if isinstance(v, MinValueValidator))
    high = next(v.limit_value for v in validators if isinstance(v, MaxValueValidator))
    return int(low), int(high)


MIN_CALL_MINUTES, MAX_CALL_MINUTES = _minutes_range("max_call_minutes")


def _check_placeholders(field: str, text: str) -> None:
    allowed = _ALLOWED_PLACEHOLDERS.get(field, {"{business}"})
    unknown = [p for p in _PLACEHOLDER.findall(text) if p not in allowed]
    if unknown:
        raise ValidationError(
            _("%(unknown)s is not something the agent can fill in. Use %(allowed)s."),
            code="unknown_placeholder",
            params={"unknown": unknown[0], "allowed": ", ".join(sorted(allowed))},
        )


def _one_line_each(text: str) -> str:
    """A textarea's lines, \r\n as \n, each stripped, empty ones dropped."""
    return "\n".join(line.strip() for line in (text or "").splitlines() if line.strip())


def _is_email(text: str) -> bool:
    try:
        EmailValidator()(text)
    except ValidationError:
        return False
    return True


class BusinessForm(BusinessHoursFields, forms.ModelForm):
    class Meta:
        model = Business
        fields = [
            "name",
            "is_default",
            "agent_enabled",
            "agent_mode",
            "greeting",
            "system_prompt",
            "address",
            "knowledge",
            "addresses_callers",
            "speaks_as",
            "after_hours",
            "apology",
            "idle_prompt",
            "goodbye",
            "fillers",
            "after_hours_line",
            "transfer_number",
            "transfer_ring_seconds",
            "voice_name",
            "language",
            "time_zone",
            "eou_silence_ms",
            "barge_in_min_ms",
            "idle_prompt_seconds",
            "max_call_minutes",
            "fallback_message",
            "fallback_audio",
            "record_calls",
            "twilio_recording",
            "notification_emails",
            "webhook_url",
            "webhook_secret",
            "followup_sms_text",
            "whatsapp_sender",
        ]
        widgets = {
            "greeting": forms.Textarea(attrs={"rows": 3, "dir": "auto", "cols": 80}),
            "system_prompt": forms.Textarea(attrs={"rows": 12, "dir": "auto", "cols": 80}),
            "fallback_message": forms.Textarea(attrs={"rows": 3, "dir": "auto", "cols": 80}),
            "transfer_number": forms.TextInput(attrs={"dir": "ltr"}),
            "address": forms.TextInput(attrs={"dir": "auto", "size": 60}),
            "knowledge": forms.Textarea(attrs={"rows": 12, "dir": "auto", "cols": 80}),
            "apology": forms.Textarea(attrs={"rows": 2, "dir": "auto", "cols": 80}),
            "idle_prompt": forms.Textarea(attrs={"rows": 2, "dir": "auto", "cols": 80}),
            "goodbye": forms.Textarea(attrs={"rows": 2, "dir": "auto", "cols": 80}),
            "fillers": forms.Textarea(attrs={"rows": 5, "dir": "auto", "cols": 80}),
            "after_hours_line": forms.Textarea(attrs={"rows": 3, "dir": "auto", "cols": 80}),
            "name": forms.TextInput(attrs={"dir": "auto"}),
            "voice_name": forms.Select(attrs={"dir": "ltr"}),
            "language": forms.TextInput(attrs={"dir": "ltr", "size": 8}),
            "time_zone": forms.TextInput(attrs={"dir": "ltr"}),
            "notification_emails": forms.Textarea(attrs={"rows": 3, "dir": "ltr", "cols": 60}),
            "webhook_secret": forms.TextInput(attrs={"dir": "ltr", "size": 60, "autocomplete": "off"}),
            "followup_sms_text": forms.Textarea(attrs={"rows": 3, "dir": "auto", "cols": 80}),
            "whatsapp_sender": forms.TextInput(attrs={"dir": "ltr"}),
        }

    max_call_minutes = forms.IntegerField(
        label=Business._meta.get_field("max_call_minutes").verbose_name,
        widget=forms.NumberInput(attrs={"min": MIN_CALL_MINUTES, "max": MAX_CALL_MINUTES, "dir": "ltr"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Emptiness is checked below with messages that say why it matters, not "this field is required".
        for name in ("greeting", "system_prompt", "fallback_message", "voice_name", *defaults.FIXED_LINE_FIELDS):
            if name in self.fields:
                self.fields[name].required = False
        if "voice_name" in self.fields:
            self.fields["voice_name"].widget.choices = self._voice_options()

    def _voice_options(self) -> list:
        """The known voices; a stored voice we do not know is shown as it is (so it is not silently replaced
        by the first in the list) and refused on saving with a message that says why."""
        options: list = voice_choices()
        current = (self.initial.get("voice_name") or "").strip()
        if current and not known_voice(current):
            options.insert(0, (current, current))
        return options

    def clean_greeting(self) -> str:
        greeting = (self.cleaned_data.get("greeting") or "").strip()
        if not greeting:
            raise ValidationError(
                _("The greeting is empty: callers would hear silence. Write what the agent says first."),
                code="empty_greeting",
            )
        if len(greeting) > MAX_GREETING_CHARS:
            raise ValidationError(
                _("The greeting is too long (%(count)d characters; at most %(max)d). Keep it short."),
                code="long_greeting",
                params={"count": len(greeting), "max": MAX_GREETING_CHARS},
            )
        return greeting

    def clean_system_prompt(self) -> str:
        prompt = (self.cleaned_data.get("system_prompt") or "").strip()
        if not prompt:
            raise ValidationError(
                _("The system prompt is empty: tell the agent who it is and what to ask."),
                code="empty_prompt",
            )
        if len(prompt) > MAX_SYSTEM_PROMPT_CHARS:
            raise ValidationError(
                _("The system prompt is too long for the model (%(count)d characters; at most %(max)d). Shorten it."),
                code="long_prompt",
                params={"count": len(prompt), "max": MAX_SYSTEM_PROMPT_CHARS},
            )
        return prompt

    def clean_knowledge(self) -> str:
        knowledge = (self.cleaned_data.get("knowledge") or "").strip().replace("\r\n", "\n")
        if len(knowledge) > MAX_KNOWLEDGE_CHARS:
            raise ValidationError(
                _(
                    "The business information is too long (%(count)d characters; at most %(max)d). "
                    "Keep what callers ask about."
                ),
                code="long_knowledge",
                params={"count": len(knowledge), "max": MAX_KNOWLEDGE_CHARS},
            )
        return knowledge

    def _clean_line(self, field: str) -> str:
        line = " ".join((self.cleaned_data.get(field) or "").split())
        if not line:
            raise ValidationError(_("This line is empty: the agent would have nothing to say."), code="empty_line")
        if len(line) > MAX_LINE_CHARS:
            raise ValidationError(
                _("This line is too long (%(count)d characters; at most %(max)d)."),
                code="long_line",
                params={"count": len(line), "max": MAX_LINE_CHARS},
            )
        return line

    def clean_apology(self) -> str:
        return self._clean_line("apology")

    def clean_idle_prompt(self) -> str:
        return self._clean_line("idle_prompt")

    def clean_goodbye(self) -> str:
        return self._clean_line("goodbye")

    def clean_after_hours_line(self) -> str:
        return self._clean_line("after_hours_line")

    def clean_fillers(self) -> str:
        fillers = _one_line_each(self.cleaned_data.get("fillers") or "")
        lines = fillers.splitlines()
        if not lines:
            raise ValidationError(_("Write at least one filler, one per line."), code="no_fillers")
        if len(lines) > MAX_FILLERS:
            raise ValidationError(
                _("Too many fillers (%(count)d; at most %(max)d)."),
                code="too_many_fillers",
                params={"count": len(lines), "max": MAX_FILLERS},
            )
        long = [line for line in lines if len(line) > MAX_LINE_CHARS]
        if long:
            raise ValidationError(
                _("“%(line)s” is too long for a filler."), code="long_filler", params={"line": long[0][:40]}
            )
        return fillers

    def clean_time_zone(self) -> str:
        """An IANA zone this system knows, in its canonical spelling ("asia/jerusalem" is Asia/Jerusalem):
        opening hours and callback times are computed in it, so a made-up zone cannot be stored."""
        zone = (self.cleaned_data.get("time_zone") or "").strip()
        known = {name.lower(): name for name in _time_zones()}
        if zone.lower() not in known:
            raise ValidationError(
                _("“%(zone)s” is not a time zone. Write it like Asia/Jerusalem."),
                code="invalid_time_zone",
                params={"zone": zone},
            )
        return known[zone.lower()]

    def clean_max_call_minutes(self) -> int:
        """A call cut off at 0 minutes would end as it starts; the message names both limits."""
        minutes = self.cleaned_data["max_call_minutes"]
        if not MIN_CALL_MINUTES <= minutes <= MAX_CALL_MINUTES:
            raise ValidationError(
                _("The maximum call length must be between %(min)d and %(max)d minutes."),
                code="call_minutes_out_of_range",
                params={"min": MIN_CALL_MINUTES, "max": MAX_CALL_MINUTES},
            )
        return minutes

    webhook_url = forms.URLField(
        label=_("webhook URL"),
        required=False,
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"dir": "ltr", "size": 60}),
        help_text=Business._meta.get_field("webhook_url").help_text,
    )

    def clean_notification_emails(self) -> str:
        """One address per line (commas and spaces also separate); each one checked, stored one per line."""
        raw = self.cleaned_data.get("notification_emails") or ""
        addresses = [a for a in re.split(r"[\s,;]+", raw) if a]
        bad = [a for a in addresses if not _is_email(a)]
        if bad:
            raise ValidationError(_("Not an email address: %(bad)s"), code="bad_email", params={"bad": ", ".join(bad)})
        return "\n".join(dict.fromkeys(addresses))  # each once, in the order given

    def clean_webhook_url(self) -> str:
        url = (self.cleaned_data.get("webhook_url") or "").strip()
        if url and not url.startswith("https://") and not settings.DEBUG:
            raise ValidationError(_("The webhook must be an https:// address."), code="insecure_webhook")
        if url and webhooks.private_address(url) is not None:
            raise ValidationError(
                _("The webhook must be a public address on the internet, not one inside our network."),
                code="private_webhook",
            )
        return url

    def clean_followup_sms_text(self) -> str:
        text = (self.cleaned_data.get("followup_sms_text") or "").strip()
        if len(text) > MAX_SMS_CHARS:
            raise ValidationError(
                _("The message is too long (%(count)d characters; at most %(max)d)."),
                code="long_sms",
                params={"count": len(text), "max": MAX_SMS_CHARS},
            )
        return text

    def clean_whatsapp_sender(self) -> str:
        number = (self.cleaned_data.get("whatsapp_sender") or "").strip()
        return clean_phone(number, stored=self.instance.whatsapp_sender) if number else ""

    def clean_transfer_number(self) -> str:
        number = (self.cleaned_data.get("transfer_number") or "").strip()
        return clean_phone(number, stored=self.instance.transfer_number) if number else ""

    def clean_voice_name(self) -> str:
        """One of the voices the speech service has: an unknown name would be replaced by the service's
        default voice on every call, silently."""
        voice = (self.cleaned_data.get("voice_name") or "").strip()
        if not voice:
            raise ValidationError(_("Choose a voice for the agent."), code="empty_voice")
        if not known_voice(voice):
            raise ValidationError(
                _("“%(voice)s” is not a voice the agent can speak with. Choose one from the list."),
                code="unknown_voice",
                params={"voice": voice},
            )
        return voice

    def clean_language(self) -> str:
        language = (self.cleaned_data.get("language") or "").strip()
        parts = language.split("-")
        if not (len(parts) == 2 and len(parts[0]) == 2 and parts[0].isalpha() and parts[1].isalnum()):
            raise ValidationError(
                _("Write the language as a BCP-47 code such as he-IL or en-US."), code="invalid_language"
            )
        return f"{parts[0].lower()}-{parts[1].upper()}"

    def clean_fallback_audio(self):
        """A new upload must be a WAV or MP3 by its content, not only by its name: Twilio plays it to callers
        after the agent failed, and a file it cannot play would leave them with an error."""
        audio = self.cleaned_data.get("fallback_audio")
        if audio and hasattr(audio, "size"):
            extension = os.path.splitext(audio.name)[1].lower()
            if extension not in FALLBACK_AUDIO_EXTENSIONS:
                raise ValidationError(_("The voicemail audio must be a WAV or MP3 file."), code="invalid_audio_type")
            if audio.size > MAX_FALLBACK_AUDIO_BYTES:
                raise ValidationError(_("The voicemail audio is too large (at most 5 MB)."), code="audio_too_large")
            if not _plays_as(extension, _read_upload(audio)):
                raise ValidationError(
                    _("“%(name)s” is not playable audio: the file is not a real %(kind)s recording."),
                    code="unplayable_audio",
                    params={"name": audio.name, "kind": extension.lstrip(".").upper()},
                )
        return audio

    def clean(self):
        cleaned = super().clean()
        for field in _TEXTS_WITH_PLACEHOLDERS:
            if cleaned.get(field):
                try:
                    _check_placeholders(field, cleaned[field])
                except ValidationError as error:
                    self.add_error(field, error)
        self._follow_speech_choices(cleaned)
        if cleaned.get("webhook_url") and not (cleaned.get("webhook_secret") or "").strip():
            self.add_error("webhook_secret", _("A webhook needs a secret to sign what it receives."))
        message = (cleaned.get("fallback_message") or "").strip()
        cleaned["fallback_message"] = message
        has_audio = bool(cleaned.get("fallback_audio"))
        if not message and not has_audio and "fallback_audio" not in self.errors:
            self.add_error(
                "fallback_message",
                ValidationError(_("Write a voicemail message or upload a voicemail recording."), code="no_fallback"),
            )
        if cleaned.get("twilio_recording") and not cleaned.get("record_calls"):
            self.add_error(
                "twilio_recording",
                ValidationError(
                    _("Twilio recording needs “record calls” to be on."), code="recording_needs_record_calls"
                ),
            )
        return cleaned

    def _follow_speech_choices(self, cleaned: dict) -> None:
        """A fixed line still at its default for the old way of speaking (to callers, of itself) becomes
        the default for the new one; a line the owner wrote is kept as written."""
        addresses, speaks_as = cleaned.get("addresses_callers"), cleaned.get("speaks_as")
        old = (self.instance.addresses_callers, self.instance.speaks_as)
        if not addresses or not speaks_as or (addresses, speaks_as) == old:
            return
        was, becomes = defaults.fixed_lines(*old), defaults.fixed_lines(addresses, speaks_as)
        for field in defaults.FIXED_LINE_FIELDS:
            if field in cleaned and _one_line_each(cleaned[field]) == _one_line_each(was[field]):
                cleaned[field] = becomes[field]

    def save(self, commit: bool = True) -> Business:
        stored = self.hours_and_dates()
        if stored is not None:
            self.instance.opening_hours, self.instance.closed_dates = stored
        return super().save(commit)


def _read_upload(upload) -> bytes:
    """The whole uploaded file (at most MAX_FALLBACK_AUDIO_BYTES, checked before), left ready to be saved."""
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
    return data


def _plays_as(extension: str, data: bytes) -> bool:
    return is_playable_wav(data) if extension == ".wav" else is_playable_mp3(data)


class PhoneNumberForm(forms.ModelForm):
    class Meta:
        model = PhoneNumber
        fields = ["number", "label"]
        widgets = {"number": forms.TextInput(attrs={"dir": "ltr"})}

    def clean_number(self) -> str:
        """A number routes calls to one business: adding it again says where it already is."""
        number = clean_phone(self.cleaned_data.get("number") or "", stored=self.instance.number)
        taken = PhoneNumber.objects.filter(number=number).exclude(pk=self.instance.pk).first()
        if taken is None:
            return number
        if self.instance.business_id is not None and taken.business_id == self.instance.business_id:
            raise ValidationError(
                _("This business already has the number %(number)s."),
                code="number_already_here",
                params={"number": display_phone(number)},
            )
        raise ValidationError(
            _("%(number)s already routes calls to another business."),
            code="number_taken",
            params={"number": display_phone(number)},
        )


class LeadForm(forms.ModelForm):
    class Meta:
        model = Lead
        fields = [
            "name",
            "phone",
            "business",
            "status",
            "owner",
            "next_follow_up",
            "callback_time",
            "notes",
            "interest",
            "source",
        ]
        widgets = {
            "phone": forms.TextInput(attrs={"dir": "ltr"}),
            "name": forms.TextInput(attrs={"dir": "auto"}),
            "interest": forms.TextInput(attrs={"dir": "auto", "size": 60}),
            "notes": forms.Textarea(attrs={"rows": 5, "dir": "auto"}),
            "next_follow_up": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        }

    def clean_phone(self) -> str:
        return clean_phone(self.cleaned_data.get("phone") or "", stored=self.instance.phone)

    def clean_notes(self) -> str:
        notes = self.cleaned_data.get("notes") or ""
        if len(notes) > MAX_LEAD_NOTES_CHARS:
            raise ValidationError(
                _("The notes are too long (%(count)d characters; at most %(max)d). Keep what the next call needs."),
                code="long_notes",
                params={"count": len(notes), "max": MAX_LEAD_NOTES_CHARS},
            )
        return notes

    def clean(self):
        cleaned = super().clean()
        business, owner, phone = cleaned.get("business"), cleaned.get("owner"), cleaned.get("phone")
        if business and owner and not Membership.objects.filter(user=owner, business=business).exists():
            self.add_error(
                "owner", _("%(user)s does not work for %(business)s.") % {"user": owner, "business": business}
            )
        if business and phone:
            duplicate = Lead.objects.filter(business=business, phone=phone).exclude(pk=self.instance.pk).first()
            if duplicate:
                self.add_error(
                    "phone",
                    _("This business already has a lead with this number: %(lead)s.") % {"lead": duplicate},
                )
        return cleaned

    def validate_unique(self):
        # The (business, phone) duplicate is reported above in plain words; skip the generic message.
        exclude = self._get_validation_exclusions()
        exclude.update({"business", "phone"})
        try:
            self.instance.validate_unique(exclude=exclude)
        except ValidationError as e:
            self._update_errors(e)


class AssignOwnerForm(forms.Form):
    """The intermediate page of the "assign an owner" bulk action."""

    # The queryset comes per request (the colleagues of the user), so the field cannot infer its model.
    owner: forms.ModelChoiceField = forms.ModelChoiceField(
        queryset=None, label=_("New owner"), required=False, empty_label=_("(nobody)")
    )

    def __init__(self, *args, owners=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owners
