"""Settings and phone input refuse nonsense: each refused value gets its own message, in the words the Hebrew
catalogue translates, and nothing is saved. Values the system cannot use (an unknown voice or time zone, a file
that is not audio, a number with a digit missing) are the ones a form must not let through."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from backoffice.forms import MAX_LEAD_NOTES_CHARS
from crm.models import Business, Lead, PhoneNumber
from tests.backoffice.test_admin_business import settings_form
from tests.support import factories
from voice.audio.wav import write_wav
from voice.providers.voices import GOOGLE_HE_VOICES

pytestmark = pytest.mark.django_db

# MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding: 417-byte frames (silent ones, all side information zero).
MP3_FRAME = b"\xff\xfb\x90\x64" + bytes(413)


def hebrew(msgid: str, **params) -> str:
    """What a Hebrew user reads for this message (the catalogue's translation, once it has one)."""
    with translation.override("he"):
        return translation.gettext(msgid) % params


def post_settings(client, business: Business, **changes):
    with translation.override("he"):
        return client.post(
            reverse("admin:crm_business_change", args=[business.pk]),
            settings_form(business, **changes),
            HTTP_ACCEPT_LANGUAGE="he",
        )


def form_errors(response, field: str) -> list[str]:
    assert response.status_code == 200, "the form should come back with errors"
    return [str(e) for e in response.context["adminform"].form.errors.get(field, [])]


def has_error(response, field: str, code: str) -> bool:
    return response.context["adminform"].form.has_error(field, code=code)


def stored(business: Business) -> dict:
    return Business.objects.values().get(pk=business.pk)


# --- the voice ---------------------------------------------------------------------------------------------


def test_the_voice_is_chosen_from_the_voices_the_agent_has(owner_client, business_a):
    page = owner_client.get(reverse("admin:crm_business_change", args=[business_a.pk])).content.decode()
    assert '<select name="voice_name"' in page
    for name in GOOGLE_HE_VOICES:
        assert f'<option value="{name}"' in page
    assert f'<option value="{business_a.voice_name}" selected>' in page


def test_a_voice_nobody_has_is_refused_and_nothing_changes(owner_client, business_a):
    before = stored(business_a)
    response = post_settings(owner_client, business_a, voice_name="no-such-voice")
    assert has_error(response, "voice_name", "unknown_voice")
    expected = hebrew(
        "“%(voice)s” is not a voice the agent can speak with. Choose one from the list.", voice="no-such-voice"
    )
    assert form_errors(response, "voice_name") == [expected]
    assert stored(business_a) == before


@pytest.mark.parametrize("voice", ["he-IL-Standard-C", "alloy"])
def test_a_known_voice_is_saved(owner_client, business_a, voice):
    """Google's Hebrew voices, and OpenAI's for a server whose speech comes from OpenAI."""
    assert post_settings(owner_client, business_a, voice_name=voice).status_code == 302
    business_a.refresh_from_db()
    assert business_a.voice_name == voice


def test_an_unknown_voice_saved_earlier_is_shown_as_it_is_and_must_be_replaced(owner_client, business_a):
    """Not silently swapped for the first voice of the list: the page shows it, and saving asks for a real one."""
    Business.objects.filter(pk=business_a.pk).update(voice_name="old-voice")
    business_a.refresh_from_db()
    page = owner_client.get(reverse("admin:crm_business_change", args=[business_a.pk])).content.decode()
    assert '<option value="old-voice" selected>' in page
    response = post_settings(owner_client, business_a)
    assert has_error(response, "voice_name", "unknown_voice")


# --- the time zone -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Asia/Haifa", "Jerusalem", "../etc/passwd"])
def test_a_time_zone_that_does_not_exist_is_refused_and_nothing_changes(owner_client, business_a, zone):
    before = stored(business_a)
    response = post_settings(owner_client, business_a, time_zone=zone)
    assert has_error(response, "time_zone", "invalid_time_zone")
    assert form_errors(response, "time_zone") == [
        hebrew("“%(zone)s” is not a time zone. Write it like Asia/Jerusalem.", zone=zone)
    ]
    assert stored(business_a) == before


def test_a_time_zone_typed_in_lower_case_is_stored_as_its_name(owner_client, business_a):
    assert post_settings(owner_client, business_a, time_zone="america/new_york").status_code == 302
    business_a.refresh_from_db()
    assert business_a.time_zone == "America/New_York"


# --- the voicemail recording -------------------------------------------------------------------------------


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("voicemail.wav", np.random.default_rng(15).bytes(20_000)),  # random bytes named .wav
        ("voicemail.wav", b"RIFF0000WAVE"),  # a RIFF header and no audio
        ("voicemail.mp3", np.random.default_rng(16).bytes(20_000)),
        ("voicemail.mp3", write_wav(np.zeros(8000, dtype=np.int16))),  # a WAV named .mp3: served as MP3
        ("voicemail.wav", MP3_FRAME * 8),  # an MP3 named .wav
    ],
)
def test_a_file_that_is_not_the_audio_its_name_says_is_refused_and_nothing_is_saved(
    owner_client, business_a, name, content
):
    before = stored(business_a)
    response = post_settings(owner_client, business_a, fallback_message="", fallback_audio=upload(name, content))
    assert has_error(response, "fallback_audio", "unplayable_audio")
    kind = name.rsplit(".", 1)[1].upper()
    assert form_errors(response, "fallback_audio") == [
        hebrew("“%(name)s” is not playable audio: the file is not a real %(kind)s recording.", name=name, kind=kind)
    ]
    assert stored(business_a) == before
    assert not Business.objects.get(pk=business_a.pk).fallback_audio


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("voicemail.wav", write_wav(np.zeros(8000, dtype=np.int16))),
        ("voicemail.mp3", MP3_FRAME * 8),
        ("tagged.mp3", b"ID3\x04\x00\x00\x00\x00\x00\x05" + bytes(5) + MP3_FRAME * 3),
        ("short.mp3", MP3_FRAME + MP3_FRAME[:100]),  # the last frame cut short still plays
    ],
)
def test_real_wav_and_mp3_recordings_are_saved(owner_client, business_a, name, content):
    response = post_settings(owner_client, business_a, fallback_message="", fallback_audio=upload(name, content))
    assert response.status_code == 302
    business_a.refresh_from_db()
    assert business_a.fallback_audio.name.endswith(name.rsplit(".", 1)[1])


