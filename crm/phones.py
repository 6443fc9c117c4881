"""Phone number normalisation: everything we store or search is E.164, parsed by `phonenumbers`.

Two strengths, for two sources. What a carrier reports (Twilio's `From`/`To`) is a number that rang, so any
*possible* number is kept: `phonenumbers`' range metadata lags new allocations, and refusing a caller would lose
the lead. What a person types (a lead's phone, a business number, an import) must be a *valid* number in its
country's numbering plan: a missing or extra digit ("0521234") is the usual typo and must not be stored.
"""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "IL"


def _parse(raw: str | None, region: str) -> phonenumbers.PhoneNumber | None:
    """The parsed number, or None for empty text and text that is no number at all."""
    if not raw:
        return None
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """E.164 for anything that parses as a possible number ("050-123 4567", "+972 50...", "0097250..."),
    else None (Twilio sends "anonymous", "client:..." or empty for hidden callers). For numbers a carrier
    reports and for searching; what people type goes through `valid_phone`."""
    number = _parse(raw, region)
    if number is None or not phonenumbers.is_possible_number(number):
        return None
    return _e164(number)


def valid_phone(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """E.164 for a number that exists in its country's numbering plan (`phonenumbers.is_valid_number`), else
    None: "0521234" has a mobile prefix and too few digits, so it is refused rather than stored as +9720521234."""
    number = _parse(raw, region)
    if number is None or not phonenumbers.is_valid_number(number):
        return None
    return _e164(number)


def display_phone(e164: str, region: str = DEFAULT_REGION) -> str:
    """Local format for people in the region ("050-123-4567"), international otherwise."""
    try:
        number = phonenumbers.parse(e164, region)
    except phonenumbers.NumberParseException:
        return e164
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if phonenumbers.region_code_for_number(number) == region
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, fmt)
