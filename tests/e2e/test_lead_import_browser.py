"""Importing leads in Chromium, as a sales person does: a broken file gets a Hebrew message on the form, a row
error is written in the preview table (readable without hovering), and a CSV from a Hebrew Excel
(Windows-1255) with a day-first date imports with its Hebrew intact. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import random
from datetime import date

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from crm.models import Lead, Membership
from tests.support import factories
from tests.support.browser import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("staff_groups"),
]


@pytest.fixture
def seller(db):
    business = factories.make_business("מרפאת שיניים אלון")
    user = factories.make_user("noa_sales")
    hasher = PBKDF2PasswordHasher()  # the server runs the production settings, which do not know the tests' MD5
    user.password = hasher.encode(factories.PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    factories.add_member(user, business, Membership.Role.STAFF)
    return user


def submit_file(page, server, name: str, content: bytes) -> None:
    page.goto(server.url + "/admin/crm/lead/import/")
    page.set_input_files("#id_import_file", files=[{"name": name, "mimeType": "text/csv", "buffer": content}])
    with page.expect_navigation():
        page.click("input[type=submit]")


def test_a_seller_imports_files_and_reads_every_problem_in_hebrew(page, daphne_server, seller, screenshots):
    log_in(page, daphne_server, seller)

    submit_file(page, daphne_server, "leads.xlsx", random.Random(15).randbytes(2048))
    error = page.locator("#id_import_file_error")
    assert error.is_visible()
    assert "leads.xlsx" in error.inner_text() and "BadZipFile" not in page.content()
    page.screenshot(path=str(screenshots / "lead-import-broken-file.png"), full_page=True)

    submit_file(page, daphne_server, "leads.csv", "טלפון,שם\n0521234,קצר מדי\n".encode())
    errors_cell = page.locator("table.import-errors td.row-errors").first
    assert errors_cell.is_visible()  # written in the table, not in a tooltip
    assert "טלפון" in errors_cell.inner_text() and "0521234" in errors_cell.inner_text()
    page.screenshot(path=str(screenshots / "lead-import-row-errors.png"), full_page=True)

    text = "טלפון,שם,המעקב הבא\r\n050-234-5678,דנה כהן,02/01/30\r\n"
    submit_file(page, daphne_server, "לידים.csv", text.encode("cp1255"))
    assert "דנה כהן" in page.locator("table.import-preview").inner_text()
    page.screenshot(path=str(screenshots / "lead-import-preview.png"), full_page=True)
    with page.expect_navigation():
        page.click("input[name=confirm]")
    lead = Lead.objects.get()
    assert (lead.name, lead.next_follow_up) == ("דנה כהן", date(2030, 1, 2))
