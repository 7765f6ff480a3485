import pytest

from mappers.phone import mask_phone, to_e164


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        # France
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("06.12.34.56.78", "FR", "+33612345678"),
        ("06-12-34-56-78", "FR", "+33612345678"),
        ("+33 6 12 34 56 78", "FR", "+33612345678"),
        ("+33 (0)6 12 34 56 78", "FR", "+33612345678"),
        ("0033 6 12 34 56 78", "FR", "+33612345678"),
        ("00 33 6 12 34 56 78", None, "+33612345678"),
        # United States
        ("(574) 217-7025", "US", "+15742177025"),
        ("574.217.7025", "US", "+15742177025"),
        ("1-574-217-7025", "US", "+15742177025"),
        ("+1 574 217 7025", None, "+15742177025"),
        ("011 33 6 12 34 56 78", "US", "+33612345678"),
        ("001 574 217 7025", "FR", "+15742177025"),
        # United Kingdom
        ("07911 123456", "GB", "+447911123456"),
        ("(020) 7946 0958", "GB", "+442079460958"),
        ("0044 7911 123456", "US", "+447911123456"),
        # Germany
        ("0151 23456789", "DE", "+4915123456789"),
        ("030 901820", "DE", "+4930901820"),
        ("+49 (0)30 901820", "DE", "+4930901820"),
        # Brazil
        ("(11) 91234-5678", "BR", "+5511912345678"),
        ("+55 21 98765-4321", None, "+5521987654321"),
        # India
        ("098765 43210", "IN", "+919876543210"),
        ("+91 98765-43210", "GB", "+919876543210"),
        # country codes are case-insensitive
        ("06 12 34 56 78", "fr", "+33612345678"),
    ],
)
def test_numbers_become_e164(raw: str, country: str | None, expected: str) -> None:
    assert to_e164([(raw, country)], None) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1-800-FLOWERS", "+18003569377"),
        ("+1 800 FLOWERS", "+18003569377"),
        ("0800 REPAIR", None),  # letters that make no valid number are refused like digits
    ],
)
def test_vanity_letters_count_only_when_the_number_is_valid(raw: str, expected: str | None) -> None:
    assert to_e164([(raw, "US")], None) == expected


def test_shopify_docs_vanity_number_is_invalid_because_555_is_no_area_code() -> None:
    assert to_e164([("555-555-SHIP", "US")], None) is None


def test_national_number_uses_the_store_default_when_the_address_has_no_country() -> None:
    assert to_e164([("06 12 34 56 78", None)], "FR") == "+33612345678"
    assert to_e164([("06 12 34 56 78", "")], "FR") == "+33612345678"
    assert to_e164([("06 12 34 56 78", "ZZ")], "FR") == "+33612345678"


def test_address_country_wins_over_the_store_default() -> None:
    assert to_e164([("(574) 217-7025", "US")], "FR") == "+15742177025"


def test_store_default_is_tried_when_the_address_country_gives_an_invalid_number() -> None:
    assert to_e164([("06 12 34 56 78", "US")], "FR") == "+33612345678"


def test_an_invalid_number_falls_through_to_the_next_candidate() -> None:
    candidates = [
        ("555-625-1199", "US"),
        (None, "US"),
        ("", "US"),
        ("n/a", "US"),
        ("123", "FR"),
        ("07911 123456", "GB"),
        ("06 12 34 56 78", "FR"),
    ]
    assert to_e164(candidates, "FR") == "+447911123456"


def test_a_national_number_without_any_country_is_not_guessed() -> None:
    assert to_e164([("06 12 34 56 78", None)], None) is None


@pytest.mark.parametrize(
    "raw",
    [None, "", "   ", "abc", "+", "00", "+999 123", "1" * 300, "+33 6 12 34 56 78 90 12 34 56"],
)
def test_garbage_gives_none(raw: str | None) -> None:
    assert to_e164([(raw, "FR")], "FR") is None


def test_wrongly_typed_candidates_give_none() -> None:
    assert to_e164([(["06"], {"FR": 1}), (3.5, 7)], "FR") is None  # type: ignore[list-item]


def test_an_integer_number_is_read_as_digits() -> None:
    assert to_e164([(2022611000, "US")], None) == "+12022611000"  # type: ignore[list-item]


def test_a_bad_default_country_is_ignored() -> None:
    assert to_e164([("+33 6 12 34 56 78", None)], "France") == "+33612345678"


def test_mask_hides_the_middle() -> None:
    assert mask_phone("+33612345678") == "+3361*****78"
    assert mask_phone("+12022611000") == "+1202*****00"


def test_mask_of_short_or_empty_values_reveals_nothing() -> None:
    assert mask_phone(None) == ""
    assert mask_phone("") == ""
    assert mask_phone("+33612") == "******"
