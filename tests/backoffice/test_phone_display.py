"""One way to show a phone: the local format people dial, isolated from the Hebrew around it.

HTML places get <bdi dir="ltr" class="phone"> (backoffice/phone_display.py, the `phone` filter); plain text
(titles, breadcrumbs, history, select options, messages) gets the Unicode isolates LRI … PDI (crm/phone_text.py).
Without them right-to-left turns "+972501234567" into "972501234567+" and "050-123 4567" into "4567 050-123".
"""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.utils import translation

from backoffice.phone_display import isolated_hint, phone_html, route_html
from crm.models import Call, Lead, PhoneNumber, Recording
from crm.phone_text import phone_text, route_text
from tests.support import factories

LRI, PDI = "\u2066", "\u2069"


def render(template: str, **context) -> str:
    return Template(template).render(Context(context))


# --- Plain text ------------------------------------------------------------------------------------------------
def test_plain_text_shows_an_israeli_number_in_the_local_format_between_isolates():
    assert phone_text("+972501234567") == f"{LRI}050-123-4567{PDI}"
    assert phone_text("+97233763805") == f"{LRI}03-376-3805{PDI}"


def test_plain_text_shows_a_number_typed_any_way_in_the_same_local_format():
    assert phone_text("050-123 4567") == phone_text("00972501234567") == f"{LRI}050-123-4567{PDI}"


def test_plain_text_shows_a_foreign_number_in_international_format():
    assert phone_text("+14158675309") == f"{LRI}+1 415-867-5309{PDI}"


@pytest.mark.parametrize("hidden", ["", None, "anonymous", "client:alice", "Restricted"])
def test_no_number_or_a_hidden_caller_is_a_dash(hidden):
    assert phone_text(hidden) == "—"


def test_who_called_whom_points_from_the_caller_in_the_reading_direction():
    with translation.override("he"):  # right to left: the caller is on the right, the arrow points left
        assert route_text("+972501234567", "+97233763805") == f"{LRI}050-123-4567{PDI} ← {LRI}03-376-3805{PDI}"
    with translation.override("en"):
        assert route_text("+972501234567", "+97233763805") == f"{LRI}050-123-4567{PDI} → {LRI}03-376-3805{PDI}"


# --- HTML ------------------------------------------------------------------------------------------------------
def test_html_isolates_the_local_format_left_to_right_on_one_line():
    assert phone_html("+972501234567") == '<bdi dir="ltr" class="phone">050-123-4567</bdi>'


def test_html_shows_a_foreign_number_in_international_format():
    assert phone_html("+14158675309") == '<bdi dir="ltr" class="phone">+1 415-867-5309</bdi>'


@pytest.mark.parametrize("hidden", ["", None, "anonymous"])
def test_html_for_no_number_is_a_dash(hidden):
    assert phone_html(hidden) == "—"


def test_html_route_isolates_both_numbers_around_the_arrow():
    with translation.override("he"):
        html = route_html("+972501234567", "")
    assert html == ('<span class="phone-route"><bdi dir="ltr" class="phone">050-123-4567</bdi> ← —</span>')


# --- The template filter -----------------------------------------------------------------------------------------
def test_the_phone_filter_is_the_one_way_templates_show_a_number():
    html = render("{% load backoffice_admin %}<p>{{ number|phone }}</p>", number="+972501234567")
    assert html == '<p><bdi dir="ltr" class="phone">050-123-4567</bdi></p>'


def test_the_phone_filter_shows_a_dash_for_a_hidden_caller_and_for_text_that_is_no_number():
    assert render("{% load backoffice_admin %}{{ n|phone }}", n="anonymous") == "—"
    assert render("{% load backoffice_admin %}{{ n|phone }}", n="<script>") == "—"


def test_the_follow_ups_local_phone_filter_is_the_same_filter():
    same = "{% load followups_admin backoffice_admin %}{{ n|local_phone }}|{{ n|phone }}"
    local, phone = render(same, n="+97233763805").split("|")
    assert local == phone == '<bdi dir="ltr" class="phone">03-376-3805</bdi>'


# --- Hints among Hebrew -------------------------------------------------------------------------------------------
def test_a_search_hint_isolates_its_examples():
    hint = isolated_hint("Phone (%(local)s, %(international)s)", local="050-123 4567", international="+972…")
    assert str(hint) == f"Phone ({LRI}050-123 4567{PDI}, {LRI}+972…{PDI})"


