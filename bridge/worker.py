"""The worker process: an RQ worker that pushes records to Kanal, with the paced scheduler."""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

import redis.exceptions
from redis import Redis
from redis.client import Pipeline
from redis.commands.core import Script
from rq.defaults import DEFAULT_WORKER_TTL
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.registry import StartedJobRegistry
from rq.results import Result
from rq.serializers import JSONSerializer
from rq.utils import as_text, now, utcformat
from rq.worker import SimpleWorker, WorkerStatus

from bridge import defaults, metrics
from bridge.config import BridgeConfig, Settings
from bridge.connection import sync_redis
from bridge.delivery import jobs, scripts
from bridge.delivery import push as delivery
from bridge.delivery.kanal import KanalClient
from bridge.delivery.limiter import PACE_PREFIX, Limiter, pace_key
from bridge.delivery.records import WorkerRecords
from bridge.ops import alerts
from bridge.platforms import periodic as platform_tasks
from bridge.platforms.periodic import Periodic
from bridge.scheduler import PacedScheduler

log = logging.getLogger("bridge.worker")


@functools.lru_cache(maxsize=8)
def _pop_start(connection: Redis) -> Script:
    """POP_START on `connection`, registered once (not once per dequeue)."""
    return connection.register_script(scripts.POP_START)


@dataclass(frozen=True, slots=True)
class Popped:
    """A push job that POP_START started as it popped it: its execution, the record it
    claimed for it (the raw CLAIM reply) and its Kanal store's pause."""

    job_id: str
    execution: Execution
    claimed: Any
    paused: Any


def _records() -> WorkerRecords | None:
    """The push runtime's record store, when this process has one."""
    try:
        return delivery.runtime().records
    except RuntimeError:
        return None


def lean(job: Job) -> bool:
    """A push job whose result is not kept: RQ's bookkeeping for it can be cut to what the
    dashboard, the registries and the sweeper read (push jobs have no dependents, repeats,
    groups nor rate limits)."""
    return job.func_name == jobs.PUSH_FUNCTION and job.result_ttl == 0


