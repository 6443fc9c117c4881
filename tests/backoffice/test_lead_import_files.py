"""The lead files Israeli sales staff actually upload, posted through the admin's import pages by a staff member
of a business: Excel workbooks with empty cells, CSV saved by a Hebrew Excel in Windows-1255, dates typed day
first, and files that are no table at all. Each gets either a correct import or a Hebrew message that says what
is wrong and what to upload, and a refused file or row changes nothing."""

from __future__ import annotations

import io
import random
import re
import zipfile
from datetime import date, datetime

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext

from crm.models import Lead
from tests.backoffice.conftest import logged_in
from tests.support import factories

pytestmark = pytest.mark.django_db
IMPORT = "admin:crm_lead_import"
PROCESS = "admin:crm_lead_process_import"
TEMPLATE = "admin:crm_lead_import_template"
CSV_FORMAT = "0"  # LeadAdmin.formats = [CSV, XLSX]
XLSX_FORMAT = "1"
HEBREW_HEADERS = ["טלפון", "שם", "סטטוס", "תחום עניין", "הערות", "המעקב הבא"]


def he(msgid: str, **params: object) -> str:
    """A message as the admin shows it: in Hebrew, the admin's language."""
    with translation.override("he"):
        text = gettext(msgid)
    return text % params if params else text


def upload(client, business, content: bytes, name: str, fmt: str = CSV_FORMAT):
    return client.post(
        reverse(IMPORT),
        {
            "business": business.pk,
            "resource": "0",
            "format": fmt,
            "import_file": SimpleUploadedFile(name, content, content_type="application/octet-stream"),
        },
    )


def confirm(client, preview):
    """The preview's "confirm import" button."""
    return client.post(reverse(PROCESS), {**preview.context["confirm_form"].initial})


def workbook(*rows: list) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def file_errors(response) -> list[str]:
    return list(response.context["form"].errors.get("import_file", []))


def error_cells(response) -> list[str]:
    """The text of the errors column of the refused-rows table, as a user reads it (not on hover)."""
    cells = re.findall(r'<td class="row-errors">(.*?)</td>', response.content.decode(), re.S)
    return [re.sub(r"<[^>]+>", " ", cell) for cell in cells]


def test_a_workbook_with_empty_cells_imports_them_as_empty(staff_client, business_a):
    content = workbook(
        HEBREW_HEADERS,
        ["050-234-5678", "דנה כהן", None, None, None, None],
        ["052-234-5678", None, "חדש", "שתל", None, None],
        [None, None, None, None, None, None],  # Excel keeps formatted empty rows below the data
    )
    preview = upload(staff_client, business_a, content, "לידים.xlsx", XLSX_FORMAT)
    result = preview.context["result"]
    assert not result.has_errors() and not result.has_validation_errors(), error_cells(preview)
    assert [row.import_type for row in result.rows] == ["new", "new"]
    assert confirm(staff_client, preview).status_code == 302
    dana = Lead.objects.get(phone="+972502345678")
    assert (dana.name, dana.notes, dana.interest, dana.next_follow_up) == ("דנה כהן", "", "", None)
    assert Lead.objects.get(phone="+972522345678").name == ""


def test_a_row_without_a_phone_is_a_row_error_in_the_table_and_nothing_is_saved(staff_client, business_a):
    content = workbook(HEBREW_HEADERS, ["050-234-5678", "דנה", None, None, None, None], [None, "בלי טלפון", None])
    preview = upload(staff_client, business_a, content, "leads.xlsx", XLSX_FORMAT)
    result = preview.context["result"]
    assert [row.number for row in result.invalid_rows] == [2]
    assert "confirm_form" not in preview.context
    missing = he("The phone number is missing: every lead needs one.")
    assert any(missing in cell and "טלפון" in cell for cell in error_cells(preview))
    assert "בלי טלפון" in preview.content.decode()  # the row as the file has it, next to its error
    assert not Lead.objects.exists()


def test_a_windows_1255_csv_from_hebrew_excel_imports_with_its_hebrew_intact(staff_client, business_a):
    text = "טלפון,שם,תחום עניין,המעקב הבא\r\n050-234-5678,דנה כהן,הלבנת שיניים,02/01/30\r\n"
    preview = upload(staff_client, business_a, text.encode("cp1255"), "לידים.csv")
    assert file_errors(preview) == []
    result = preview.context["result"]
    assert not result.has_validation_errors(), error_cells(preview)
    assert "דנה כהן" in preview.content.decode()
    confirm(staff_client, preview)
    dana = Lead.objects.get()
    assert (dana.name, dana.interest) == ("דנה כהן", "הלבנת שיניים")
    assert dana.next_follow_up == date(2030, 1, 2)  # day first: 2 January


