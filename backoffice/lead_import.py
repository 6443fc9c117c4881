"""Reading the lead files that Israeli sales staff actually upload, before django-import-export sees them.

Their files come from Excel: an .xlsx workbook, a "CSV UTF-8", or a plain "CSV" that Excel on a Hebrew Windows
writes in Windows-1255. Others are no table at all (a PDF, an old .xls, a damaged download, an empty file).
`read_lead_file` tells these apart, turns every CSV into UTF-8 so the rest of the import reads one encoding,
and refuses the rest with a Hebrew message that says what to upload instead, so no BadZipFile or
UnicodeDecodeError ever reaches a user. Column names are matched in any language the admin speaks
(`field_for_header`), so the template, an export and an older English file all import.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from typing import Any, Literal

import tablib  # type: ignore[import-untyped]  # no stubs; django-import-export's own reader returns it
from charset_normalizer import from_bytes
from django.conf import settings
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext
from import_export.formats.base_formats import CSV, XLSX

from crm.models import Business, Lead

# The columns a lead file may have, in the order of the template and the export.
LEAD_COLUMNS = (
    "business",
    "phone",
    "name",
    "status",
    "owner",
    "source",
    "interest",
    "callback_time",
    "notes",
    "next_follow_up",
    "created_at",
)
# Columns the import ignores: the business is chosen on the form, the creation time is the database's.
NOT_IMPORTED = frozenset({"business", "created_at"})
REQUIRED_COLUMN = "phone"

FileKind = Literal["csv", "xlsx"]

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 (.xls), old Word files
_UTF8_BOM = b"\xef\xbb\xbf"
# Latin text in cp1252 also decodes as Windows-1255, into words such as "Josי Garcםa": no real word mixes them.
_LATIN_BESIDE_HEBREW = re.compile(r"[A-Za-z][\u05d0-\u05ea]|[\u05d0-\u05ea][A-Za-z]")
# Windows-1255 is what Excel on a Hebrew Windows writes for "CSV"; cp1252 and the like would turn Hebrew into
# Latin letters, so they are never tried.
_LEGACY_HEBREW = "cp1255"


class UnreadableLeadFile(Exception):
    """A file that is no table of leads we can read; `message` says so in the user's language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class LeadFile:
    """An upload that was read: its kind, its content (CSV re-encoded as UTF-8) and its table."""

    kind: FileKind
    content: bytes
    dataset: tablib.Dataset


def column_label(field_name: str) -> str | Promise:
    """The column's name as people read it: the model field's verbose name (the business's for `business`)."""
    if field_name == "business":
        return Business._meta.verbose_name or "business"
    return getattr(Lead._meta.get_field(field_name), "verbose_name", None) or field_name


def _header_key(text: Any) -> str:
    """Headers compare without case, surrounding spaces, BOMs or the difference between "_" and " "."""
    return " ".join(str(text or "").replace("\ufeff", "").replace("_", " ").split()).casefold()


def header_aliases() -> dict[str, str]:
    """Every header that names a lead column, in every language the admin speaks, mapped to its field name."""
    aliases = {}
    for field_name in LEAD_COLUMNS:
        aliases[_header_key(field_name)] = field_name
        for language, _name in settings.LANGUAGES:
            with translation.override(language):
                aliases[_header_key(column_label(field_name))] = field_name
    return aliases


def field_for_header(header: Any, aliases: dict[str, str] | None = None) -> str | None:
    """The lead field a file's column header names ("טלפון", "Phone", "phone"), or None for another column."""
    return (aliases if aliases is not None else header_aliases()).get(_header_key(header))


