"""Pacing per Kanal store, shared by every worker through Redis.

Each Kanal store gets one call slot every `60 / requests_per_minute` seconds (less a small
margin, `defaults.PACING_MARGIN`), never earlier than a pause a 429 imposed. A job that
reserves a slot in the future is rescheduled to it instead of sleeping, so a worker is never
held up by a store without budget while other stores wait.
"""

from __future__ import annotations

import time

import redis
from redis.commands.core import Script

from bridge import defaults
from bridge.delivery import scripts


def pace_key(kanal_store_id: int) -> str:
    """The Redis key holding one Kanal store's pacing state."""
    return f"{defaults.KEY_PREFIX}:pace:{kanal_store_id}"


def interval_for(requests_per_minute: int) -> float:
    """Seconds between two calls to one Kanal store."""
    return 60.0 / (requests_per_minute * (1.0 - defaults.PACING_MARGIN))


class Limiter:
    """Reserve call slots and pause Kanal stores."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._reserve: Script = client.register_script(scripts.RESERVE)
        self._pause: Script = client.register_script(scripts.PAUSE)

    def reserve(
        self, kanal_store_id: int, requests_per_minute: int, now: float | None = None
    ) -> float:
        """The unix time of this call's slot: now or later, never before a pause ends."""
        now = time.time() if now is None else now
        slot = float(
            self._reserve(
                keys=[pace_key(kanal_store_id)],
                args=[repr(now), repr(interval_for(requests_per_minute))],
            )
        )
        # The script keeps microseconds: a slot "now" may come back a fraction of one later.
        return now if slot - now < 1e-6 else slot

    def pause(self, kanal_store_id: int, seconds: float, now: float | None = None) -> float:
        """Hand out no slot of this store before `now + seconds`; returns that time."""
        until = (time.time() if now is None else now) + seconds
        self._pause(keys=[pace_key(kanal_store_id)], args=[repr(until)])
        return until

    def paused_until(self, kanal_store_id: int) -> float:
        """When the store's current pause ends (0 when it is not paused)."""
        value = self._client.hget(pace_key(kanal_store_id), "paused")
        return float(value) if value else 0.0
