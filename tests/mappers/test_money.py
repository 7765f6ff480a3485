from decimal import Decimal

import pytest

from mappers.money import to_amount, to_decimal


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("29.35", "29.35"),
        ("49.90", "49.90"),
        (" 18000 ", "18000"),
        ("-10.00", "-10.00"),
        (".5", "0.5"),
        ("5.", "5"),
        (12, "12"),
        (17.647059, "17.647059"),
        (0.1, "0.1"),
        (Decimal("3.10"), "3.10"),
    ],
)
def test_amounts_are_read_exactly(raw: object, expected: str) -> None:
    value = to_decimal(raw)
    assert value == Decimal(expected)
    assert str(value) == str(Decimal(expected))


def test_trailing_zeros_are_kept() -> None:
    assert str(to_decimal("49.90")) == "49.90"


def test_a_float_is_read_from_its_text_not_its_binary_value() -> None:
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal(10.799999999999999) == Decimal("10.799999999999999")


@pytest.mark.parametrize(
    "raw",
    [
        None,
        True,
        False,
        "",
        "  ",
        "abc",
        "1e5",
        "1E+1",
        "NaN",
        "Infinity",
        "-inf",
        "1_000",
        "1,000.00",
        "29,35",
        "$10",
        "10 EUR",
        float("nan"),
        float("inf"),
        1e300,
        "9" * 100,
        Decimal("NaN"),
        [],
        {},
        {"amount": "1.00"},
    ],
)
def test_garbage_is_none(raw: object) -> None:
    assert to_decimal(raw) is None


def test_amounts_refuse_negatives_and_normalise_negative_zero() -> None:
    assert to_amount("-0.01") is None
    assert str(to_amount("-0.00")) == "0.00"
    assert to_amount("0") == 0
