import pytest

from crm.phones import display_phone, normalize_phone, valid_phone


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


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("050-2345678", "+972502345678"),
        ("054 555 1234", "+972545551234"),
        ("03-376-3805", "+97233763805"),
        ("+972 58 666 7788", "+972586667788"),
        ("00972502345678", "+972502345678"),
        ("+1 415 867 5309", "+14158675309"),
    ],
)
def test_a_real_number_typed_any_way_is_valid_and_stored_in_e164(typed, stored):
    assert valid_phone(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "0521234",  # a mobile prefix and three digits missing: was stored as +9720521234
        "05212345678",  # one digit too many
        "+972 9999",
        "050-123-4567",  # possible in length, but 050-1 is not an allocated range
        "",
        None,
        "anonymous",
        "call me",
    ],
)
def test_a_number_that_cannot_exist_is_not_valid(typed):
    assert valid_phone(typed) is None


def test_a_caller_the_carrier_reports_is_kept_even_in_a_range_the_metadata_does_not_know():
    """Twilio's From rang our line: refusing it would lose the lead, so the lenient rule stays for callers."""
    assert valid_phone("+972501234567") is None
    assert normalize_phone("+972501234567") == "+972501234567"
