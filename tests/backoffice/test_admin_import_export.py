"""Leads in and out of CSV and Excel: a preview before anything is written, errors per row, duplicates by
normalised phone, and files Excel opens with Hebrew intact."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from backoffice.resources import LeadResource
from crm.models import Lead
from tests.support import factories

pytestmark = pytest.mark.django_db
IMPORT = "admin:crm_lead_import"
PROCESS = "admin:crm_lead_process_import"
EXPORT = "admin:crm_lead_export"
CSV_FORMAT = "0"  # LeadAdmin.formats = [CSV, XLSX]
XLSX_FORMAT = "1"


def upload(client, business, content: bytes, name: str = "leads.csv", fmt: str = CSV_FORMAT):
    return client.post(
        reverse(IMPORT),
        {
            "business": business.pk,
            "resource": "0",
            "format": fmt,
            "import_file": SimpleUploadedFile(name, content, content_type="text/csv"),
        },
    )


def export(client, fmt: str):
    """The export form with every column ticked (as it opens)."""
    columns = {f"leadresource_{name}": "on" for name in LeadResource().get_export_order()}
    return client.post(reverse(EXPORT), {"format": fmt, "resource": "0", **columns})


def csv_bytes(text: str, *, bom: bool = True) -> bytes:
    return ("\ufeff" if bom else "").encode() + text.encode("utf-8")


def test_import_previews_then_creates_leads_with_normalised_phones(owner_client, business_a):
    content = csv_bytes(
        "phone,name,status,interest,next_follow_up\n"
        "050-234 5678,דנה כהן,new,הלבנה,2030-01-02\n"
        "+972 52 765 4321,Yossi Levi,qualified,Implant,\n"
    )
    preview = upload(owner_client, business_a, content)
    assert preview.status_code == 200
    assert Lead.objects.count() == 0  # a preview writes nothing
    result = preview.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert [row.import_type for row in result.rows] == ["new", "new"]
    confirm = preview.context["confirm_form"]
    assert confirm.initial["business"] == business_a.pk

    done = owner_client.post(reverse(PROCESS), {**confirm.initial, "business": business_a.pk})
    assert done.status_code == 302
    leads = dict(Lead.objects.values_list("phone", "name"))
    assert leads == {"+972502345678": "דנה כהן", "+972527654321": "Yossi Levi"}
    dana = Lead.objects.get(phone="+972502345678")
    assert dana.business == business_a and dana.next_follow_up.isoformat() == "2030-01-02"
    assert dana.interest == "הלבנה"


def test_an_existing_lead_is_recognised_by_its_normalised_phone_and_updated(owner_client, business_a):
    existing = factories.make_lead(business_a, "+972502345678", "דנה")
    preview = upload(owner_client, business_a, csv_bytes("phone,name\n0502345678,דנה כהן\n"))
    result = preview.context["result"]
    assert [row.import_type for row in result.rows] == ["update"]
    owner_client.post(reverse(PROCESS), {**preview.context["confirm_form"].initial})
    assert Lead.objects.count() == 1
    existing.refresh_from_db()
    assert existing.name == "דנה כהן"


def test_the_same_number_twice_in_one_file_is_an_error_on_the_second_row(owner_client, business_a):
    preview = upload(owner_client, business_a, csv_bytes("phone,name\n050-2345678,Dana\n+972502345678,Dana again\n"))
    result = preview.context["result"]
    assert result.has_validation_errors()
    assert "confirm_form" not in preview.context  # nothing can be imported until the file is fixed
    invalid = result.invalid_rows
    assert [row.number for row in invalid] == [2]
    with translation.override("he"):  # the admin's language; the message names the first row with that number
        expected = gettext("Duplicate: %(phone)s is already on row %(row)s of this file.")
    assert expected % {"phone": "\u2066050-234-5678\u2069", "row": 1} in invalid[0].error_dict["phone"][0]
    body = preview.content.decode()
    assert "validation-error-list" in body


def test_invalid_rows_are_reported_one_by_one(owner_client, business_a):
    content = csv_bytes("phone,name,status\nnot a phone,Nobody,new\n050-2345678,Dana,new\n0522345678,Avi,maybe\n")
    preview = upload(owner_client, business_a, content)
    result = preview.context["result"]
    errors = {row.number: row.error_dict for row in result.invalid_rows}
    assert set(errors) == {1, 3}
    assert "phone" in errors[1] and "not a phone" in str(errors[1]["phone"])
    assert "status" in errors[3] and "maybe" in str(errors[3]["status"])
    assert Lead.objects.count() == 0


def test_import_ignores_a_business_column_and_cannot_target_another_business(owner_client, business_a, business_b):
    content = csv_bytes(f"business,phone,name\n{business_b.pk},0502345678,Dana\n")
    preview = upload(owner_client, business_a, content)
    owner_client.post(reverse(PROCESS), {**preview.context["confirm_form"].initial})
    assert Lead.objects.get().business == business_a
    refused = upload(owner_client, business_b, content)
    assert "business" in refused.context["form"].errors
    forged = owner_client.post(reverse(PROCESS), {**preview.context["confirm_form"].initial, "business": business_b.pk})
    assert forged.status_code == 200  # the confirm form is invalid: nothing is imported into B
    assert not Lead.objects.filter(business=business_b).exists()


def test_owner_column_accepts_only_people_of_the_business(owner_client, business_a, staff_a, owner_b):
    content = csv_bytes("phone,name,owner\n0502345678,Dana,staff_a\n0522345678,Avi,owner_b\n")
    result = upload(owner_client, business_a, content).context["result"]
    errors = {row.number: row.error_dict for row in result.invalid_rows}
    assert list(errors) == [2] and "owner" in errors[2]


def test_excel_import(owner_client, business_a):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["phone", "name", "status"])
    sheet.append([972502345678, "דנה", "חדש"])  # a number cell, and the status by its Hebrew label
    buffer = io.BytesIO()
    book.save(buffer)
    preview = upload(owner_client, business_a, buffer.getvalue(), name="leads.xlsx", fmt=XLSX_FORMAT)
    result = preview.context["result"]
    assert not result.has_validation_errors(), [r.error_dict for r in result.invalid_rows]
    owner_client.post(reverse(PROCESS), {**preview.context["confirm_form"].initial})
    assert Lead.objects.get().phone == "+972502345678"


def test_csv_export_starts_with_a_bom_and_keeps_hebrew(owner_client, business_a, business_b):
    factories.make_lead(business_a, "+972502345678", "דנה כהן", interest="הלבנה")
    factories.make_lead(business_b, "+972522345678", "B lead")
    response = export(owner_client, CSV_FORMAT)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    text = response.content.decode("utf-8-sig")
    assert "דנה כהן" in text and "הלבנה" in text
    assert "050-234-5678" in text  # phones in the local format people dial
    assert "B lead" not in text  # only the user's businesses


def test_xlsx_export(owner_client, business_a):
    factories.make_lead(business_a, "+972502345678", "דנה כהן")
    response = export(owner_client, XLSX_FORMAT)
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.values)
    assert rows[0][:3] == ("עסק", "טלפון", "שם")  # the column names people read
    assert rows[1][1:3] == ("050-234-5678", "דנה כהן")


def test_exported_csv_imports_back_as_updates(owner_client, business_a):
    factories.make_lead(business_a, "+972502345678", "דנה כהן")
    exported = export(owner_client, CSV_FORMAT).content
    result = upload(owner_client, business_a, exported).context["result"]
    assert not result.has_validation_errors(), [r.error_dict for r in result.invalid_rows]
    assert [row.import_type for row in result.rows] == ["skip"]  # unchanged


def test_import_page_offers_only_the_users_businesses(owner_client, business_a, business_b):
    body = owner_client.get(reverse(IMPORT)).content.decode()
    assert business_a.name in body and business_b.name not in body
    assert re.search(r'name="business"', body)


def test_the_export_checkboxes_carry_the_columns_hebrew_names(owner_client):
    body = owner_client.get(reverse(EXPORT)).content.decode()
    assert "זמן מועדף לחזרה" in body and "המעקב הבא" in body
    assert "Callback Time" not in body and "Next Follow Up" not in body
