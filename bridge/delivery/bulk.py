"""The bulk lane: live first, backfill and reconciliation with what is left.

Kanal's budget per Kanal store is shared by two lanes. Live records (webhooks) book call
slots as they come, ahead if need be (`Limiter.take`). Bulk records (fetched from a shop's
API by backfill or reconciliation, `SyncRecordStore.accept_fetched(..., bulk=True)`) wait
without a job in the store's bulk set, `kb:bulk:{kanal_store_id}`, oldest first. Every tick
(`defaults.SCHEDULER_INTERVAL`), the active scheduler gives the oldest one of each store
whose next slot is free *now* (nothing booked ahead, not paused, not held) that slot and a
job that calls at once. A bulk record never books ahead, so a live record arriving in the
middle of a 10,000-record backfill waits for at most about one interval, and no slot is left
idle while bulk records wait (within a tick).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import redis
from redis.commands.core import Script

from bridge.delivery import jobs, scripts
from bridge.delivery.limiter import PENDING_KEY, bulk_key, interval_for, pace_key


class BulkLane:
    """Dispatch waiting bulk records into the call slots live traffic leaves free."""

    def __init__(self, client: redis.Redis, rates: Mapping[int, int]) -> None:
        """`rates`: requests per minute of every Kanal store, by id."""
        self._client = client
        self._stores = sorted(rates.items())
        self._due: Script = client.register_script(scripts.BULK_DUE)
        self._dispatch: Script = client.register_script(scripts.DISPATCH)
        self._keys = [key for kanal_id, _ in self._stores for key in _pair(kanal_id)]

    def pump(self, now: float | None = None) -> int:
        """One tick: dispatch the bulk records whose Kanal store has a slot free now; how
        many were dispatched."""
        if not self._stores:
            return 0
        now = time.time() if now is None else now
        due = self._due(keys=self._keys, args=[repr(now)])
        if not due:
            return 0
        picked = [
            (self._stores[int(index) - 1], key.decode())
            for index, key in zip(due[::2], due[1::2], strict=True)
        ]
        with self._client.pipeline(transaction=False) as pipe:
            for _, key in picked:
                pipe.hget(key, "store")
            owners = [owner.decode() if owner else None for owner in pipe.execute()]
        dispatched = 0
        for ((kanal_id, rate), key), owner in zip(picked, owners, strict=True):
            job_id = jobs.new_job_id()
            result = self._dispatch(
                keys=[
                    *_pair(kanal_id),
                    key,
                    jobs.job_key(job_id),
                    jobs.SCHEDULED_KEY,
                    jobs.QUEUES_SET_KEY,
                    PENDING_KEY,
                ],
                args=[
                    repr(now),
                    repr(interval_for(rate)),
                    job_id,
                    jobs.QUEUE_KEY,
                    *jobs.push_job_fields(job_id, key, now, store=owner),
                ],
            )
            dispatched += int(result == 1)
        return dispatched


def _pair(kanal_store_id: int) -> tuple[str, str]:
    return pace_key(kanal_store_id), bulk_key(kanal_store_id)
