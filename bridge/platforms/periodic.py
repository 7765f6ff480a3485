"""Periodic platform work: tasks that run per store every so often, one job at a time each.

The one active scheduler (the RQ scheduler process that holds the lock of the `platform`
queue, bridge/scheduler.py) calls `Periodic.tick` every PERIODIC_TICK seconds. A task that is
due gets one RQ job on the `platform` queue, unless its previous job is still queued or
running; workers take push jobs (`kanal`) first, then platform jobs. The job (`run`) calls the
task's function once (one check or one page: seconds), then writes the task's next due time:
its interval, or what the function returned (0: the next page at once). It never sleeps on a
throttle: `PlatformThrottled` reschedules the task for when the shop's budget allows. A run
that raises is logged with its traceback, counted, and tried again sooner (PERIODIC_RETRY,
doubling up to the interval); the job itself always ends well, so the failed registry keeps
only pushes.

Redis (next-due times outlive restarts: a deploy does not reset them):

    kb:periodic:due        sorted set: task id ("watchdog:main-shop") -> next due, unix seconds
    kb:periodic:job        hash: task id -> the id of the RQ job last enqueued for it
    kb:periodic:failures   hash: task id -> failed runs in a row (absent after a success)

Adding a task (the reconciliation's, say) takes a function and one entry in TASKS:

    # bridge/platforms/reconcile.py
    def reconcile_page(context: periodic.Context, store: str) -> float | None:
        '''One page for `store`; seconds until the next run (None: the regular interval).'''

    # TASKS, below
    Task("reconcile", "bridge.platforms.reconcile:reconcile_page",
         lambda config, key, store: store.reconcile_every_minutes * 60
         if store.has_api_access else 0),

Intervals are read from the configuration: 0 turns a task off for a store (its due time is
dropped), and an interval shorter than the time left takes effect at once. A new task (a
store added, the bridge started for the first time) is due at once.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from bridge import defaults
from bridge.config import BridgeConfig, Settings, StoreConfig, load_config
from bridge.errors import ConfigError, PlatformError, PlatformThrottled

log = logging.getLogger("bridge.platforms.periodic")

DUE_KEY = f"{defaults.KEY_PREFIX}:periodic:due"
JOB_KEY = f"{defaults.KEY_PREFIX}:periodic:job"
FAILURES_KEY = f"{defaults.KEY_PREFIX}:periodic:failures"
RUN_FUNCTION = "bridge.platforms.periodic.run"

# RQ job statuses of a job that will still run.
_WAITING = {b"queued", b"scheduled", b"deferred"}


@dataclass(frozen=True)
class Context:
    """What a task's function gets: the configuration and a Redis client."""

    config: BridgeConfig
    redis: redis.Redis


TaskFunction = Callable[[Context, str], float | None]
Interval = Callable[[BridgeConfig, str, StoreConfig], float]


@dataclass(frozen=True)
class Task:
    """A kind of periodic work. `function` runs once per job for one store and returns the
    seconds until its next run (None: `every`); `every` gives a store's interval in seconds
    (0: off for that store). `name` must not contain ":"."""

    name: str
    function: str | TaskFunction  # "module:name" is imported when the job runs
    every: Interval

    def resolve(self) -> TaskFunction:
        if not isinstance(self.function, str):
            return self.function
        module, _, name = self.function.partition(":")
        found: TaskFunction = getattr(importlib.import_module(module), name)
        return found


def _watchdog_every(config: BridgeConfig, key: str, store: StoreConfig) -> float:
    try:
        public_url = config.public_url()
    except ConfigError:
        public_url = None  # check-config names the bad PUBLIC_URL
    if not store.has_api_access or public_url is None:
        return 0.0
    return config.bridge.watchdog_every_minutes * 60


def _reconcile_every(config: BridgeConfig, key: str, store: StoreConfig) -> float:
    return store.reconcile_every_minutes * 60 if store.has_api_access else 0.0


