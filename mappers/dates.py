"""Instants: ISO 8601 timestamps in, aware datetimes, Kanal's `placed_at` and versions out."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# A date and a time at least; fromisoformat alone would take a bare date as midnight.
_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def instant(value: object, *, naive_is_utc: bool = False) -> datetime | None:
    """`value` as an aware datetime, or None.

    A timestamp without an offset is read as UTC only when `naive_is_utc` (WooCommerce's
    `_gmt` fields); otherwise it is not an instant and None is returned. Instants before
    1970 or with second-level offsets are refused.
    """
    if not isinstance(value, str) or len(value) > 40 or not _SHAPE.match(value.strip()):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        if not naive_is_utc:
            return None
        parsed = parsed.replace(tzinfo=UTC)
    offset = parsed.utcoffset()
    if offset is None or offset % timedelta(minutes=1):
        return None
    try:
        if parsed < EPOCH:
            return None
    except OverflowError:
        return None
    return parsed


def iso(moment: datetime) -> str:
    """ISO 8601 with its explicit offset, as Kanal's `placed_at` wants it."""
    return moment.isoformat()


def version(moment: datetime | None) -> int:
    """Microseconds since the epoch, exact (no float); 0 when unknown."""
    if moment is None:
        return 0
    return (moment - EPOCH) // _MICROSECOND