def read_lead_file(data: bytes, name: str) -> LeadFile:
    """Read an upload as a table of leads, whatever format was chosen on the form: the content decides.

    Raises UnreadableLeadFile for an empty file, a file that is no CSV or .xlsx, text in an unknown encoding,
    a table without a phone column or without rows."""
    if not data.strip(b" \t\r\n" + _UTF8_BOM):
        raise UnreadableLeadFile(empty_file_message())
    if data.startswith(_OLE_MAGIC):
        raise UnreadableLeadFile(
            gettext(
                "“%(name)s” is an old Excel file (.xls). In Excel choose “Save as” → “Excel Workbook (.xlsx)” "
                "or “CSV UTF-8”, then upload the new file."
            )
            % {"name": name}
        )
    if data.startswith(_ZIP_MAGIC):
        lead_file = LeadFile("xlsx", data, _read_workbook(data, name))
    elif _looks_binary(data):
        raise UnreadableLeadFile(not_a_table_message(name))
    else:
        text = decode_csv(data, name)
        content = text.encode("utf-8")
        lead_file = LeadFile("csv", content, _read_csv(text, name))
    _check_columns_and_rows(lead_file.dataset)
    return lead_file


def empty_file_message() -> str:
    return gettext(
        "The file is empty. Upload the leads as an Excel workbook (.xlsx) or a CSV file, with the column names "
        "in the first row, as in the template."
    )


def not_a_table_message(name: str) -> str:
    return gettext(
        "“%(name)s” is not a CSV or Excel file that can be read: it may be damaged or another kind of file. "
        "Upload the leads as an Excel workbook (.xlsx) or a CSV file, as in the template."
    ) % {"name": name}


def decode_csv(data: bytes, name: str) -> str:
    """CSV text in UTF-8 (with or without a BOM) first, then in Windows-1255 when charset-normalizer finds the
    bytes read as sensible text in it and no word mixes Latin and Hebrew letters; anything else is refused
    rather than imported as gibberish."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data, cp_isolation=[_LEGACY_HEBREW]).best()
    if best is not None and not _LATIN_BESIDE_HEBREW.search(str(best)):
        return str(best)
    raise UnreadableLeadFile(
        gettext(
            "The letters in “%(name)s” could not be read: its encoding is neither UTF-8 nor Hebrew Windows "
            "(Windows-1255). In Excel choose “Save as” → “CSV UTF-8”, then upload the new file."
        )
        % {"name": name}
    )


def _looks_binary(data: bytes) -> bool:
    """Text files have no NUL bytes; PDFs, images and random bytes do, or say what they are up front."""
    return b"\x00" in data[:8192] or data.startswith(b"%PDF")


def _read_workbook(data: bytes, name: str) -> tablib.Dataset:
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise UnreadableLeadFile(not_a_table_message(name))
    try:
        return XLSX().create_dataset(data)
    except StopIteration as exc:  # a workbook whose first sheet has no row at all
        raise UnreadableLeadFile(empty_file_message()) from exc
    except Exception as exc:  # a zip that is no workbook (.docx, a damaged download): openpyxl says so many ways
        raise UnreadableLeadFile(not_a_table_message(name)) from exc


def _read_csv(text: str, name: str) -> tablib.Dataset:
    try:
        return CSV().create_dataset(text)
    except tablib.InvalidDimensions as exc:
        raise UnreadableLeadFile(
            gettext(
                "Some rows of “%(name)s” have more cells than its first row has column names. Check that every "
                "column has a name in the first row."
            )
            % {"name": name}
        ) from exc
    except Exception as exc:  # the csv module's own errors (a NUL byte, a broken quote)
        raise UnreadableLeadFile(not_a_table_message(name)) from exc


def _check_columns_and_rows(dataset: tablib.Dataset) -> None:
    headers = [header for header in (dataset.headers or []) if str(header or "").strip()]
    aliases = header_aliases()
    if not any(field_for_header(header, aliases) == REQUIRED_COLUMN for header in headers):
        found = ", ".join(f"“{str(header).strip()}”" for header in headers) or "—"
        raise UnreadableLeadFile(
            gettext(
                "The file has no “%(phone)s” column. Its first row must hold the column names, as in the "
                "template; the first row holds: %(found)s."
            )
            % {"phone": column_label(REQUIRED_COLUMN), "found": found}
        )
    if not any(not is_blank_row(row) for row in dataset):
        raise UnreadableLeadFile(gettext("The file has column names but no leads under them."))


def is_blank_row(values: Any) -> bool:
    """A row whose every cell is empty: Excel keeps such rows below the data when cells were formatted."""
    return all(value is None or not str(value).strip() for value in values)
