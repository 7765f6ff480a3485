"""A scheduler that moves due jobs onto the queue within a tick, not within a second.

RQ's scheduler compares whole seconds and sleeps a second between rounds, which would bunch
a fast store's paced calls at each second. This one compares float times every
`defaults.SCHEDULER_INTERVAL`, keeps RQ's locking (one active scheduler across all worker
processes), gives waiting bulk records the call slots live traffic leaves free
(`bridge.delivery.bulk`), and runs the sweeper that rescues pushes whose job died with its
worker.

It overrides two methods of RQ's `RQScheduler` and relies on its attributes and lock
helpers; tests/bridge/test_scheduler.py checks each of them, so an RQ upgrade that changes
them fails `make test` with a message naming what changed.
"""

from __future__ import annotations

import time
from typing import Any

from rq import Queue
from rq.job import Job
from rq.scheduler import RQScheduler

from bridge import defaults
from bridge.delivery import push as delivery
from bridge.delivery.bulk import BulkLane
from bridge.delivery.sweeper import sweep


class PacedScheduler(RQScheduler):
    """RQ's scheduler with sub-second precision, plus the sweeper."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # RQ derives its lock TTLs from a whole-second interval; the tick is ours.
        kwargs.setdefault("interval", 1)
        super().__init__(*args, **kwargs)
        self.tick = defaults.SCHEDULER_INTERVAL
        self._bulk: BulkLane | None = None

    def enqueue_scheduled_jobs(self) -> None:
        """Enqueue every job whose scheduled time has come."""
        self._status = self.Status.WORKING
        if not self._scheduled_job_registries and self._acquired_locks:
            self.prepare_registries()
        for registry in self._scheduled_job_registries:
            raw = self.connection.zrangebyscore(registry.key, 0, time.time(), start=0, num=1000)
            if not raw:
                continue
            job_ids = [job_id.decode() if isinstance(job_id, bytes) else job_id for job_id in raw]
            queue = Queue(registry.name, connection=self.connection, serializer=self.serializer)
            found = Job.fetch_many(job_ids, connection=self.connection, serializer=self.serializer)
            with self.connection.pipeline() as pipeline:
                for job_id, job in zip(job_ids, found, strict=True):
                    if job is not None:
                        # RQ's public enqueue (its own scheduler calls the private
                        # `_enqueue_job`): push jobs have no dependencies nor rate limits.
                        queue.enqueue_job(job, pipeline=pipeline)
                    registry.remove(job_id, pipeline=pipeline)
                pipeline.execute()
        self._status = self.Status.STARTED

    def pump_bulk(self) -> int:
        """Dispatch the bulk records whose Kanal store has a call slot free now."""
        if self._bulk is None:
            try:
                config = delivery.runtime().config
            except RuntimeError:  # no push runtime in this process: no bulk lane either
                return 0
            rates = {
                s.kanal_store_id: config.rate_for(s.kanal_store_id) for s in config.stores.values()
            }
            self._bulk = BulkLane(self.connection, rates)
        return self._bulk.pump()

    def work(self) -> None:
        """Schedule every tick, beat the heart every second, sweep every SWEEP_INTERVAL."""
        self._install_signal_handlers()
        self.register_birth()
        last_beat = last_sweep = 0.0
        while not self._stop_requested:
            now = time.monotonic()
            if self.should_reacquire_locks:
                self.acquire_locks()
            if now - last_beat >= 1.0:
                self.heartbeat()
                last_beat = now
            if self._acquired_locks:
                self.pump_bulk()
            self.enqueue_scheduled_jobs()
            if self._acquired_locks and now - last_sweep >= defaults.SWEEP_INTERVAL:
                sweep(self.connection)
                last_sweep = now
            time.sleep(self.tick)
        self.stop()
