"""Money as exact decimals: platform amounts arrive as strings ("29.35") or JSON numbers."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

# Plain decimal notation only: no exponents, NaN, Infinity, underscores or thousands separators.
_AMOUNT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
# Longer than any real amount; keeps absurd inputs from becoming absurd JSON numbers.
MAX_CHARS = 24


def to_decimal(value: object) -> Decimal | None:
    """`value` as an exact Decimal, or None when it is not a plain finite amount.

    Strings are read digit for digit. A float (what a JSON parser without
    `parse_float=Decimal` yields) is read from its shortest repr, which is the
    text the JSON held, never from its binary value.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() and len(str(value)) <= MAX_CHARS else None
    if isinstance(value, int):
        return Decimal(value) if abs(value) < 10**MAX_CHARS else None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = repr(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) > MAX_CHARS or not _AMOUNT.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid literals
        return None


def to_amount(value: object) -> Decimal | None:
    """Like `to_decimal`, but only amounts ≥ 0 (prices, totals)."""
    amount = to_decimal(value)
    if amount is None or amount < 0:
        return None
    return amount + 0 if amount.is_zero() else amount  # "-0.00" → "0.00"
