"""Leads in and out as CSV / Excel (django-import-export).

Imports land in one business, chosen on the import form from the user's own businesses; whatever a file says
about businesses is ignored. Columns carry the names people read ("טלפון", "שם"; the same in English for an
English admin), and a file's headers are matched in any of the admin's languages, so the template, an export
and an older file with field names all import. Phones must be valid numbers and are stored in E.164, so
"050-234 5678" in a file finds the lead "+972502345678": an existing lead is updated (the preview says so), the
same number twice in one file is an error on the second row. Empty cells are empty text, dates are read day
first (settings.DATE_INPUT_FORMATS), and a file that is not a table of leads is refused by the import form
with a message that says what to upload (backoffice/lead_import.py).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources, widgets
from import_export.formats.base_formats import CSV, XLSX
from import_export.forms import ConfirmImportForm, ImportForm, SelectableFieldsExportForm
from import_export.results import Result, RowResult

from backoffice.lead_import import (
    LEAD_COLUMNS,
    NOT_IMPORTED,
    UnreadableLeadFile,
    column_label,
    empty_file_message,
    field_for_header,
    header_aliases,
    is_blank_row,
    read_lead_file,
)
from crm.models import Business, Lead
from crm.phone_text import isolate_ltr, phone_text
from crm.phones import display_phone, valid_phone

# The columns of the downloadable template: what an import reads, in the export's order.
TEMPLATE_COLUMNS = tuple(name for name in LEAD_COLUMNS if name not in NOT_IMPORTED)


def cell_text(value: Any) -> str:
    """A cell as text: "" for an empty cell, "502345678" for the number Excel made of 0502345678."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def phone_error(raw: Any) -> str | None:
    """Why a cell is not a lead's phone ("" → missing, "0521234" → not a valid number), or None when it is."""
    text = cell_text(raw)
    if not text:
        return gettext("The phone number is missing: every lead needs one.")
    if valid_phone(text) is None:
        return gettext("“%(value)s” is not a phone number.") % {"value": isolate_ltr(text)}
    return None


class PhoneWidget(widgets.CharWidget):
    def clean(self, value, row=None, **kwargs):
        error = phone_error(value)
        if error:
            raise ValueError(error)
        return valid_phone(cell_text(value))

    def render(self, value, obj=None, **kwargs):
        return display_phone(value) if value else ""


class TextWidget(widgets.CharWidget):
    """Text columns: an empty cell is empty text (the columns are NOT NULL), a number cell its digits."""

    def clean(self, value, row=None, **kwargs):
        return cell_text(value)


class DayFirstDateWidget(widgets.DateWidget):
    """Dates as Israelis type them (31/12/2025, 31.12.2025, 31-12-2025, 31/12/25) or ISO, from
    settings.DATE_INPUT_FORMATS; Excel's own date cells as they are. Exported in the first of those formats."""

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, datetime):  # an Excel date cell
            return value.date()
        if isinstance(value, date):
            return value
        text = cell_text(value)
        if not text:
            return None
        for input_format in settings.DATE_INPUT_FORMATS:
            try:
                return datetime.strptime(text, input_format).date()
            except ValueError:
                continue
        raise ValueError(
            gettext("“%(value)s” is not a date: write it as day/month/year, for example 31/12/2025.")
            % {"value": isolate_ltr(text)}
        )


class StatusWidget(widgets.Widget):
    """A status by its code ("new") or by its label in the current language ("חדש")."""

    def clean(self, value, row=None, **kwargs):
        text = cell_text(value)
        if not text:
            return Lead.Status.NEW
        for code, label in Lead.Status.choices:
            if text.lower() in (code, str(label).lower()):
                return code
        raise ValueError(
            _("Unknown status “%(value)s”; use one of: %(choices)s.")
            % {"value": text, "choices": ", ".join(str(label) for _code, label in Lead.Status.choices)}
        )

    def render(self, value, obj=None, **kwargs):
        return str(Lead.Status(value).label) if value in Lead.Status.values else (value or "")


class BusinessWidget(widgets.ForeignKeyWidget):
    """Exports the business's name; on import the column is ignored (the business is chosen on the form)."""

    def __init__(self, **kwargs):
        super().__init__(Business, **kwargs)

    def render(self, value, obj=None, **kwargs):
        return value.name if value else ""