class Worker(SimpleWorker):
    """Runs pushes in-process (no fork per job: the Kanal connection pool stays warm) and
    starts the paced scheduler instead of RQ's whole-second one, with the periodic platform
    tasks of `periodic` (None: none).

    RQ's per-job bookkeeping is trimmed for push jobs (`lean`): the heart beats and
    `rq suspend` is checked once every WORKER_HEARTBEAT_INTERVAL rather than several times
    per job; a waiting push job is popped, started (started registry, job status, worker
    busy) and its record claimed in one round trip (POP_START), and its success (job
    deleted, worker idle) goes with the record's settle: two round trips to Redis for a
    push due at its slot. RQ's execution records are kept in memory only. Other jobs and
    failed pushes take RQ's own path, so the failed registry works as before."""

    periodic: Periodic | None = None
    log_result_lifespan = False  # RQ's "result discarded immediately" line after each job
    _beat_at = -1e9  # time.monotonic() of the last heartbeat sent
    _beat_until = -1e9  # ... and until when it keeps the worker's key alive
    _suspension_checked_at = -1e9
    _success_sent = ""  # the last push job whose success went out with its record's settle
    _popped: Popped | None = None  # the push job the last dequeue started
    _started_by_pop = ""  # ... and the last one that ran

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """Beat at most once per WORKER_HEARTBEAT_INTERVAL, unless the key would expire
        sooner than `timeout` asks."""
        wanted = timeout or self.worker_ttl + 60
        at = time.monotonic()
        interval = defaults.WORKER_HEARTBEAT_INTERVAL
        if at - self._beat_at < interval and self._beat_until - at >= wanted - interval:
            return
        self._beat_at, self._beat_until = at, at + wanted
        super().heartbeat(timeout, pipeline)

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's check, at most once per WORKER_HEARTBEAT_INTERVAL."""
        at = time.monotonic()
        if at - self._suspension_checked_at < defaults.WORKER_HEARTBEAT_INTERVAL:
            return
        self._suspension_checked_at = at
        super().check_for_suspension(burst)

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        """RQ sets `idle` twice between two jobs: write a state only when it changes."""
        if pipeline is None and state == self.get_state():
            return
        super().set_state(state, pipeline)

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """The first waiting job, popped with its hash and, when it is a push, started in
        the same round trip (POP_START); RQ's own dequeue, which waits, when none is waiting
        or Redis could not be reached (RQ retries with backoff)."""
        try:
            found = self._pop_and_start()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            found = None
        if found is None:
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        self.reorder_queues(reference_queue=found[1])
        found[0].redis_server_version = self.get_redis_server_version()
        self.heartbeat()
        return found

    def _pop_and_start(self) -> tuple[Job, Queue] | None:
        execution_id = jobs.new_job_id()
        moment = now()
        reply = _pop_start(self.connection)(
            keys=[queue.key for queue in self._ordered_queues],
            args=[
                Job.redis_job_namespace_prefix,
                jobs.QUEUE_KEY,
                jobs.STARTED_KEY,
                self.key,
                self.name,
                execution_id,
                repr(moment.timestamp()),
                utcformat(moment),
                PACE_PREFIX,
                DEFAULT_WORKER_TTL,
            ],
        )
        if not reply:
            return None
        queue_key, job_id, raw = as_text(reply[0]), as_text(reply[1]), reply[2]
        queue = next(q for q in self._ordered_queues if q.key == queue_key)
        job = self.job_class(job_id, connection=self.connection, serializer=self.serializer)
        job.restore(dict(zip(raw[::2], raw[1::2], strict=True)))
        if len(reply) > 3:  # a push job, started: as prepare_for_execution leaves it
            job.worker_name, job.last_heartbeat, job.started_at = self.name, moment, moment
            job._status = JobStatus.STARTED
            self._state = WorkerStatus.BUSY
            execution = Execution(execution_id, job.id, self.connection, worker_name=self.name)
            execution.created_at = moment
            self._popped = Popped(job.id, execution, reply[3], reply[4])
        return job, queue

    def prepare_execution(self, job: Job) -> Execution:
        """Hand a push job that POP_START started to push(); start any other push job in one
        round trip: its entry in the started registry, the job's `started` status, the
        worker busy, the claim of its record and, for a push due at its call slot, its Kanal
        store's pause (`bridge.delivery.push.Start`).

        The execution lives in memory only: RQ's execution hash, its registry and the
        worker's execution set (9 commands per push) say nothing the job hash and the
        started registry do not, and the sweeper finds a push whose worker died by its job
        hash."""
        popped, self._popped = self._popped, None
        if not lean(job):
            return super().prepare_execution(job)
        records = _records()
        key = job.args[0] if job.args and isinstance(job.args[0], str) else None
        if popped is not None and popped.job_id == job.id:
            self._started_by_pop = job.id
            if records is not None and key is not None:
                self._hand_over(job, key, records, popped.execution, popped.claimed, popped.paused)
            return popped.execution
        execution = Execution(jobs.new_job_id(), job.id, self.connection, worker_name=self.name)
        with self.connection.pipeline(transaction=False) as pipeline:
            ttl = self.get_heartbeat_ttl(job)
            job.started_job_registry.add_execution(execution, pipeline=pipeline, ttl=ttl)
            self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
            job.prepare_for_execution(self.name, pipeline=pipeline)
            if records is None or key is None:
                pipeline.execute()
                return execution
            records.claim_in(pipeline, key, job.id)
            kanal = kanal_store_of(key)
            if not delivery.on_time(job.kwargs.get("slot"), time.time()):
                kanal = None  # the push takes a new slot: the pause is read then
            if kanal is not None:
                pipeline.hget(pace_key(kanal), "paused")
            replies = pipeline.execute(raise_on_error=False)
        paused = replies.pop() if kanal is not None else b""
        claimed = replies.pop()
        for reply in (*replies, paused):
            if isinstance(reply, Exception):
                raise reply
        if not isinstance(claimed, Exception):  # NOSCRIPT at first: push() claims itself
            self._hand_over(job, key, records, execution, claimed, paused)
        return execution

    def _hand_over(
        self,
        job: Job,
        key: str,
        records: WorkerRecords,
        execution: Execution,
        claimed: Any,
        paused: Any,
    ) -> None:
        """Give push() the record claimed for `job` and the pause read for its store (b"": not
        read, None: no pause), with the job's success to send with the record's settle."""
        kanal = kanal_store_of(key) if paused != b"" else None
        delivery.started(
            delivery.Start(
                job.id,
                key,
                records.claimed(key, claimed),
                kanal_store_id=kanal,
                paused_until=None if kanal is None else float(paused or 0),
                succeed=functools.partial(self._succeeded, job, execution),
            )
        )

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """Nothing left to do for a push job (see `prepare_execution`), unless RQ's dequeue
        left it in its intermediate queue."""
        popped = job.id == self._started_by_pop
        if not lean(job) or (remove_from_intermediate_queue and not popped):
            super().prepare_job_execution(job, remove_from_intermediate_queue)

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        """A push job that succeeded is deleted next: no last heartbeat for it."""
        failed = job.get_status(refresh=False) == "failed" and self._success_sent != job.id
        if not lean(job) or failed:
            super().handle_execution_ended(job, queue, heartbeat_ttl)
        else:
            job.ended_at = now()

    def handle_job_success(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: StartedJobRegistry,
        execution: Execution,
    ) -> None:
        """A push job succeeded: count it, drop its execution and the job itself (what
        `result_ttl=0` does, without RQ's reads for dependents, registries and executions
        a push job never has), and go idle, in one round trip, unless the push sent all
        that with its record's settle already."""
        if not lean(job):
            super().handle_job_success(job, queue, started_job_registry, execution)
        elif self._success_sent != job.id:
            with self.connection.pipeline(transaction=False) as pipeline:
                self._succeeded(job, execution, pipeline)
                pipeline.execute()

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: StartedJobRegistry | None = None,
        exc_string: str = "",
        execution: Execution | None = None,
    ) -> None:
        """RQ's failure path, except for a push that raised after its success went out with
        its record's settle (the record is delivered; the job is gone): RQ has logged the
        error, and nothing is left to record."""
        if self._success_sent == job.id:
            return
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)

    def _succeeded(self, job: Job, execution: Execution, pipeline: Pipeline) -> None:
        """Queue on `pipeline` what RQ records of a push job that succeeded."""
        assert job.started_at is not None
        self._success_sent = job.id
        self.increment_successful_job_count(pipeline=pipeline)
        self.increment_total_working_time(now() - job.started_at, pipeline)
        job.started_job_registry.remove_execution(execution, pipeline=pipeline)
        keys = (job.key, job.dependents_key, job.dependencies_key, Result.get_key(job.id))
        pipeline.delete(*keys)
        self.set_state(WorkerStatus.IDLE, pipeline=pipeline)

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = "%H:%M:%S",
        log_format: str = "%(asctime)s %(message)s",
    ) -> None:
        self.scheduler = PacedScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level or "INFO",
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
            periodic=self.periodic,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()

    def stop_scheduler(self) -> None:
        """Stop the scheduler process, then drop its lock if it died holding it (a SIGTERM
        that lands before its signal handlers are in place kills it outright): otherwise no
        worker would schedule pushes until the lock expires, 61 s later. The lock is released
        only if it still names this worker's scheduler, never a peer's."""
        super().stop_scheduler()
        if self.scheduler is not None:
            self.scheduler.release_locks()