def _backfill_every(config: BridgeConfig, key: str, store: StoreConfig) -> float:
    # Idle, the task looks for a backfill this often; `kanal-bridge backfill` makes it due now.
    return defaults.BACKFILL_CHECK_SECONDS if store.has_api_access else 0.0


TASKS: tuple[Task, ...] = (
    Task("watchdog", "bridge.platforms.watchdog:check", _watchdog_every),
    Task("reconcile", "bridge.platforms.tasks:reconcile_page", _reconcile_every),
    Task("backfill", "bridge.platforms.tasks:backfill_page", _backfill_every),
)


def task_id(name: str, store: str) -> str:
    return f"{name}:{store}"


def split_id(ident: str) -> tuple[str, str]:
    name, _, store = ident.partition(":")
    return name, store


def wanted(config: BridgeConfig, tasks: tuple[Task, ...] = TASKS) -> dict[str, float]:
    """Every task id the configuration calls for, with its interval in seconds."""
    found = {}
    for key, store in sorted(config.stores.items()):
        for task in tasks:
            seconds = task.every(config, key, store)
            if seconds > 0:
                found[task_id(task.name, key)] = seconds
    return found


def queue(connection: redis.Redis) -> Queue:
    """The queue of platform jobs (workers listen to it after the push queue)."""
    return Queue(defaults.PLATFORM_QUEUE_NAME, connection=connection, serializer=JSONSerializer)


class Periodic:
    """The scheduler's side: which tasks exist, and enqueueing those that are due."""

    def __init__(self, config: BridgeConfig, tasks: tuple[Task, ...] = TASKS) -> None:
        self.config = config
        self.tasks = tasks
        self._synced = 0.0

    def tick(self, connection: redis.Redis, now: float | None = None) -> list[str]:
        """Enqueue every due task whose previous job is over; the task ids enqueued."""
        now = time.time() if now is None else now
        if now - self._synced >= defaults.PERIODIC_SYNC:
            self.sync(connection, now)
            self._synced = now
        raw: list[bytes] = connection.zrangebyscore(DUE_KEY, "-inf", now)  # type: ignore[assignment]
        due = [_text(member) for member in raw]
        if not due:
            return []
        intervals = wanted(self.config, self.tasks)
        busy = _busy(connection, due, now)
        enqueued = []
        platform = queue(connection)
        for ident in due:
            if ident not in intervals:
                connection.zrem(DUE_KEY, ident)
                continue
            if ident in busy:
                connection.zadd(DUE_KEY, {ident: now + defaults.PERIODIC_RECHECK})
                continue
            job_id = uuid.uuid4().hex
            # With the job, in one transaction, a fallback due time: should the job be lost,
            # the task runs again after its interval anyway.
            with connection.pipeline() as pipe:
                platform.enqueue_call(
                    RUN_FUNCTION,
                    args=(ident,),
                    job_id=job_id,
                    timeout=defaults.PLATFORM_JOB_TIMEOUT,
                    result_ttl=defaults.PLATFORM_RESULT_TTL,
                    failure_ttl=defaults.PLATFORM_RESULT_TTL,
                    description=ident,
                    pipeline=pipe,
                )
                pipe.zadd(DUE_KEY, {ident: now + intervals[ident]})
                pipe.hset(JOB_KEY, ident, job_id)
                pipe.execute()
            enqueued.append(ident)
        return enqueued

    def sync(self, connection: redis.Redis, now: float | None = None) -> None:
        """Make the due times match the configuration: new tasks due now, tasks turned off
        dropped, a due time further away than the interval brought within it."""
        now = time.time() if now is None else now
        intervals = wanted(self.config, self.tasks)
        known = dict(next_due(connection))
        with connection.pipeline(transaction=False) as pipe:
            gone = [ident for ident in known if ident not in intervals]
            if gone:
                pipe.zrem(DUE_KEY, *gone)
                pipe.hdel(FAILURES_KEY, *gone)
            for ident, seconds in intervals.items():
                if ident not in known:
                    pipe.zadd(DUE_KEY, {ident: now}, nx=True)
                elif known[ident] > now + seconds:
                    pipe.zadd(DUE_KEY, {ident: now + seconds}, xx=True)
            pipe.execute()


