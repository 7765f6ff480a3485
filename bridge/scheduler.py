"""A scheduler that moves due jobs onto the queue within a tick, not within a second.

RQ's scheduler compares whole seconds and sleeps a second between rounds, which would bunch
a fast store's paced calls at each second. This one compares float times every
`defaults.SCHEDULER_INTERVAL`, keeps RQ's locking (one active scheduler across all worker
processes), gives waiting bulk records the call slots live traffic leaves free
(`bridge.delivery.bulk`), runs the sweeper that rescues pushes whose job died with its worker,
and, holding the lock of the `platform` queue, enqueues the periodic platform tasks that are
due (bridge/platforms/periodic.py).

It overrides two methods of RQ's `RQScheduler` and relies on its attributes and lock
helpers; tests/bridge/test_scheduler.py checks each of them, so an RQ upgrade that changes
them fails `make test` with a message naming what changed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from redis.commands.core import Script
from rq import Queue
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.utils import now as rq_now
from rq.utils import utcformat

from bridge import defaults
from bridge.delivery import jobs, scripts
from bridge.delivery import push as delivery
from bridge.delivery.bulk import BulkLane
from bridge.delivery.sweeper import sweep
from bridge.platforms.periodic import Periodic

log = logging.getLogger("bridge.scheduler")


class PacedScheduler(RQScheduler):
    """RQ's scheduler with sub-second precision, plus the bulk lane, the sweeper and the
    periodic tasks (`periodic`: None for none)."""

    def __init__(self, *args: Any, periodic: Periodic | None = None, **kwargs: Any) -> None:
        # RQ derives its lock TTLs from a whole-second interval; the tick is ours.
        kwargs.setdefault("interval", 1)
        super().__init__(*args, **kwargs)
        self.tick = defaults.SCHEDULER_INTERVAL
        self._bulk: BulkLane | None = None
        self.periodic = periodic
        self._enqueue_due: Script = self.connection.register_script(scripts.ENQUEUE_DUE)

    def enqueue_scheduled_jobs(self) -> None:
        """Enqueue every job whose scheduled time has come (push jobs with ENQUEUE_DUE, the
        platform queue's through RQ's `enqueue_job`)."""
        self._status = self.Status.WORKING
        if not self._scheduled_job_registries and self._acquired_locks:
            self.prepare_registries()
        for registry in self._scheduled_job_registries:
            now = time.time()
            if registry.name == defaults.QUEUE_NAME:
                # Push jobs (no dependencies, no rate limits) move in one script, looked for
                # first with a plain read: most ticks find nothing due.
                if self.connection.zrangebyscore(registry.key, 0, now, start=0, num=1):
                    self._enqueue_due(
                        keys=[registry.key, jobs.QUEUE_KEY, jobs.QUEUES_SET_KEY],
                        args=[repr(now), 1000, Job.redis_job_namespace_prefix, utcformat(rq_now())],
                    )
                continue
            raw = self.connection.zrangebyscore(registry.key, 0, now, start=0, num=1000)
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

    def enqueue_periodic(self) -> None:
        """Enqueue the due periodic platform tasks, if this scheduler holds the platform
        queue's lock (one process does, however many workers run)."""
        if self.periodic is None or defaults.PLATFORM_QUEUE_NAME not in self._acquired_locks:
            return
        try:
            self.periodic.tick(self.connection)
        except redis.RedisError as exc:
            log.warning("periodic tasks not enqueued: %s", exc.__class__.__name__)
        except Exception:  # never let one bad tick stop the scheduling of pushes
            log.exception("periodic tasks not enqueued")

    def work(self) -> None:
        """Schedule every tick, beat the heart every second, sweep every SWEEP_INTERVAL,
        enqueue due periodic tasks every PERIODIC_TICK."""
        self._install_signal_handlers()
        self.register_birth()
        last_beat = last_sweep = last_periodic = 0.0
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
            if now - last_periodic >= defaults.PERIODIC_TICK:
                self.enqueue_periodic()
                last_periodic = now
            time.sleep(self.tick)
        self.stop()