class OwnerWidget(widgets.ForeignKeyWidget):
    """An owner by username, and only someone who works for the business being imported into."""

    def __init__(self, resource: LeadResource, **kwargs):
        from django.contrib.auth import get_user_model

        super().__init__(get_user_model(), field="username", **kwargs)
        self.resource = resource

    def get_queryset(self, value, row, *args, **kwargs):
        business = self.resource.business
        return self.model.objects.filter(memberships__business=business) if business else self.model.objects.none()

    def clean(self, value, row=None, **kwargs):
        value = cell_text(value)
        if not value:
            return None
        try:
            return super().clean(value, row, **kwargs)
        except self.model.DoesNotExist as exc:
            raise ValueError(_("“%(value)s” is not a user of this business.") % {"value": value}) from exc


class LeadResource(resources.ModelResource):
    business = fields.Field(attribute="business", column_name="business", widget=BusinessWidget())
    phone = fields.Field(attribute="phone", column_name="phone", widget=PhoneWidget())
    name = fields.Field(attribute="name", column_name="name", widget=TextWidget())
    status = fields.Field(attribute="status", column_name="status", widget=StatusWidget())
    source = fields.Field(attribute="source", column_name="source", widget=TextWidget())
    interest = fields.Field(attribute="interest", column_name="interest", widget=TextWidget())
    callback_time = fields.Field(attribute="callback_time", column_name="callback_time", widget=TextWidget())
    notes = fields.Field(attribute="notes", column_name="notes", widget=TextWidget())
    next_follow_up = fields.Field(attribute="next_follow_up", column_name="next_follow_up", widget=DayFirstDateWidget())
    created_at = fields.Field(
        attribute="created_at", column_name="created_at", readonly=True, widget=widgets.DateTimeWidget()
    )

    class Meta:
        model = Lead
        fields = LEAD_COLUMNS
        export_order = fields
        import_id_fields = ("phone",)  # within the business chosen on the form (get_instance)
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True

    def __init__(self, business: Business | None = None, **kwargs):
        super().__init__(**kwargs)
        self.business = business
        self.fields["owner"] = fields.Field(attribute="owner", column_name="owner", widget=OwnerWidget(self))
        for field_name, field in self.fields.items():  # headers people read, in the active language
            field.column_name = str(column_label(field_name))
        self._seen_phones: dict[str, int] = {}

    def column(self, field_name: str) -> str:
        return self.fields[field_name].column_name

    def get_import_fields(self):
        """The preview's columns: the creation time is the database's, so a preview would show the clock."""
        return [self.fields[name] for name in self.get_import_order() if name != "created_at"]

    def get_user_visible_fields(self):
        """The columns an import reads (the import page lists them): the business is chosen on the form."""
        return [self.fields[name] for name in self.get_import_order() if name not in NOT_IMPORTED]

    def before_import(self, dataset, **kwargs):
        """Headers in any of the admin's languages are read as ours; every row goes to the chosen business,
        whatever the file says; the empty rows Excel keeps below the data are dropped."""
        if self.business is None:
            raise ValidationError(_("Choose the business to import into."))
        aliases = header_aliases()
        headers = []
        for header in dataset.headers or []:
            field_name = field_for_header(header, aliases)
            headers.append(self.column(field_name) if field_name else header)
        dataset.headers = headers
        if self.column("business") in headers:
            del dataset[self.column("business")]
        while len(dataset) and is_blank_row(dataset[-1]):
            del dataset[-1]
        self._seen_phones = {}

    def import_row(self, row, instance_loader, **kwargs):
        """An empty row between leads is skipped, not reported as a lead without a phone."""
        if is_blank_row(row.values()):
            row_result = self.get_row_result_class()()
            row_result.import_type = RowResult.IMPORT_TYPE_SKIP
            return row_result
        return super().import_row(row, instance_loader, **kwargs)

    def before_import_row(self, row, row_number=None, **kwargs):
        """A row needs a valid phone, and one not seen earlier in the file. The row keeps what the user typed
        (the error table shows it); the lead is looked up by the normalised number."""
        raw = row.get(self.column("phone"))
        error = phone_error(raw)
        if error:
            raise ValidationError({"phone": error})
        phone = valid_phone(cell_text(raw))
        assert phone is not None  # phone_error said it is valid
        first = self._seen_phones.setdefault(phone, row_number or 0)
        if first != (row_number or 0):
            raise ValidationError(
                {
                    "phone": _("Duplicate: %(phone)s is already on row %(row)s of this file.")
                    % {"phone": phone_text(phone), "row": first}
                }
            )

    def get_instance(self, instance_loader, row):
        phone = valid_phone(cell_text(row.get(self.column("phone"))))
        return Lead.objects.filter(business=self.business, phone=phone).first()

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        """An empty status cell leaves an existing lead's status as it is (a new lead starts as "new")."""
        if field is self.fields["status"] and instance.pk and not cell_text(row.get(field.column_name)):
            return
        super().import_field(field, instance, row, is_m2m, **kwargs)

    def import_instance(self, instance, row, **kwargs):
        super().import_instance(instance, row, **kwargs)
        instance.business = self.business  # never another business, whatever the row resolved to

    def after_import(self, dataset, result, **kwargs):
        """The file's headers, for the error table: it shows the columns the file has (invalid_rows_table)."""
        super().after_import(dataset, result, **kwargs)
        result.file_headers = [str(header or "") for header in dataset.headers or []]


