"""Readers for untrusted webhook JSON: every one returns a usable value or an empty/None one."""

from __future__ import annotations

import re
from typing import Any

from mappers import kanal

_DIGITS = re.compile(r"[0-9]+")
# Counts and quantities above this are not real (and would overflow 64-bit JSON encoders).
COUNT_MAX = 2**31 - 1


def obj(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def objs(value: object, limit: int | None = None) -> list[dict[str, Any]]:
    """The JSON objects in `value` if it is a list, skipping anything else; the first
    `limit` of them when given."""
    if not isinstance(value, list):
        return []
    found = [item for item in value if isinstance(item, dict)]
    return found if limit is None else found[:limit]


def ident(value: object) -> str | None:
    """A positive integer id (int or digit string) as a decimal string, exact at any size."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value) if value > 0 else None
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        text = value.strip().lstrip("0") or None
    else:
        return None
    if text is None or len(text) > kanal.EXTERNAL_ID_MAX:
        return None
    return text


def count(value: object) -> int | None:
    """A non-negative integer count (not a bool, not a float), or None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= COUNT_MAX:
        return value
    return None


def flag(value: object) -> bool:
    """True only for JSON `true`."""
    return value is True
