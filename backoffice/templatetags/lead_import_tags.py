"""Template filters for the lead import page (templates/admin/crm/lead/import.html)."""

from __future__ import annotations

from typing import Any

from django import template
from import_export.results import Result

from backoffice.resources import invalid_rows_table

register = template.Library()


@register.filter
def lead_invalid_rows(result: Result) -> dict[str, Any]:
    """The refused rows of an import, each with its errors in words and its cells as the file has them."""
    return invalid_rows_table(result)
