"""The Shopify cost bucket as the client sees it: the last `throttleStatus`, restored over
time, and the requested cost of each query text, so that a query is only sent once the bucket
can afford it (keeping a reserve when the caller uses only a share of the bucket).

Shopify's bucket is per app and shop, so one `Budget` is shared per process by every client
of that app and shop (`budget_for`). Other processes do not see it; Shopify's own answer
(`THROTTLED`, with the bucket's state) corrects the estimate if they spent some meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from bridge import defaults


class Budget:
    """What is known of one bucket; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self.maximum: float | None = None
        self.available = 0.0
        self.restore_rate = 0.0
        self._at = 0.0
        self._costs: dict[str, int] = {}

    def update(self, cost: Mapping[str, Any] | None, query: str) -> None:
        """Read `extensions.cost` of an answer to `query`."""
        if not isinstance(cost, Mapping):
            return
        status = cost.get("throttleStatus")
        with self._lock:
            requested = cost.get("requestedQueryCost")
            if isinstance(requested, int | float):
                self._costs[query] = int(requested)
            if isinstance(status, Mapping):
                try:
                    self.maximum = float(status["maximumAvailable"])
                    self.available = float(status["currentlyAvailable"])
                    self.restore_rate = float(status["restoreRate"])
                except (KeyError, TypeError, ValueError):
                    return
                self._at = self.clock()

    def cost_of(self, query: str) -> int:
        with self._lock:
            return self._costs.get(query, defaults.SHOPIFY_UNKNOWN_QUERY_COST)

    def wait_for(self, points: float, share: float = 1.0) -> float:
        """Seconds until the bucket holds `points` on top of the reserve a `share` leaves to
        others; 0 when it does now or nothing is known yet."""
        with self._lock:
            if self.maximum is None or self.restore_rate <= 0:
                return 0.0
            reserve = self.maximum * (1.0 - share)
            needed = min(points + reserve, self.maximum)
            now = self.available + (self.clock() - self._at) * self.restore_rate
            missing = needed - min(now, self.maximum)
            return max(missing, 0.0) / self.restore_rate

    def spend(self, points: float) -> None:
        """Count a query just sent against the estimate (Shopify's answer replaces it)."""
        with self._lock:
            if self.maximum is not None:
                now = self.available + (self.clock() - self._at) * self.restore_rate
                self.available = min(now, self.maximum) - points
                self._at = self.clock()


_budgets: dict[tuple[str, str], Budget] = {}
_lock = threading.Lock()


def budget_for(base_url: str, app: str) -> Budget:
    """The process's one budget for this shop and app (`app`: client id or token digest)."""
    with _lock:
        return _budgets.setdefault((base_url, app), Budget())
