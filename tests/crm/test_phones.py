import pytest

from crm.phones import display_phone, normalize_phone


@pytest.mark.parametrize(
    "raw",
    ["+972501234567", "050-123-4567", "050 1234567", "(050) 123 4567", "00972501234567", "+972 50 123 4567"],
)
def test_israeli_mobile_in_any_format_normalises_to_e164(raw):
    assert normalize_phone(raw) == "+972501234567"


def test_foreign_numbers_keep_their_country():
    assert normalize_phone("+1 415 867 5309") == "+14158675309"


@pytest.mark.parametrize("raw", ["", None, "anonymous", "client:alice", "12", "not a number"])
def test_hidden_or_invalid_callers_have_no_number(raw):
    assert normalize_phone(raw) is None


def test_display_is_local_for_israeli_numbers_and_international_otherwise():
    assert display_phone("+972501234567") == "050-123-4567"
    assert display_phone("+14158675309").startswith("+1 ")
