"""Hebrew names for what the admin would otherwise show in English.

Some model fields carry no ``verbose_name`` (``Lead.business``, ``Membership.user``): Django then names them
after the field, a plain English string that no translation reaches ("BUSINESS" in a column header, "לפי
business" in a filter). Giving them one in crm/models.py would need a migration, so the admin names them here.
``Lead.source`` stores a short English word ("phone", "import"); staff read it through ``source_label``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop, ngettext_lazy

from crm.models import Lead

BUSINESS_LABEL = _("business")
STAFF_MEMBER_LABEL = _("staff member")

# The sources a lead is created with; a value not listed here (typed by hand) is shown as it is.
SOURCE_LABELS = {
    "phone": _("Phone call"),
    "import": _("Import"),
    "website": _("Website"),
    "manual": _("Entered by hand"),
}

# Strings shown by django-import-export, django-axes and Django's admin (the app list's headers for screen
# readers) that their own catalogues leave in English for Hebrew. Naming them here
# keeps them in our .po through every `makemessages`, which drops entries no source file mentions.
THIRD_PARTY_MSGIDS = [
    gettext_noop("Value could not be parsed."),
    gettext_noop("Select all"),
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
    gettext_noop("access attempt expiration"),
    gettext_noop("access attempt expirations"),
]

# Django's Hebrew catalogue lacks the fourth plural form, the one Hebrew uses for 0 and 3-9: "0 results".
ADMIN_RESULT_COUNT = ngettext_lazy("%(counter)s result", "%(counter)s results", "counter")


def source_label(source: str) -> str:
    """A lead's source the way staff say it; the stored value stays what imports and the agent write."""
    return str(SOURCE_LABELS.get(source, source))


def source_choices(current: str) -> list[tuple[str, str]]:
    """The sources a lead page offers, under their Hebrew names; the lead's own value stays among them even
    when it is not a known one, so saving the page never changes it unasked."""
    choices = [("", "—"), *((source, source_label(source)) for source in SOURCE_LABELS)]
    if current and current not in SOURCE_LABELS:
        choices.append((current, current))
    return choices


@admin.display(description=BUSINESS_LABEL, ordering="business__name")
def business_column(obj: Any) -> str:
    """The business column of a list (of any model with a ``business``), under a Hebrew header rather than
    the field's English name."""
    return str(obj.business)


class BusinessFilter(admin.RelatedOnlyFieldListFilter):
    """ "By business", with the businesses that appear in the list."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.title = BUSINESS_LABEL


class SourceFilter(admin.SimpleListFilter):
    """Leads by where they came from, each source under its Hebrew name."""

    title = _("source")
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        sources = model_admin.get_queryset(request).order_by("source").values_list("source", flat=True).distinct()
        return [(source, source_label(source)) for source in sources if source]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Lead]) -> QuerySet[Lead]:
        value = self.value()
        return queryset.filter(source=value) if value else queryset
