"""Kanal's side of the contract: field limits, value shapes it accepts, and the JSON encoding."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import iso4217
import orjson

# Limits from Kanal's API reference (Laravel `max:` rules count characters).
EXTERNAL_ID_MAX = 255
NAME_MAX = 255
EMAIL_MAX = 255
LOCALE_MAX = 10
STATUS_MAX = 64
URL_MAX = 1024
CURRENCY_LEN = 3
# Totals live in a decimal(12,2) column: 10 integer digits, 2 decimals.
TOTAL_MAX = Decimal("9999999999.99")
CENTS = Decimal("0.01")

# Current ISO 4217 alphabetic codes (List One), from the pinned `iso4217` package.
CURRENCIES = frozenset(code for code in iso4217.raw_table if code)

# Arrays the bridge sends, bounded: Kanal documents no limits, so these are the most a real
# shop produces, and a crafted payload (123,456 tags in one order) cannot turn into a POST of
# megabytes. Beyond them the rest is left out. The Kanal emulator enforces the same limits
# (its validation module says why each).
TAGS_MAX = 250  # Shopify's own limit of tags per product (changelog, 2019-03-04)
LINE_ITEMS_MAX = 500  # Shopify's REST and draft-order limit is 499 line items per order
ADDRESSES_MAX = 20  # a customer's addresses searched for a phone number
SHIPMENTS_MAX = 20  # Shipment Tracking entries (parcels) of one WooCommerce order

# A conservative subset of what Laravel's `email` rule (RFC validation) accepts: a dot-atom
# local part and a dotted host name ending in a letter TLD. Anything else is dropped, because
# one bad address makes Kanal refuse the whole order with a 422.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(
    rf"(?P<local>{_ATEXT}(?:\.{_ATEXT})*)@{_LABEL}(?:\.{_LABEL})*\.(?:[A-Za-z]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}})"
)
# An absolute http(s) URL without spaces (recovery and tracking links).
_URL = re.compile(r"https?://[^\s/?#@]+(?::[0-9]{1,5})?(?:[/?#]\S*)?", re.IGNORECASE)


def clean(value: object) -> str | None:
    """A string made safe to send: trimmed, no NUL, no lone surrogates; None when empty."""
    if not isinstance(value, str):
        return None
    text = value.replace("\x00", "").strip()
    if not text:
        return None
    if text.isascii():  # most text: no surrogate to replace
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


def cut(value: object, limit: int) -> str | None:
    """`value` as a clean string of at most `limit` characters, or None."""
    text = clean(value)
    if text is None:
        return None
    return text[:limit].rstrip() or None


def email(value: object) -> str | None:
    """`value` when Kanal would accept it as an e-mail address, else None."""
    text = clean(value)
    if text is None or len(text) > EMAIL_MAX:
        return None
    match = _EMAIL.fullmatch(text)
    if match is None or len(match["local"]) > 64:
        return None
    return text


def url(value: object) -> str | None:
    """`value` when it is an absolute http(s) URL Kanal accepts (at most 1024 characters)."""
    text = clean(value)
    if text is None or len(text) > URL_MAX or not _URL.fullmatch(text):
        return None
    return text


def currency(value: object) -> str | None:
    """A current ISO 4217 currency code, upper-cased, or None (Kanal refuses any other)."""
    if isinstance(value, str) and (code := value.strip().upper()) in CURRENCIES:
        return code
    return None


def total(amount: Decimal) -> Decimal | None:
    """`amount` as Kanal's decimal(12,2) column holds it: unchanged with 2 decimals or fewer,
    else rounded half-up to cents (as the column would round it); None above TOTAL_MAX."""
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        amount = amount.quantize(CENTS, rounding=ROUND_HALF_UP)
    return amount if amount <= TOTAL_MAX else None


def _default(value: object) -> Any:
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(format(value, "f").encode())
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def encode(body: Mapping[str, Any]) -> bytes:
    """`body` as JSON bytes; Decimals become exact JSON numbers ("49.90" stays 49.90)."""
    return orjson.dumps(body, default=_default)