@pytest.mark.parametrize("typed", ["02/01/2030", "2.1.2030", "02-01-2030", "02/01/30", "02.01.30", "2030-01-02"])
def test_dates_are_read_day_first_as_israelis_type_them(staff_client, business_a, typed):
    content = f"phone,next_follow_up\n050-234-5678,{typed}\n".encode()
    preview = upload(staff_client, business_a, content, "leads.csv")
    assert not preview.context["result"].has_validation_errors(), error_cells(preview)
    confirm(staff_client, preview)
    assert Lead.objects.get().next_follow_up == date(2030, 1, 2)


def test_an_excel_date_cell_is_read_as_its_date(staff_client, business_a):
    content = workbook(["phone", "next_follow_up"], ["0502345678", datetime(2030, 1, 2)])
    preview = upload(staff_client, business_a, content, "leads.xlsx", XLSX_FORMAT)
    confirm(staff_client, preview)
    assert Lead.objects.get().next_follow_up == date(2030, 1, 2)


def test_an_impossible_date_is_a_row_error_in_hebrew(staff_client, business_a):
    preview = upload(staff_client, business_a, "טלפון,המעקב הבא\n050-234-5678,31/02/2030\n".encode(), "leads.csv")
    expected = he(
        "“%(value)s” is not a date: write it as day/month/year, for example 31/12/2025.", value="\u206631/02/2030\u2069"
    )
    assert any(expected in cell for cell in error_cells(preview))
    assert "could not be parsed" not in preview.content.decode()
    assert not Lead.objects.exists()


def test_a_phone_with_too_few_digits_is_a_row_error(staff_client, business_a):
    preview = upload(staff_client, business_a, "טלפון,שם\n0521234,קצר מדי\n".encode(), "leads.csv")
    expected = he("“%(value)s” is not a phone number.", value="\u20660521234\u2069")
    assert any(expected in cell for cell in error_cells(preview))
    assert '<bdi dir="ltr" class="phone">0521234</bdi>' in preview.content.decode()  # as typed, left to right
    assert not Lead.objects.exists()


def test_random_bytes_named_xlsx_are_refused_with_a_message_saying_what_to_upload(staff_client, business_a):
    noise = random.Random(15).randbytes(4096)
    response = upload(staff_client, business_a, noise, "leads.xlsx", XLSX_FORMAT)
    expected = he(
        "“%(name)s” is not a CSV or Excel file that can be read: it may be damaged or another kind of file. "
        "Upload the leads as an Excel workbook (.xlsx) or a CSV file, as in the template.",
        name="leads.xlsx",
    )
    assert file_errors(response) == [expected]
    body = response.content.decode()
    assert escape(expected) in body
    assert "BadZipFile" not in body and "Traceback" not in body
    assert "result" not in response.context and not Lead.objects.exists()


def test_a_zip_that_is_no_workbook_is_refused(staff_client, business_a):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    response = upload(staff_client, business_a, buffer.getvalue(), "leads.xlsx", XLSX_FORMAT)
    assert file_errors(response) and "leads.xlsx" in file_errors(response)[0]
    assert not Lead.objects.exists()


def test_a_pdf_is_refused(staff_client, business_a):
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    response = upload(staff_client, business_a, pdf, "leads.pdf", CSV_FORMAT)
    assert file_errors(response) == [
        he(
            "“%(name)s” is not a CSV or Excel file that can be read: it may be damaged or another kind of file. "
            "Upload the leads as an Excel workbook (.xlsx) or a CSV file, as in the template.",
            name="leads.pdf",
        )
    ]
    assert not Lead.objects.exists()


def test_an_old_xls_file_is_refused_with_how_to_save_it_as_xlsx(staff_client, business_a):
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    response = upload(staff_client, business_a, ole, "leads.xls", XLSX_FORMAT)
    assert file_errors(response) == [
        he(
            "“%(name)s” is an old Excel file (.xls). In Excel choose “Save as” → “Excel Workbook (.xlsx)” "
            "or “CSV UTF-8”, then upload the new file.",
            name="leads.xls",
        )
    ]


@pytest.mark.parametrize(
    ("content", "name"),
    [(b"", "leads.csv"), (b"\xef\xbb\xbf\r\n", "leads.csv"), (workbook(), "leads.xlsx")],
    ids=["empty", "only-a-bom", "empty-workbook"],
)
def test_an_empty_file_is_refused(staff_client, business_a, content, name):
    response = upload(staff_client, business_a, content, name)
    assert file_errors(response) == [
        he(
            "The file is empty. Upload the leads as an Excel workbook (.xlsx) or a CSV file, with the column "
            "names in the first row, as in the template."
        )
    ]
    assert not Lead.objects.exists()


