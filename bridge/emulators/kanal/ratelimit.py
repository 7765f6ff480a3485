"""Kanal's per-store limit as a strict sliding window.

A request is admitted when fewer than `limit` requests were admitted in the `window`
seconds before it; otherwise it is refused and not counted. So no `window`-long interval
ever holds more than `limit` admitted requests, and one refusal proves the caller tried to
exceed the limit somewhere.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    admitted: bool
    limit: int
    remaining: int
    retry_after: int  # whole seconds until a slot frees; 0 when admitted
    reset_at: float  # clock time when the oldest counted request leaves the window


class SlidingWindow:
    """The admitted requests of one store in the last `window` seconds."""

    __slots__ = ("_admitted", "clock", "limit", "window")

    def __init__(
        self, limit: int, *, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._admitted: deque[float] = deque()

    def _expire(self, now: float) -> None:
        horizon = now - self.window
        admitted = self._admitted
        while admitted and admitted[0] <= horizon:
            admitted.popleft()

    def hit(self) -> Decision:
        """Admit one request now if the window has room."""
        now = self.clock()
        self._expire(now)
        admitted = self._admitted
        if len(admitted) < self.limit:
            admitted.append(now)
            reset = admitted[0] + self.window
            return Decision(True, self.limit, self.limit - len(admitted), 0, reset)
        free_at = admitted[len(admitted) - self.limit] + self.window if self.limit else now
        retry = max(1, math.ceil(free_at - now)) if self.limit else int(self.window)
        return Decision(False, self.limit, 0, retry, free_at)

    def peek(self) -> Decision:
        """The current state, without admitting anything."""
        now = self.clock()
        self._expire(now)
        used = len(self._admitted)
        reset = self._admitted[0] + self.window if self._admitted else now
        return Decision(used < self.limit, self.limit, max(0, self.limit - used), 0, reset)

    def reset(self) -> None:
        self._admitted.clear()
