"""The dashboard's date range: a small GET form (from, to), read day first, and the period it stands for.

A bad range never breaks the page: the form says what is wrong, in Hebrew, and the dashboard shows the default
range instead (the last 14 days).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

DEFAULT_DAYS = 14
MAX_DAYS = 366  # a year, leap day included: longer ranges make unreadable charts and slow queries
PRESETS = (7, 14, 30)
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
# Always day first, whatever the interface language (the English locale would read 03/04 as March 4th).
INPUT_FORMATS = settings.DATE_INPUT_FORMATS
SHOWN_FORMAT = "%d/%m/%Y"


@dataclass(frozen=True)
class Period:
    """Local calendar days from ``first`` to ``last``, both included."""

    first: date
    last: date

    @classmethod
    def ending(cls, last: date, days: int) -> Period:
        return cls(last - timedelta(days=days - 1), last)

    @property
    def length(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(self.length)]

    def query(self) -> str:
        """The GET parameters that ask for this period."""
        return f"from={self.first:{SHOWN_FORMAT}}&to={self.last:{SHOWN_FORMAT}}"


class DateRangeForm(forms.Form):
    """``from`` and ``to`` (both optional): a missing ``to`` is today, a missing ``from`` makes the default
    length ending on ``to``."""

    from_ = forms.DateField(
        label=_("From"),
        required=False,
        input_formats=INPUT_FORMATS,
        widget=forms.DateInput(format=SHOWN_FORMAT, attrs={"inputmode": "numeric", "placeholder": "31/12/2030"}),
        error_messages={"invalid": _("The start date is not a date. Write it day first, like 31/12/2030.")},
    )
    to = forms.DateField(
        label=_("To"),
        required=False,
        input_formats=INPUT_FORMATS,
        widget=forms.DateInput(format=SHOWN_FORMAT, attrs={"inputmode": "numeric", "placeholder": "31/12/2030"}),
        error_messages={"invalid": _("The end date is not a date. Write it day first, like 31/12/2030.")},
    )

    def __init__(self, data: Mapping[str, str] | None = None, *, today: date | None = None) -> None:
        super().__init__(data)
        self.today = today or timezone.localdate()
        # "from" is a Python keyword: the field is ``from_`` in code and ``from`` in the URL.
        self.fields["from"] = self.fields.pop("from_")
        self.order_fields(["from", "to"])

    def with_initial(self, period: Period) -> DateRangeForm:
        """An empty form shows the period in use."""
        self.initial = {"from": period.first, "to": period.last}
        return self

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        for key in ("from", "to"):  # far dates would overflow the day arithmetic, and hold no calls anyway
            day = cleaned.get(key)
            if day is not None and not EARLIEST <= day <= LATEST:
                raise forms.ValidationError(_("Choose dates between 2000 and 2100."), code="out_of_range")
        last = cleaned.get("to") or self.today
        first = cleaned.get("from") or last - timedelta(days=DEFAULT_DAYS - 1)
        if last < first:
            raise forms.ValidationError(_("The end date is before the start date."), code="reversed")
        if (last - first).days + 1 > MAX_DAYS:
            raise forms.ValidationError(
                _("The range is too long: at most %(days)s days.") % {"days": MAX_DAYS}, code="too_long"
            )
        cleaned["period"] = Period(first, last)
        return cleaned


def default_period(today: date | None = None) -> Period:
    return Period.ending(today or timezone.localdate(), DEFAULT_DAYS)


def chosen_period(params: Mapping[str, str], today: date | None = None) -> tuple[Period, DateRangeForm]:
    """The period the GET parameters ask for, or the default one when they ask for nothing or for nonsense
    (then the bound form carries the message)."""
    today = today or timezone.localdate()
    wanted = {key: params[key] for key in ("from", "to") if params.get(key, "").strip()}
    if not wanted:
        period = default_period(today)
        return period, DateRangeForm(None, today=today).with_initial(period)
    form = DateRangeForm(wanted, today=today)
    if form.is_valid():
        return form.cleaned_data["period"], form
    return default_period(today), form


def presets(today: date | None = None) -> list[tuple[int, Period]]:
    """The quick choices: the last 7, 14 and 30 days."""
    today = today or timezone.localdate()
    return [(days, Period.ending(today, days)) for days in PRESETS]