def test_a_file_with_only_column_names_is_refused(staff_client, business_a):
    response = upload(staff_client, business_a, "טלפון,שם\n".encode(), "leads.csv")
    assert file_errors(response) == [he("The file has column names but no leads under them.")]


def test_a_file_without_a_phone_column_names_the_columns_it_has(staff_client, business_a):
    response = upload(staff_client, business_a, "טלפון נייד,שם\n050-234-5678,דנה\n".encode(), "leads.csv")
    assert file_errors(response) == [
        he(
            "The file has no “%(phone)s” column. Its first row must hold the column names, as in the template; "
            "the first row holds: %(found)s.",
            phone="טלפון",
            found="“טלפון נייד”, “שם”",
        )
    ]


@pytest.mark.parametrize(
    "name",
    ["René Müller", "José García"],  # ü has no place in Windows-1255; é and í would read as "Josי Garcםa"
)
def test_text_in_an_unknown_encoding_is_refused_rather_than_garbled(staff_client, business_a, name):
    latin = f"phone,name\n050-234-5678,{name}\n".encode("cp1252")
    response = upload(staff_client, business_a, latin, "leads.csv")
    assert file_errors(response) == [
        he(
            "The letters in “%(name)s” could not be read: its encoding is neither UTF-8 nor Hebrew Windows "
            "(Windows-1255). In Excel choose “Save as” → “CSV UTF-8”, then upload the new file.",
            name="leads.csv",
        )
    ]
    assert not Lead.objects.exists()


def test_the_files_content_decides_its_format(staff_client, business_a):
    content = workbook(["טלפון", "שם"], ["050-234-5678", "דנה"])
    preview = upload(staff_client, business_a, content, "leads.xlsx", CSV_FORMAT)  # the wrong format chosen
    assert file_errors(preview) == []
    confirm(staff_client, preview)
    assert Lead.objects.get().name == "דנה"


def test_column_names_are_read_in_either_language_of_the_admin(staff_client, business_a):
    content = b"Phone,Name,Preferred callback time,Next follow-up\n050-234-5678,Dana,After 16:00,31/12/2030\n"
    preview = upload(staff_client, business_a, content, "english.csv")
    confirm(staff_client, preview)
    lead = Lead.objects.get()
    assert (lead.name, lead.callback_time, lead.next_follow_up) == ("Dana", "After 16:00", date(2030, 12, 31))


def test_an_empty_status_keeps_an_existing_leads_status(staff_client, business_a):
    factories.make_lead(business_a, "+972502345678", "דנה", status=Lead.Status.WON)
    preview = upload(staff_client, business_a, "טלפון,שם,סטטוס\n050-234-5678,דנה כהן,\n".encode(), "leads.csv")
    confirm(staff_client, preview)
    lead = Lead.objects.get()
    assert (lead.name, lead.status) == ("דנה כהן", Lead.Status.WON)


def test_the_import_page_names_columns_in_hebrew_and_links_the_template(staff_client):
    body = staff_client.get(reverse(IMPORT)).content.decode()
    assert "טלפון" in body and "זמן מועדף לחזרה" in body
    assert "callback_time" not in body and "next_follow_up" not in body
    assert f'href="{reverse(TEMPLATE)}"' in body


def test_the_preview_table_has_hebrew_column_headers(staff_client, business_a):
    preview = upload(staff_client, business_a, b"phone,name\n050-234-5678,Dana\n", "leads.csv")
    headers = preview.context["result"].diff_headers
    assert headers[:3] == ["עסק", "טלפון", "שם"]
    assert "<th>טלפון</th>" in preview.content.decode()


def test_the_template_file_opens_in_excel_with_hebrew_and_imports_as_it_is(staff_client, business_a):
    response = staff_client.get(reverse(TEMPLATE))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with a BOM
    lines = response.content.decode("utf-8-sig").splitlines()
    assert len(lines) == 2  # the column names and one example lead
    assert lines[0].split(",")[:3] == ["טלפון", "שם", "סטטוס"]
    assert "050-234-5678" in lines[1]
    preview = upload(staff_client, business_a, response.content, "template.csv")
    result = preview.context["result"]
    assert not result.has_errors() and not result.has_validation_errors(), error_cells(preview)
    assert [row.import_type for row in result.rows] == ["new"]


def test_the_template_needs_the_right_to_import(business_a):
    viewer = factories.make_user("viewer")  # staff, but no business and no lead permissions
    assert logged_in(viewer).get(reverse(TEMPLATE)).status_code == 403
