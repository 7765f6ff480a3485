from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappers import kanal


def test_decimals_are_written_as_exact_json_numbers() -> None:
    body = {"total_price": Decimal("49.90"), "items": [{"price": Decimal("0.1")}]}
    assert kanal.encode(body) == b'{"total_price":49.90,"items":[{"price":0.1}]}'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1E+1"), b"10"),
        (Decimal("1E-7"), b"0.0000001"),
        (Decimal("-0"), b"-0"),
        (Decimal("18000"), b"18000"),
    ],
)
def test_decimals_never_use_exponent_notation(value: Decimal, text: bytes) -> None:
    assert kanal.encode({"v": value}) == b'{"v":' + text + b"}"


def test_big_ids_are_strings_and_unicode_is_utf8() -> None:
    body = {"external_id": "820982911946154508", "name": "João"}
    assert kanal.encode(body) == '{"external_id":"820982911946154508","name":"João"}'.encode()


def test_non_finite_decimals_are_refused() -> None:
    with pytest.raises(TypeError):
        kanal.encode({"v": Decimal("NaN")})


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ("  Bob  ", 255, "Bob"),
        ("x" * 300, 255, "x" * 255),
        ("fr-FR-x-very-long", kanal.LOCALE_MAX, "fr-FR-x-ve"),
        ("ab  cd", 3, "ab"),
        ("", 255, None),
        ("   ", 255, None),
        (None, 255, None),
        (12, 255, None),
        ("a\x00b", 255, "ab"),
        ("bad \ud800 surrogate", 255, "bad ? surrogate"),
    ],
)
def test_cut_gives_clean_strings_within_limits(
    value: object, limit: int, expected: str | None
) -> None:
    assert kanal.cut(value, limit) == expected


def test_cut_strings_always_encode() -> None:
    assert kanal.encode({"v": kanal.cut("\udfff" * 3, 255)}) == b'{"v":"???"}'


@pytest.mark.parametrize(
    "address",
    [
        "john@example.com",
        "your.email+fakedata99085@gmail.com",
        "o'brien@example.co.uk",
        "x@xn--bcher-kva.example",
        " padded@example.com ",
    ],
)
def test_emails_kanal_accepts_are_kept(address: str) -> None:
    assert kanal.email(address) == address.strip()


@pytest.mark.parametrize(
    "address",
    [
        "",
        "john",
        "john@",
        "@example.com",
        "john@@example.com",
        "john@localhost",
        "john.@example.com",
        "jo..hn@example.com",
        "john doe@example.com",
        "john@exa mple.com",
        "john@-example.com",
        "john@example.c",
        "john@example.123",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        "jöhn@example.com",
        None,
        42,
    ],
)
def test_emails_kanal_could_refuse_are_dropped(address: object) -> None:
    assert kanal.email(address) is None


@pytest.mark.parametrize(("value", "expected"), [("usd", "USD"), ("EUR", "EUR"), (" gbp ", "GBP")])
def test_currency_codes_are_upper_case(value: str, expected: str) -> None:
    assert kanal.currency(value) == expected


@pytest.mark.parametrize("value", ["", "US", "EURO", "€", "12A", None, 840])
def test_malformed_currencies_are_dropped(value: object) -> None:
    assert kanal.currency(value) is None


@given(st.text())
def test_clean_is_the_text_trimmed_without_nul_in_valid_utf8(text: str) -> None:
    expected = text.replace("\x00", "").strip().encode("utf-8", "replace").decode("utf-8")
    assert kanal.clean(text) == (expected or None)
