"""The business's opening hours and closed dates on its settings page: one text box per weekday
("09:00-13:00, 16:00-19:00"; empty: closed) and one for closed dates, stored as ``Business.opening_hours``
and ``Business.closed_dates`` (format and parsing in ``crm.opening_hours``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.opening_hours import WEEKDAY_LABELS, WEEKDAYS, format_dates, format_ranges, parse_dates, parse_ranges

HOURS_FIELDS = [f"hours_{day}" for day in WEEKDAYS]
CLOSED_DATES_FIELD = "closed_dates_text"


def _hours_field(day: str) -> forms.CharField:
    return forms.CharField(
        label=WEEKDAY_LABELS[day],
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"dir": "ltr", "size": 40, "placeholder": "09:00-13:00, 16:00-19:00"}),
    )


class BusinessHoursFields(forms.Form):
    """Mixed into the business ModelForm (a ``forms.Form`` so that Django collects its fields)."""

    hours_sun = _hours_field("sun")
    hours_mon = _hours_field("mon")
    hours_tue = _hours_field("tue")
    hours_wed = _hours_field("wed")
    hours_thu = _hours_field("thu")
    hours_fri = _hours_field("fri")
    hours_sat = _hours_field("sat")
    closed_dates_text = forms.CharField(
        label=_("Closed dates"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "dir": "ltr", "cols": 20, "placeholder": "2025-04-13"}),
        help_text=_("Holidays and other closures, one date per line (2025-04-13 or 13/04/2025)."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = getattr(self, "instance", None)
        if instance is not None and not self.is_bound:
            hours = instance.opening_hours or {}
            for day in WEEKDAYS:
                self.initial.setdefault(f"hours_{day}", format_ranges(hours.get(day, [])))
            self.initial.setdefault(CLOSED_DATES_FIELD, format_dates(instance.closed_dates or []))

    # One clean_ method per day: Django reports each day's error next to its own box.
    def _clean_day(self, day: str) -> list[list[str]]:
        return parse_ranges(self.cleaned_data.get(f"hours_{day}") or "")

    def clean_hours_sun(self) -> list[list[str]]:
        return self._clean_day("sun")

    def clean_hours_mon(self) -> list[list[str]]:
        return self._clean_day("mon")

    def clean_hours_tue(self) -> list[list[str]]:
        return self._clean_day("tue")

    def clean_hours_wed(self) -> list[list[str]]:
        return self._clean_day("wed")

    def clean_hours_thu(self) -> list[list[str]]:
        return self._clean_day("thu")

    def clean_hours_fri(self) -> list[list[str]]:
        return self._clean_day("fri")

    def clean_hours_sat(self) -> list[list[str]]:
        return self._clean_day("sat")

    def clean_closed_dates_text(self) -> list[str]:
        return parse_dates(self.cleaned_data.get(CLOSED_DATES_FIELD) or "")

    def hours_and_dates(self) -> tuple[dict[str, list[list[str]]], list[str]] | None:
        """What to store (after ``is_valid()``); None when these boxes are not on the form."""
        if not all(name in self.cleaned_data for name in [*HOURS_FIELDS, CLOSED_DATES_FIELD]):
            return None
        hours = {day: self.cleaned_data[f"hours_{day}"] for day in WEEKDAYS if self.cleaned_data[f"hours_{day}"]}
        return hours, self.cleaned_data[CLOSED_DATES_FIELD]