def import_template_csv() -> bytes:
    """The file to start an import from: the import's columns in the user's language and one example lead,
    written by the export's own widgets so that it imports as it is. UTF-8 with a BOM, so Excel shows Hebrew."""
    resource = LeadResource()
    example = Lead(
        phone="+972502345678",
        name=gettext("Dana Cohen"),
        status=Lead.Status.NEW,
        source=gettext("website"),
        interest=gettext("A price quote"),
        callback_time=gettext("Afternoons, after 16:00"),
        notes=gettext("Example row: replace it with your leads."),
        next_follow_up=timezone.localdate() + timedelta(days=7),
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(resource.get_export_headers(selected_fields=TEMPLATE_COLUMNS))
    writer.writerow(resource.export_resource(example, selected_fields=TEMPLATE_COLUMNS))
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def invalid_rows_table(result: Result) -> dict[str, Any]:
    """The rows an import refused, for a table that shows each row's errors in words next to its cells
    (django-import-export only shows them on hover, under raw field names). Only the file's own columns are
    shown: the others would be "---" on every row."""
    in_file = set(getattr(result, "file_headers", None) or result.diff_headers)
    shown = [index for index, header in enumerate(result.diff_headers) if header in in_file]
    aliases = header_aliases()
    rows = []
    for row in result.invalid_rows:
        errors = [
            f"{column_label(name) if name in LEAD_COLUMNS else name}: {message}"
            for name, messages in row.field_specific_errors.items()
            for message in messages
        ]
        errors += [str(message) for message in row.non_field_specific_errors]
        cells = [
            {
                "text": cell_text(row.values[index]),
                "ltr": field_for_header(result.diff_headers[index], aliases) == "phone",
            }
            for index in shown
        ]
        rows.append({"number": row.number, "errors": errors, "cells": cells})
    return {"headers": [result.diff_headers[index] for index in shown], "rows": rows}


class LeadImportForm(ImportForm):
    """Chooses the business; reads the file here so that a file that is no table of leads gets a Hebrew
    message on the form, and hands the admin a CSV re-encoded as UTF-8 in the format its content has."""

    business = forms.ModelChoiceField(queryset=Business.objects.none(), label=_("Import into business"))
    field_order = ["business", "resource", "import_file", "format"]

    def __init__(self, formats, resources, *, businesses=None, **kwargs):
        super().__init__(formats, resources, **kwargs)
        self.import_formats = list(formats)
        self.fields["business"].queryset = businesses if businesses is not None else Business.objects.none()
        if businesses is not None and businesses.count() == 1:
            self.fields["business"].initial = businesses.first()
        self.fields["import_file"].error_messages["empty"] = empty_file_message()
        self.fields["format"].required = False  # the file's content decides (clean)
        self.fields["format"].help_text = _("Optional: the file's content decides.")

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("import_file")
        if upload is None:
            return cleaned
        upload.seek(0)
        try:
            lead_file = read_lead_file(upload.read(), upload.name)
        except UnreadableLeadFile as exc:
            self.add_error("import_file", exc.message)
            return cleaned
        cleaned["import_file"] = SimpleUploadedFile(upload.name, lead_file.content, upload.content_type)
        cleaned["format"] = self.format_index(XLSX if lead_file.kind == "xlsx" else CSV)
        return cleaned

    def format_index(self, kind: type) -> str:
        return str(next(index for index, fmt in enumerate(self.import_formats) if issubclass(fmt, kind)))


class LeadConfirmImportForm(ConfirmImportForm):
    business = forms.ModelChoiceField(queryset=Business.objects.none(), widget=forms.HiddenInput())

    def __init__(self, *args, businesses=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["business"].queryset = businesses if businesses is not None else Business.objects.none()


class LeadExportForm(SelectableFieldsExportForm):
    """The export's column checkboxes under the names the file's headers will have ("זמן מועדף לחזרה"),
    not django-import-export's title-cased field names ("Callback Time")."""

    def _get_field_label(self, resource, field_name: str) -> str:
        return str(column_label(field_name))