def test_the_leads_search_hint_isolates_the_numbers_it_shows():
    from backoffice.admin_leads import LeadAdmin

    assert f"{LRI}050-123 4567{PDI}" in str(LeadAdmin.search_help_text)
    assert f"{LRI}+972…{PDI}" in str(LeadAdmin.search_help_text)


# --- The models' plain text: titles, breadcrumbs, history, select options ------------------------------------------
def test_a_lead_reads_as_its_name_and_its_isolated_local_number():
    assert str(Lead(name="דנה כהן", phone="+972501234567")) == f"דנה כהן {LRI}050-123-4567{PDI}"
    assert str(Lead(name="", phone="+972501234567")) == f"{LRI}050-123-4567{PDI}"


def test_a_call_and_its_recording_read_as_who_called_whom():
    call = Call(from_number="+972501234567", to_number="+97233763805", call_sid="CA1")
    with translation.override("he"):
        assert str(call) == f"{LRI}050-123-4567{PDI} ← {LRI}03-376-3805{PDI}"
        recording = Recording(call=call, kind=Recording.Kind.CALL)
        assert str(recording).endswith(f" · {LRI}050-123-4567{PDI} ← {LRI}03-376-3805{PDI}")


def test_a_hidden_caller_reads_as_a_dash():
    with translation.override("he"):
        assert str(Call(from_number="anonymous", to_number="+97233763805")) == f"— ← {LRI}03-376-3805{PDI}"


def test_a_business_number_reads_in_the_local_format():
    assert str(PhoneNumber(number="+97233763805")) == f"{LRI}03-376-3805{PDI}"


# --- Admin pages ---------------------------------------------------------------------------------------------------
BDI_LEAD = '<bdi dir="ltr" class="phone">050-123-4567</bdi>'


@pytest.fixture
def lead_a(business_a):
    return factories.make_lead(business_a, "+972501234567", "דנה כהן")


def test_the_lead_page_title_and_breadcrumbs_hold_the_isolated_number(staff_client, lead_a):
    body = staff_client.get(f"/admin/crm/lead/{lead_a.pk}/change/").content.decode()
    title = body.split("<title>", 1)[1].split("</title>", 1)[0]
    assert f"דנה כהן {LRI}050-123-4567{PDI}" in title
    breadcrumbs = body.split('<div class="breadcrumbs">', 1)[1].split("</div>", 1)[0]
    assert f"{LRI}050-123-4567{PDI}" in breadcrumbs
    assert "+972501234567" not in title + breadcrumbs


def test_the_leads_list_shows_numbers_through_the_one_filter(staff_client, lead_a):
    body = staff_client.get("/admin/crm/lead/").content.decode()
    assert BDI_LEAD in body


def test_the_recordings_list_shows_who_called_whom_in_the_local_format(staff_client, lead_a, business_a):
    call = factories.make_call(business_a, lead_a)
    factories.make_recording(call)
    body = staff_client.get("/admin/crm/recording/").content.decode()
    assert f'{BDI_LEAD} ← <bdi dir="ltr" class="phone">03-376-3805</bdi>' in body
    assert "+97233763805" not in body


def test_the_call_page_shows_both_numbers_through_the_one_filter(staff_client, lead_a, business_a):
    call = factories.make_call(business_a, lead_a)
    body = staff_client.get(f"/admin/crm/call/{call.pk}/change/").content.decode()
    assert BDI_LEAD in body and '<bdi dir="ltr" class="phone">03-376-3805</bdi>' in body
    title = body.split("<title>", 1)[1].split("</title>", 1)[0]
    assert f"{LRI}050-123-4567{PDI}" in title


def test_staff_who_only_look_at_a_business_read_its_numbers_in_the_local_format(staff_client, business_a):
    factories.make_phone_number(business_a, "+97233763805")
    body = staff_client.get(f"/admin/crm/business/{business_a.pk}/change/").content.decode()
    assert '<bdi dir="ltr" class="phone">03-376-3805</bdi>' in body
    assert "+97233763805" not in body


def test_owners_still_edit_the_business_number_itself(owner_client, business_a):
    factories.make_phone_number(business_a, "+97233763805")
    body = owner_client.get(f"/admin/crm/business/{business_a.pk}/change/").content.decode()
    assert 'name="phone_numbers-0-number"' in body


def test_the_sample_rate_in_the_greeting_preview_reads_left_to_right(owner_client, business_a):
    body = owner_client.get(f"/admin/crm/business/{business_a.pk}/change/").content.decode()
    assert '(<bdi dir="ltr">8 kHz</bdi>)' in body
