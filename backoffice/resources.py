"""Leads in and out as CSV / Excel (django-import-export).

Imports land in one business, chosen on the import form from the user's own businesses; whatever a file says
about businesses is ignored. Phones are normalised to E.164, so "050-1234567" in a file finds the lead
"+972501234567": an existing lead is updated (the preview says so), the same number twice in one file is an
error on the second row.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources, widgets
from import_export.forms import ConfirmImportForm, ImportForm

from crm.models import Business, Lead
from crm.phones import display_phone, normalize_phone


class PhoneWidget(widgets.CharWidget):
    def clean(self, value, row=None, **kwargs):
        text = str(value).strip() if value is not None else ""
        if text.endswith(".0") and text[:-2].isdigit():  # Excel turned the number into a float
            text = text[:-2]
        phone = normalize_phone(text)
        if phone is None:
            raise ValueError(_("“%(value)s” is not a phone number.") % {"value": text})
        return phone

    def render(self, value, obj=None, **kwargs):
        return display_phone(value) if value else ""


class StatusWidget(widgets.Widget):
    """A status by its code ("new") or by its label in the current language ("חדש")."""

    def clean(self, value, row=None, **kwargs):
        text = str(value or "").strip()
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
    """Exports the business's name; on import the column holds the business chosen on the form."""

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
        if not value:
            return None
        try:
            return super().clean(value, row, **kwargs)
        except self.model.DoesNotExist as exc:
            raise ValueError(_("“%(value)s” is not a user of this business.") % {"value": value}) from exc


class LeadResource(resources.ModelResource):
    business = fields.Field(attribute="business", column_name="business", widget=BusinessWidget())
    phone = fields.Field(attribute="phone", column_name="phone", widget=PhoneWidget())
    status = fields.Field(attribute="status", column_name="status", widget=StatusWidget())
    next_follow_up = fields.Field(
        attribute="next_follow_up", column_name="next_follow_up", widget=widgets.DateWidget(format="%Y-%m-%d")
    )
    created_at = fields.Field(
        attribute="created_at", column_name="created_at", readonly=True, widget=widgets.DateTimeWidget()
    )

    class Meta:
        model = Lead
        fields = (
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
        export_order = fields
        import_id_fields = ("business", "phone")
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True

    def __init__(self, business: Business | None = None, **kwargs):
        super().__init__(**kwargs)
        self.business = business
        self.fields["owner"] = fields.Field(attribute="owner", column_name="owner", widget=OwnerWidget(self))
        self._seen_phones: dict[str, int] = {}

    def before_import(self, dataset, **kwargs):
        """Every row goes to the chosen business, whatever the file says."""
        if self.business is None:
            raise ValidationError(_("Choose the business to import into."))
        if "business" in (dataset.headers or []):
            del dataset["business"]
        dataset.append_col([self.business.pk] * len(dataset), header="business")
        self._seen_phones = {}

    def before_import_row(self, row, row_number=None, **kwargs):
        """Normalise the phone before the lead is looked up, and refuse a number seen earlier in the file."""
        raw = row.get("phone")
        phone = normalize_phone(str(raw).removesuffix(".0") if raw is not None else "")
        if phone is None:
            raise ValidationError({"phone": _("“%(value)s” is not a phone number.") % {"value": raw or ""}})
        row["phone"] = phone
        first = self._seen_phones.setdefault(phone, row_number or 0)
        if first != (row_number or 0):
            raise ValidationError(
                {
                    "phone": _("Duplicate: %(phone)s is already on row %(row)s of this file.")
                    % {"phone": display_phone(phone), "row": first}
                }
            )

    def get_instance(self, instance_loader, row):
        return Lead.objects.filter(business=self.business, phone=row["phone"]).first()

    def import_instance(self, instance, row, **kwargs):
        super().import_instance(instance, row, **kwargs)
        instance.business = self.business  # never another business, whatever the row resolved to


class LeadImportForm(ImportForm):
    business = forms.ModelChoiceField(queryset=Business.objects.none(), label=_("Import into business"))
    field_order = ["business", "resource", "import_file", "format"]

    def __init__(self, formats, resources, *, businesses=None, **kwargs):
        super().__init__(formats, resources, **kwargs)
        self.fields["business"].queryset = businesses if businesses is not None else Business.objects.none()
        if businesses is not None and businesses.count() == 1:
            self.fields["business"].initial = businesses.first()


class LeadConfirmImportForm(ConfirmImportForm):
    business = forms.ModelChoiceField(queryset=Business.objects.none(), widget=forms.HiddenInput())

    def __init__(self, *args, businesses=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["business"].queryset = businesses if businesses is not None else Business.objects.none()