# --- the maximum call length -------------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", ["0", "-1", "121"])
def test_a_maximum_call_length_out_of_range_names_its_limits_and_nothing_changes(owner_client, business_a, minutes):
    before = stored(business_a)
    response = post_settings(owner_client, business_a, max_call_minutes=minutes)
    assert has_error(response, "max_call_minutes", "call_minutes_out_of_range")
    message = hebrew("The maximum call length must be between %(min)d and %(max)d minutes.", min=1, max=120)
    assert form_errors(response, "max_call_minutes") == [message]
    assert stored(business_a) == before


def test_the_maximum_call_length_field_allows_from_one_minute_in_the_browser(owner_client, business_a):
    page = owner_client.get(reverse("admin:crm_business_change", args=[business_a.pk])).content.decode()
    field = next(tag for tag in page.split("<input") if 'name="max_call_minutes"' in tag)
    assert 'min="1"' in field and 'max="120"' in field


@pytest.mark.parametrize("minutes", ["1", "120"])
def test_a_maximum_call_length_at_its_limits_is_saved(owner_client, business_a, minutes):
    assert post_settings(owner_client, business_a, max_call_minutes=minutes).status_code == 302
    business_a.refresh_from_db()
    assert business_a.max_call_minutes == int(minutes)


# --- business numbers --------------------------------------------------------------------------------------


def numbers_formset(response):
    assert response.status_code == 200, "the page should come back with errors"
    return next(f.formset for f in response.context["inline_admin_formsets"] if f.formset.prefix == "phone_numbers")


def add_number(client, business: Business, number: str, *, saved: list[PhoneNumber] = ()):
    """Post the settings page with the business's ``saved`` numbers as they are and one new row."""
    rows = {}
    for i, row in enumerate(saved):
        rows.update({f"phone_numbers-{i}-id": str(row.pk), f"phone_numbers-{i}-number": row.number})
    new = len(saved)
    rows.update({f"phone_numbers-{new}-number": number, f"phone_numbers-{new}-label": ""})
    return post_settings(
        client,
        business,
        **{"phone_numbers-TOTAL_FORMS": str(new + 1), "phone_numbers-INITIAL_FORMS": str(new)},
        **rows,
    )


def test_a_business_number_with_a_digit_missing_is_refused_and_nothing_is_saved(owner_client, business_a):
    response = add_number(owner_client, business_a, "0521234")
    form = numbers_formset(response).forms[0]
    assert form.has_error("number", code="invalid_phone")
    assert form.errors["number"] == [
        hebrew(
            "“%(value)s” is not a valid phone number: check the prefix and the number of digits. "
            "Write it like 050-2345678 or +972502345678.",
            value="0521234",
        )
    ]
    assert not PhoneNumber.objects.exists()


def test_the_business_own_number_added_again_says_the_business_has_it(owner_client, business_a):
    own = factories.make_phone_number(business_a, "+97233763805")
    response = add_number(owner_client, business_a, "03-376-3805", saved=[own])
    form = numbers_formset(response).forms[1]
    assert form.has_error("number", code="number_already_here")
    assert form.errors["number"] == [hebrew("This business already has the number %(number)s.", number="03-376-3805")]
    assert list(PhoneNumber.objects.values_list("business_id", "number")) == [(business_a.pk, "+97233763805")]


def test_a_number_of_another_business_still_says_another_business_has_it(owner_client, business_a, business_b):
    factories.make_phone_number(business_b, "+97233763805")
    response = add_number(owner_client, business_a, "03-376-3805")
    form = numbers_formset(response).forms[0]
    assert form.has_error("number", code="number_taken")
    assert not PhoneNumber.objects.filter(business=business_a).exists()