def run_worker(settings: Settings, config: BridgeConfig, burst: bool = False) -> None:
    """Work the push queue, then the platform queue, until stopped (SIGTERM finishes the
    current job first)."""
    connection = sync_redis(settings.redis_url)
    kanal = KanalClient(config.kanal.api_url, timeout=config.kanal.timeout_seconds)
    delivery.install(
        delivery.Runtime(
            config=config,
            kanal=kanal,
            records=WorkerRecords(connection, config.delivery.remember_versions_days),
            limiter=Limiter(connection),
        )
    )
    platform_tasks.install(platform_tasks.Context(config, connection))
    queues = [jobs.queue(connection), platform_tasks.queue(connection)]
    worker = Worker(
        queues,
        connection=connection,
        serializer=JSONSerializer,
        maintenance_interval=defaults.WORKER_MAINTENANCE_INTERVAL,
        worker_ttl=defaults.WORKER_TTL,
    )
    worker.periodic = Periodic(config)
    metrics.announce("worker", defaults.WORKER_CONNECTIONS)
    flusher = metrics.Flusher(connection)
    flusher.start()
    alert_thread = alerts.start(settings.redis_url, config)
    log.info("worker %s started: queues %s", worker.name, ", ".join(worker.queue_names()))
    try:
        worker.work(with_scheduler=True, burst=burst, logging_level=rq_log_level())
    finally:
        log.info("worker %s stopped", worker.name)
        if alert_thread is not None:
            alert_thread.stop()
        flusher.stop()
        kanal.close()


def kanal_store_of(key: str) -> int | None:
    """The Kanal store of a record key (None for a kanal-bridge 0.1 key, named by store)."""
    owner = key.split(":", 3)[2] if key.count(":") >= 3 else ""
    return int(owner) if owner.isdigit() else None


def rq_log_level() -> str:
    """RQ logs three lines per job and its registry maintenance at INFO, all of which the
    bridge's own line per push already says: RQ speaks from WARNING up (its job failures and
    tracebacks) unless the bridge logs at DEBUG."""
    debug = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    return "DEBUG" if debug else "WARNING"