def _busy(connection: redis.Redis, idents: list[str], now: float) -> set[str]:
    """The tasks among `idents` whose last job is still queued, scheduled or running."""
    job_ids = connection.hmget(JOB_KEY, idents)
    platform_queue = queue(connection).key
    with connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hmget(Job.key_for(_text(job_id)) if job_id else "-", "status", "started_at")
            pipe.lpos(platform_queue, _text(job_id) if job_id else "-")
        replies = pipe.execute()
    busy = set()
    states = zip(replies[::2], replies[1::2], strict=True)
    for ident, ((status, started_at), queued_at) in zip(idents, states, strict=True):
        if status == b"queued" and queued_at is None:
            continue  # popped by a worker that died before starting it (BLPOP leaves no trace)
        if status in _WAITING or (status == b"started" and _running_since(started_at, now)):
            busy.add(ident)
    return busy


def _running_since(started_at: bytes | None, now: float) -> bool:
    """Started recently enough to be still running (an older one's worker died)."""
    if not started_at:
        return False
    try:
        started = datetime.fromisoformat(started_at.decode().replace("Z", "+00:00"))
    except ValueError:
        return False
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return now - started.timestamp() < defaults.PLATFORM_JOB_TIMEOUT + defaults.SWEEP_GRACE


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# -- the worker's side --------------------------------------------------------------------

_context: Context | None = None
_context_lock = threading.Lock()


def install(context: Context) -> None:
    """Give platform jobs this process's configuration and Redis client (the worker's)."""
    global _context
    _context = context


def context() -> Context:
    """The installed context, else one read from the environment (a plain `rq worker`)."""
    global _context
    with _context_lock:
        if _context is None:
            from bridge.connection import sync_redis

            settings = Settings.from_env()
            _context = Context(load_config(settings), sync_redis(settings.redis_url))
        return _context


def run(ident: str, tasks: tuple[Task, ...] = TASKS) -> str:
    """The RQ job: one run of task `ident` ("watchdog:main-shop"); how it went."""
    ctx = context()
    name, key = split_id(ident)
    task = next((t for t in tasks if t.name == name), None)
    store = ctx.config.stores.get(key)
    interval = task.every(ctx.config, key, store) if task and store else 0.0
    if task is None or store is None or interval <= 0:
        ctx.redis.zrem(DUE_KEY, ident)
        return "off"
    outcome = "done"
    try:
        after = task.resolve()(ctx, key)
    except PlatformThrottled as exc:
        after, outcome = exc.wait, "throttled"
        log.info("%s: the shop's API budget asks for %.1f s: rescheduled", ident, exc.wait)
    except Exception as exc:
        failures = int(ctx.redis.hincrby(FAILURES_KEY, ident, 1))
        after = min(interval, defaults.PERIODIC_RETRY * 2 ** (failures - 1))
        outcome = "failed"
        if isinstance(exc, PlatformError):  # the shop's answer, said in words: no traceback
            log.warning("%s (%d in a row): next try in %.0f s", exc, failures, after)
        else:
            log.exception("%s failed (%d in a row): next try in %.0f s", ident, failures, after)
    else:
        ctx.redis.hdel(FAILURES_KEY, ident)
    next_due = time.time() + (interval if after is None else max(after, 0.0))
    ctx.redis.zadd(DUE_KEY, {ident: next_due})
    return outcome


def next_due(connection: redis.Redis) -> Mapping[str, float]:
    """Every task's next due time (for status displays and tests)."""
    pairs: list[tuple[bytes, float]] = connection.zrange(DUE_KEY, 0, -1, withscores=True)  # type: ignore[assignment]
    return {_text(member): float(score) for member, score in pairs}