def test_the_same_new_number_twice_in_one_save_is_refused(owner_client, business_a):
    response = post_settings(
        owner_client,
        business_a,
        **{
            "phone_numbers-TOTAL_FORMS": "2",
            "phone_numbers-0-number": "03-376-3805",
            "phone_numbers-1-number": "033763805",
        },
    )
    assert numbers_formset(response).non_form_errors()
    assert not PhoneNumber.objects.exists()


def test_a_number_saved_before_the_stricter_check_does_not_block_saving_the_settings(owner_client, business_a):
    """050-1 is not an allocated range, but a number stored earlier must not lock the owner out of the page."""
    old = factories.make_phone_number(business_a, "+972501234567")
    response = post_settings(
        owner_client,
        business_a,
        greeting="שלום, מרפאת אלון",
        **{
            "phone_numbers-TOTAL_FORMS": "1",
            "phone_numbers-INITIAL_FORMS": "1",
            "phone_numbers-0-id": str(old.pk),
            "phone_numbers-0-number": "+972501234567",
        },
    )
    assert response.status_code == 302
    business_a.refresh_from_db()
    assert business_a.greeting == "שלום, מרפאת אלון"


# --- the lead form -----------------------------------------------------------------------------------------


def lead_data(lead: Lead, **changes) -> dict:
    data = {
        "name": lead.name,
        "phone": lead.phone,
        "business": lead.business_id,
        "status": lead.status,
        "source": lead.source,
        "notes": lead.notes,
        "calls-TOTAL_FORMS": "0",
        "calls-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def post_lead(client, lead: Lead, **changes):
    with translation.override("he"):
        return client.post(
            reverse("admin:crm_lead_change", args=[lead.pk]), lead_data(lead, **changes), HTTP_ACCEPT_LANGUAGE="he"
        )


def stored_lead(lead: Lead) -> dict:
    return Lead.objects.values().get(pk=lead.pk)


@pytest.fixture
def lead(business_a):
    return factories.make_lead(business_a, "+972502345678", "דנה כהן", notes="לחזור אחרי 17:00")


def test_a_lead_phone_with_a_digit_missing_is_refused_and_nothing_changes(staff_client, lead):
    before = stored_lead(lead)
    response = post_lead(staff_client, lead, phone="0521234")
    assert has_error(response, "phone", "invalid_phone")
    assert "0521234" in form_errors(response, "phone")[0]
    assert stored_lead(lead) == before
    assert not Lead.objects.filter(phone="+9720521234").exists()


def test_a_new_lead_with_a_digit_missing_is_not_created(staff_client, business_a):
    with translation.override("he"):
        response = staff_client.post(
            reverse("admin:crm_lead_add"),
            {"name": "אבי", "phone": "0521234", "business": business_a.pk, "status": "new", "source": "manual"},
            HTTP_ACCEPT_LANGUAGE="he",
        )
    assert has_error(response, "phone", "invalid_phone")
    assert not Lead.objects.exists()


def test_a_lead_whose_caller_number_the_metadata_does_not_know_can_still_be_edited(staff_client, business_a):
    """The number came from the carrier (the lead called us); editing the notes must not be refused for it."""
    caller = factories.make_lead(business_a, "+972501234567", "יוסי")
    assert post_lead(staff_client, caller, notes="מעדיף וואטסאפ").status_code == 302
    caller.refresh_from_db()
    assert (caller.phone, caller.notes) == ("+972501234567", "מעדיף וואטסאפ")


def test_notes_over_the_limit_are_refused_with_the_numbers_and_nothing_changes(staff_client, lead):
    before = stored_lead(lead)
    response = post_lead(staff_client, lead, notes="a" * 500_000)
    assert has_error(response, "notes", "long_notes")
    assert form_errors(response, "notes") == [
        hebrew(
            "The notes are too long (%(count)d characters; at most %(max)d). Keep what the next call needs.",
            count=500_000,
            max=MAX_LEAD_NOTES_CHARS,
        )
    ]
    assert stored_lead(lead) == before


def test_notes_at_the_limit_are_saved(staff_client, lead):
    assert post_lead(staff_client, lead, notes="א" * MAX_LEAD_NOTES_CHARS).status_code == 302
    lead.refresh_from_db()
    assert len(lead.notes) == MAX_LEAD_NOTES_CHARS


def test_a_3_mb_form_gets_the_hebrew_page_saying_it_is_too_large_and_nothing_changes(staff_client, lead):
    before = stored_lead(lead)
    response = post_lead(staff_client, lead, notes="א" * (3 * 1024 * 1024 // 2))
    assert response.status_code == 400
    page = response.content.decode()
    assert '<html lang="he" dir="rtl">' in page
    assert "הטופס גדול מדי" in page and "לא נשמר" in page and "2.5 MB" in page
    assert "Bad Request" not in page
    assert stored_lead(lead) == before
