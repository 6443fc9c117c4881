"""Business settings: owners edit them with clear validation; sales staff can look but not change."""

from __future__ import annotations

import io
import shutil
import wave

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from django.utils import translation

from backoffice.forms import MAX_SYSTEM_PROMPT_CHARS
from crm import defaults
from crm.models import Business, CallEvent, PhoneNumber
from crm.opening_hours import WEEKDAYS, format_ranges
from tests.backoffice.conftest import logged_in
from tests.support import factories
from voice.audio.wav import write_wav

pytestmark = pytest.mark.django_db


def settings_form(business: Business, **changes) -> dict:
    """What the settings page posts for ``business``, with ``changes`` applied."""
    data = {
        "name": business.name,
        "agent_enabled": "on",
        "agent_mode": business.agent_mode,
        "greeting": business.greeting,
        "system_prompt": business.system_prompt,
        "voice_name": business.voice_name,
        "language": business.language,
        "time_zone": business.time_zone,
        "eou_silence_ms": business.eou_silence_ms,
        "barge_in_min_ms": business.barge_in_min_ms,
        "idle_prompt_seconds": business.idle_prompt_seconds,
        "max_call_minutes": business.max_call_minutes,
        "fallback_message": business.fallback_message,
        "address": business.address,
        "knowledge": business.knowledge,
        "addresses_callers": business.addresses_callers,
        "speaks_as": business.speaks_as,
        "after_hours": business.after_hours,
        "apology": business.apology,
        "idle_prompt": business.idle_prompt,
        "goodbye": business.goodbye,
        "fillers": business.fillers,
        "after_hours_line": business.after_hours_line,
        "transfer_number": business.transfer_number,
        "transfer_ring_seconds": business.transfer_ring_seconds,
        **{f"hours_{day}": format_ranges(business.opening_hours.get(day, [])) for day in WEEKDAYS},
        "closed_dates_text": "\n".join(business.closed_dates),
        "record_calls": "on",
        "phone_numbers-TOTAL_FORMS": "0",
        "phone_numbers-INITIAL_FORMS": "0",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def save(client, business, **changes):
    return client.post(reverse("admin:crm_business_change", args=[business.pk]), settings_form(business, **changes))


def errors_of(response) -> dict:
    assert response.status_code == 200, "the form should come back with errors"
    form = response.context["adminform"].form
    return {field: [str(e) for e in errs] for field, errs in form.errors.items()}


def test_owner_changes_greeting_mode_and_tuning(owner_client, business_a):
    response = save(
        owner_client,
        business_a,
        greeting="  שלום! כאן מרפאת אלון, איך אפשר לעזור?  ",
        agent_mode="echo",
        eou_silence_ms="800",
    )
    assert response.status_code == 302
    business_a.refresh_from_db()
    assert business_a.greeting == "שלום! כאן מרפאת אלון, איך אפשר לעזור?"
    assert business_a.agent_mode == Business.AgentMode.ECHO
    assert business_a.eou_silence_ms == 800


def test_the_page_is_laid_out_in_fieldsets(owner_client, business_a):
    body = owner_client.get(reverse("admin:crm_business_change", args=[business_a.pk])).content.decode()
    for title in ("What the agent says", "Voice and language", "Turn-taking", "Voicemail", "Recording"):
        with translation.override("he"):
            assert translation.gettext(title) in body
    assert 'name="is_default"' not in body  # a server-wide choice, for superusers only


def test_the_silence_setting_says_what_too_low_a_value_looks_like_on_a_call(owner_client, business_a):
    """An owner reads what the setting does, and the name the timeline gives a caller it cut in on."""
    body = owner_client.get(reverse("admin:crm_business_change", args=[business_a.pk])).content.decode()
    with translation.override("he"):
        help_text = translation.gettext(str(Business._meta.get_field("eou_silence_ms").help_text))
        went_on = str(CallEvent.Kind.WENT_ON.label)
    assert help_text in body
    assert "מתקשרים שעוצרים באמצע משפט" in help_text and went_on in help_text


@pytest.mark.parametrize("greeting", ["", "   "])
def test_an_empty_greeting_is_refused(owner_client, business_a, greeting):
    response = save(owner_client, business_a, greeting=greeting)
    assert "greeting" in errors_of(response)
    assert response.context["adminform"].form.has_error("greeting", code="empty_greeting")


def test_a_prompt_too_long_for_the_model_is_refused_with_the_numbers(owner_client, business_a):
    response = save(owner_client, business_a, system_prompt="א" * (MAX_SYSTEM_PROMPT_CHARS + 1))
    errors = errors_of(response)
    assert response.context["adminform"].form.has_error("system_prompt", code="long_prompt")
    assert str(MAX_SYSTEM_PROMPT_CHARS + 1) in errors["system_prompt"][0]
    assert str(MAX_SYSTEM_PROMPT_CHARS) in errors["system_prompt"][0]


def test_a_prompt_at_the_limit_is_accepted(owner_client, business_a):
    assert save(owner_client, business_a, system_prompt="א" * MAX_SYSTEM_PROMPT_CHARS).status_code == 302


def test_voicemail_needs_a_message_or_a_recording(owner_client, business_a):
    response = save(owner_client, business_a, fallback_message="")
    assert "fallback_message" in errors_of(response)
    assert response.context["adminform"].form.has_error("fallback_message", code="no_fallback")
    audio = SimpleUploadedFile("voicemail.wav", write_wav(np.zeros(8000, dtype=np.int16)), content_type="audio/wav")
    assert save(owner_client, business_a, fallback_message="", fallback_audio=audio).status_code == 302


def test_voicemail_audio_must_be_wav_or_mp3(owner_client, business_a):
    bad = SimpleUploadedFile("voicemail.txt", b"hello", content_type="text/plain")
    assert "fallback_audio" in errors_of(save(owner_client, business_a, fallback_audio=bad))


def test_turn_taking_out_of_range_and_bad_language_are_refused(owner_client, business_a):
    errors = errors_of(save(owner_client, business_a, eou_silence_ms="50", language="hebrew"))
    assert set(errors) >= {"eou_silence_ms", "language"}


def test_twilio_recording_needs_recording_on(owner_client, business_a):
    errors = errors_of(save(owner_client, business_a, record_calls=None, twilio_recording="on"))
    assert "twilio_recording" in errors


def test_phone_numbers_in_the_inline_are_normalised_and_invalid_ones_refused(owner_client, business_a):
    inline = {"phone_numbers-TOTAL_FORMS": "1", "phone_numbers-0-label": "ראשי"}
    response = save(owner_client, business_a, **inline, **{"phone_numbers-0-number": "03-376-3805"})
    assert response.status_code == 302
    assert PhoneNumber.objects.get(business=business_a).number == "+97233763805"

    PhoneNumber.objects.all().delete()
    response = save(owner_client, business_a, **inline, **{"phone_numbers-0-number": "call me"})
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert "number" in formset.forms[0].errors
    assert not PhoneNumber.objects.exists()


def test_a_number_of_another_business_is_refused(owner_client, business_a, business_b):
    factories.make_phone_number(business_b, "+97233763805")
    response = save(
        owner_client,
        business_a,
        **{"phone_numbers-TOTAL_FORMS": "1", "phone_numbers-0-number": "033763805"},
    )
    formset = response.context["inline_admin_formsets"][0].formset
    assert "number" in formset.forms[0].errors


def test_sales_staff_see_the_settings_but_cannot_change_them(staff_client, business_a):
    page = staff_client.get(reverse("admin:crm_business_change", args=[business_a.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert business_a.greeting in body
    assert 'name="greeting"' not in body  # read-only
    response = save(staff_client, business_a, greeting="נפרצתם")
    assert response.status_code == 403
    business_a.refresh_from_db()
    assert business_a.greeting != "נפרצתם"


def test_only_superusers_add_or_delete_businesses(owner_client, business_a):
    assert owner_client.get(reverse("admin:crm_business_add")).status_code == 403
    assert (
        owner_client.post(reverse("admin:crm_business_delete", args=[business_a.pk]), {"post": "yes"}).status_code
        == 403
    )


def test_an_owner_who_is_only_staff_elsewhere_cannot_change_that_business(owner_a, business_b):
    factories.add_member(owner_a, business_b)  # sales staff in B
    client = logged_in(owner_a)
    response = save(client, business_b, greeting="שינוי")
    assert response.status_code == 403


def wav_info(data: bytes) -> tuple[int, int]:
    with wave.open(io.BytesIO(data)) as w:
        return w.getframerate(), w.getnframes()


@override_settings(VOICE_ASR="fake", VOICE_LLM="fake", VOICE_TTS="fake")
def test_preview_renders_the_greeting_as_wav(owner_client, business_a):
    response = owner_client.get(reverse("admin:crm_business_preview_greeting", args=[business_a.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    rate, frames = wav_info(response.content)
    assert rate == 8000 and frames > 8000 * 0.5


@override_settings(VOICE_ASR="fake", VOICE_LLM="fake", VOICE_TTS="fake")
def test_preview_renders_the_text_being_edited_and_staff_may_listen(staff_client, business_a):
    url = reverse("admin:crm_business_preview_greeting", args=[business_a.pk])
    short = staff_client.get(url, {"text": "היי"})
    long = staff_client.get(url, {"text": "שלום וברוכים הבאים, " * 4})
    assert short.status_code == long.status_code == 200
    assert wav_info(short.content)[1] < wav_info(long.content)[1]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
@override_settings(VOICE_ASR="fake", VOICE_LLM="fake", VOICE_TTS="espeak")
def test_preview_with_the_offline_voice(owner_client, business_a):
    response = owner_client.get(reverse("admin:crm_business_preview_greeting", args=[business_a.pk]))
    assert response.status_code == 200
    assert wav_info(response.content)[1] > 8000


def test_preview_button_is_on_the_settings_page(owner_client, business_a):
    body = owner_client.get(reverse("admin:crm_business_change", args=[business_a.pk])).content.decode()
    assert reverse("admin:crm_business_preview_greeting", args=[business_a.pk]) in body
    assert "crm/business_preview.js" in body


# -- the business, its hours and how the agent speaks (issue 13) ---------------------------------------------
def form_of(response):
    return response.context["adminform"].form


def test_owner_sets_hours_closures_knowledge_and_speech(owner_client, business_a):
    response = save(
        owner_client,
        business_a,
        address="הרצל 5, חיפה",
        knowledge="ניקוי אבנית: 250 שקלים.",
        hours_sun="16:00-19:00, 09:00-13:00",
        hours_thu="20:00-24:00",
        hours_fri="00:00-02:00",
        closed_dates_text="13/04/2025\n2025-04-12",
        after_hours=Business.AfterHours.VOICEMAIL,
    )
    assert response.status_code == 302
    business_a.refresh_from_db()
    assert business_a.opening_hours == {
        "sun": [["09:00", "13:00"], ["16:00", "19:00"]],
        "thu": [["20:00", "24:00"]],
        "fri": [["00:00", "02:00"]],
    }
    assert business_a.closed_dates == ["2025-04-12", "2025-04-13"]
    assert (business_a.address, business_a.knowledge) == ("הרצל 5, חיפה", "ניקוי אבנית: 250 שקלים.")
    assert business_a.after_hours == Business.AfterHours.VOICEMAIL
    page = owner_client.get(reverse("admin:crm_business_change", args=[business_a.pk]))
    assert form_of(page).initial["hours_sun"] == "09:00-13:00, 16:00-19:00"
    assert form_of(page).initial["closed_dates_text"] == "2025-04-12\n2025-04-13"


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"hours_mon": "17:00-09:00"}, "hours_mon", "range_ends_before_start"),
        ({"hours_tue": "09:00-13:00, 12:00-15:00"}, "hours_tue", "overlapping_ranges"),
        ({"hours_wed": "מתשע עד חמש"}, "hours_wed", "invalid_range"),
        ({"closed_dates_text": "2025-02-30"}, "closed_dates_text", "invalid_date"),
        ({"knowledge": "א" * 4001}, "knowledge", "long_knowledge"),
        ({"fillers": "  \n "}, "fillers", "no_fillers"),
        ({"goodbye": " "}, "goodbye", "empty_line"),
        ({"greeting": "שלום מ{busines}"}, "greeting", "unknown_placeholder"),
        ({"apology": "נפתח {next_open}"}, "apology", "unknown_placeholder"),
        ({"time_zone": "Asia/Haifa"}, "time_zone", "invalid_time_zone"),
        ({"transfer_number": "call me"}, "transfer_number", "invalid_phone"),
    ],
)
def test_bad_settings_are_refused_with_a_reason_and_nothing_changes(owner_client, business_a, changes, field, code):
    before = Business.objects.values().get(pk=business_a.pk)
    response = save(owner_client, business_a, **changes)
    assert field in errors_of(response)
    assert form_of(response).has_error(field, code=code)
    assert Business.objects.values().get(pk=business_a.pk) == before


def test_errors_are_in_hebrew_and_quote_what_was_typed(owner_client, business_a):
    with translation.override("he"):
        response = owner_client.post(
            reverse("admin:crm_business_change", args=[business_a.pk]),
            settings_form(business_a, hours_mon="17:00-09:00", knowledge="א" * 4001),
            HTTP_ACCEPT_LANGUAGE="he",
        )
        errors = errors_of(response)
    assert "17:00-09:00" in errors["hours_mon"][0] and "מסתיים לפני" in errors["hours_mon"][0]
    assert "4001" in errors["knowledge"][0] and "4000" in errors["knowledge"][0]


def test_knowledge_at_the_limit_and_the_after_hours_placeholder_are_accepted(owner_client, business_a):
    response = save(
        owner_client, business_a, knowledge="א" * 4000, after_hours_line="סגורים. נפתח {next_open} ב{business}."
    )
    assert response.status_code == 302


def test_default_lines_follow_a_change_of_speech_but_edited_lines_are_kept(owner_client, business_a):
    response = save(
        owner_client,
        business_a,
        speaks_as=Business.AgentGender.FEMININE,
        addresses_callers=Business.CallerAddress.NEUTRAL,
        goodbye="ביי ביי!",
    )
    assert response.status_code == 302
    business_a.refresh_from_db()
    lines = defaults.fixed_lines(defaults.ADDRESS_NEUTRAL, defaults.SPEAKS_FEMININE)
    assert business_a.fillers == lines["fillers"] and "בודקת" in business_a.fillers
    assert business_a.idle_prompt == lines["idle_prompt"]
    assert business_a.after_hours_line == lines["after_hours_line"]
    assert business_a.goodbye == "ביי ביי!"


def test_fillers_are_stored_one_per_line(owner_client, business_a):
    assert save(owner_client, business_a, fillers=" רגע.\r\n\r\nשנייה. \r\n").status_code == 302
    business_a.refresh_from_db()
    assert business_a.fillers == "רגע.\nשנייה."


def test_the_new_fieldsets_and_labels_are_in_hebrew(owner_client, business_a):
    with translation.override("he"):
        body = owner_client.get(
            reverse("admin:crm_business_change", args=[business_a.pk]), HTTP_ACCEPT_LANGUAGE="he"
        ).content.decode()
        for title in ("The business", "Opening hours", "How the agent speaks", "Transfer to a person", "Sunday"):
            assert translation.gettext(title) != title
            assert translation.gettext(title) in body
    assert 'name="hours_sun"' in body and 'name="closed_dates_text"' in body


def test_sales_staff_see_the_hours_read_only(staff_client, business_a):
    business_a.opening_hours = {"sun": [["09:00", "13:00"]]}
    business_a.save()
    body = staff_client.get(reverse("admin:crm_business_change", args=[business_a.pk])).content.decode()
    assert "09:00-13:00" in body and 'name="hours_sun"' not in body


def test_the_webhook_is_the_owners_alone(business_a, owner_client, staff_client):
    """Sales staff see the business's settings read-only, but never the secret that signs its webhooks."""
    business_a.webhook_url = "https://hooks.example.com/in"
    business_a.webhook_secret = "s3cret-signing-key"
    business_a.save()
    url = f"/admin/crm/business/{business_a.pk}/change/"
    owner_page = owner_client.get(url).content.decode()
    staff_page = staff_client.get(url).content.decode()
    assert "s3cret-signing-key" in owner_page
    assert "hooks.example.com" in owner_page
    assert "s3cret-signing-key" not in staff_page
    assert "hooks.example.com" not in staff_page  # its URL may carry a token too


def after_the_call_form(business, **fields):
    from django.forms.models import model_to_dict

    from backoffice.forms import BusinessForm

    data = {k: v for k, v in model_to_dict(business).items() if v is not None and k != "fallback_audio"}
    data.update(fields)
    return BusinessForm(data=data, instance=business)


def test_notification_addresses_are_checked_one_by_one_and_stored_one_per_line(business_a):
    form = after_the_call_form(business_a, notification_emails="dana@example.com, sales@example.com\ndana@example.com")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["notification_emails"] == "dana@example.com\nsales@example.com"
    bad = after_the_call_form(business_a, notification_emails="dana@example.com\nnot-an-address")
    assert not bad.is_valid() and "not-an-address" in bad.errors["notification_emails"][0]


def test_a_webhook_needs_https_and_a_secret(business_a):
    plain = after_the_call_form(business_a, webhook_url="http://hooks.example.com/in", webhook_secret="k")
    assert not plain.is_valid() and "webhook_url" in plain.errors
    unsigned = after_the_call_form(business_a, webhook_url="https://hooks.example.com/in", webhook_secret="")
    assert not unsigned.is_valid() and "webhook_secret" in unsigned.errors
    good = after_the_call_form(business_a, webhook_url="https://hooks.example.com/in", webhook_secret="k")
    assert good.is_valid(), good.errors


def test_the_text_to_the_caller_takes_only_its_two_placeholders(business_a):
    ok = after_the_call_form(business_a, followup_sms_text="תודה שהתקשרתם ל{business}. נחזור אליכם {callback}.")
    assert ok.is_valid(), ok.errors
    typo = after_the_call_form(business_a, followup_sms_text="תודה שהתקשרתם ל{busines}.")
    assert not typo.is_valid() and "{busines}" in typo.errors["followup_sms_text"][0]
    business_a.refresh_from_db()
    assert business_a.followup_sms_text == ""  # nothing saved


def test_the_whatsapp_sender_is_a_phone_number(business_a):
    ok = after_the_call_form(business_a, whatsapp_sender="054-765-4321")
    assert ok.is_valid(), ok.errors
    assert ok.cleaned_data["whatsapp_sender"] == "+972547654321"
    assert not after_the_call_form(business_a, whatsapp_sender="whatsapp me").is_valid()


def test_a_webhook_inside_our_own_network_is_refused(business_a, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    for url in ("https://127.0.0.1/hook", "https://localhost:8443/in", "https://10.1.2.3/x"):
        form = after_the_call_form(business_a, webhook_url=url, webhook_secret="k")
        assert not form.is_valid() and "webhook_url" in form.errors, url
