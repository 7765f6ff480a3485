"""The shop's clock: now, and WordPress's two ways of writing a moment.

WooCommerce writes every date twice, `date_x` in the site's timezone and `date_x_gmt` in
UTC, both as `YYYY-MM-DDTHH:MM:SS` without an offset (`wc_rest_prepare_date_response`), to the
second. The emulated site has a fixed offset from UTC (WordPress allows "UTC-3" settings), so
that a client reading the local field instead of the GMT one gets a visibly wrong instant.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

FORMAT = "%Y-%m-%dT%H:%M:%S"

# The docs' sample site is three hours behind UTC (date_created 16:28:02, _gmt 19:28:02).
DEFAULT_OFFSET_MINUTES = -180


class SiteClock:
    """Unix seconds from `time_source`, written as the site writes them."""

    def __init__(
        self,
        offset_minutes: int = DEFAULT_OFFSET_MINUTES,
        time_source: Callable[[], float] = time.time,
    ) -> None:
        self.offset = timedelta(minutes=offset_minutes)
        self._time = time_source

    def now(self) -> int:
        """Whole seconds: WordPress stores dates to the second."""
        return int(self._time())

    def gmt(self, ts: int | None) -> str | None:
        if ts is None:
            return None
        return datetime.fromtimestamp(ts, UTC).strftime(FORMAT)

    def local(self, ts: int | None) -> str | None:
        if ts is None:
            return None
        return (datetime.fromtimestamp(ts, UTC) + self.offset).strftime(FORMAT)

    def from_gmt(self, text: str) -> int:
        """Unix seconds of a `YYYY-MM-DDTHH:MM:SS` GMT string (an offset, if any, is honoured)."""
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp())

    def wall(self, moment: datetime) -> datetime:
        """An aware moment as the site's naive local wall time."""
        return (moment.astimezone(UTC) + self.offset).replace(tzinfo=None)
