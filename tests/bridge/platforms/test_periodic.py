"""Periodic platform work against a real Redis and RQ: which tasks exist, one outstanding job
per task, next-due times that outlive a restart, jobs that reschedule themselves, and one
scheduler enqueueing them however many there are."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from bridge import defaults
from bridge.config import BridgeConfig, StoreConfig, parse_config
from bridge.delivery import jobs
from bridge.errors import PlatformThrottled, PlatformUnavailable
from bridge.platforms import periodic
from bridge.platforms.periodic import DUE_KEY, FAILURES_KEY, Context, Periodic, Task
from bridge.scheduler import PacedScheduler
from bridge.worker import Worker

CONFIG = """
[bridge]
public_url = "https://bridge.example.com"
watchdog_every_minutes = {every}

[stores.api-shop]
platform = "woocommerce"
kanal_store_id = 1
kanal_api_key = "kanal-key-123"
webhook_secrets = ["secret-123"]
site_url = "https://shop.example"
consumer_key = "ck_123"
consumer_secret = "cs_123"

[stores.hooks-only]
platform = "shopify"
kanal_store_id = 2
kanal_api_key = "kanal-key-456"
webhook_secrets = ["secret-456"]
"""

calls: list[str] = []
answers: list[float | BaseException | None] = []


def record_call(context: Context, store: str) -> float | None:
    calls.append(store)
    answer = answers.pop(0) if answers else None
    if isinstance(answer, BaseException):
        raise answer
    return answer


def every_minute(config: BridgeConfig, key: str, store: StoreConfig) -> float:
    return 60.0 if store.has_api_access else 0.0


TASKS = (Task("probe", record_call, every_minute),)


def config(every: float = 10) -> BridgeConfig:
    return parse_config(CONFIG.format(every=every), {})


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    calls.clear()
    answers.clear()
    yield
    periodic._context = None


@pytest.fixture
def context(redis_client: redis.Redis) -> Context:
    ctx = Context(config(), redis_client)
    periodic.install(ctx)
    return ctx


def test_the_watchdog_runs_for_stores_with_api_access_and_a_public_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PUBLIC_URL", raising=False)

    def watchdogs(config: BridgeConfig) -> dict[str, float]:
        return {k: v for k, v in periodic.wanted(config).items() if k.startswith("watchdog:")}

    assert watchdogs(config()) == {"watchdog:api-shop": 600.0}
    assert watchdogs(config(every=0)) == {}
    without_url = parse_config(CONFIG.format(every=10).replace("public_url", "# public_url"), {})
    assert watchdogs(without_url) == {}


def test_a_new_task_is_due_at_once_and_gets_one_job_on_the_platform_queue(
    redis_client: redis.Redis,
) -> None:
    now = time.time()
    scheduler = Periodic(config(), TASKS)
    assert scheduler.tick(redis_client, now) == ["probe:api-shop"]
    queue = periodic.queue(redis_client)
    [job_id] = queue.job_ids
    job = Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer)
    assert job.func_name == periodic.RUN_FUNCTION and job.args == ["probe:api-shop"]
    assert job.timeout == defaults.PLATFORM_JOB_TIMEOUT
    # The fallback due time: should the job be lost, the task runs again after its interval.
    assert periodic.next_due(redis_client) == {"probe:api-shop": pytest.approx(now + 60)}


def test_a_task_whose_job_is_still_queued_or_running_is_not_enqueued_again(
    redis_client: redis.Redis,
) -> None:
    now = time.time()
    scheduler = Periodic(config(), TASKS)
    scheduler.tick(redis_client, now)
    redis_client.zadd(DUE_KEY, {"probe:api-shop": now})  # due again, its job still queued
    assert scheduler.tick(redis_client, now + 1) == []
    assert periodic.queue(redis_client).count == 1
    assert periodic.next_due(redis_client)["probe:api-shop"] == pytest.approx(
        now + 1 + defaults.PERIODIC_RECHECK
    )
    [job_id] = periodic.queue(redis_client).job_ids
    started = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(now))
    redis_client.hset(Job.key_for(job_id), mapping={"status": "started", "started_at": started})
    redis_client.zadd(DUE_KEY, {"probe:api-shop": now})
    assert scheduler.tick(redis_client, now + 2) == []  # running
    # A job "started" for longer than any platform job runs: its worker died.
    late = now + defaults.PLATFORM_JOB_TIMEOUT + defaults.SWEEP_GRACE + 1
    redis_client.zadd(DUE_KEY, {"probe:api-shop": now})
    assert scheduler.tick(redis_client, late) == ["probe:api-shop"]


def test_a_queued_job_a_dead_worker_popped_does_not_hold_its_task_back(
    redis_client: redis.Redis,
) -> None:
    now = time.time()
    scheduler = Periodic(config(), TASKS)
    scheduler.tick(redis_client, now)
    # A worker popped the job (BLPOP: it leaves the queue) and was killed before starting it.
    [job_id] = periodic.queue(redis_client).job_ids
    redis_client.lrem(periodic.queue(redis_client).key, 1, job_id)
    redis_client.zadd(DUE_KEY, {"probe:api-shop": now})
    assert scheduler.tick(redis_client, now + 1) == ["probe:api-shop"]


def test_next_due_times_outlive_a_restart_and_follow_the_configuration(
    redis_client: redis.Redis,
) -> None:
    now = time.time()
    redis_client.zadd(DUE_KEY, {"probe:api-shop": now + 30, "probe:gone-shop": now - 5})
    restarted = Periodic(config(), TASKS)
    assert restarted.tick(redis_client, now) == []  # not due yet: the restart kept its time
    assert periodic.next_due(redis_client) == {"probe:api-shop": now + 30}  # gone-shop dropped
    # An interval shorter than the time left takes effect at once.
    redis_client.zadd(DUE_KEY, {"probe:api-shop": now + 3600})
    Periodic(config(), TASKS).sync(redis_client, now)
    assert periodic.next_due(redis_client) == {"probe:api-shop": now + 60}
    # A task turned off is dropped.
    off = (Task("probe", record_call, lambda config, key, store: 0.0),)
    Periodic(config(), off).sync(redis_client, now)
    assert periodic.next_due(redis_client) == {}


def test_a_run_reschedules_its_task_for_its_interval_or_what_it_asked(
    context: Context, redis_client: redis.Redis
) -> None:
    before = time.time()
    assert periodic.run("probe:api-shop", TASKS) == "done"
    assert calls == ["api-shop"]
    assert periodic.next_due(redis_client)["probe:api-shop"] >= before + 60
    answers.append(0.0)  # the next page at once
    periodic.run("probe:api-shop", TASKS)
    assert periodic.next_due(redis_client)["probe:api-shop"] <= time.time()


def test_a_throttled_run_is_rescheduled_for_the_wait_without_sleeping(
    context: Context, redis_client: redis.Redis
) -> None:
    answers.append(PlatformThrottled("bucket empty", wait=7.5))
    started = time.monotonic()
    assert periodic.run("probe:api-shop", TASKS) == "throttled"
    assert time.monotonic() - started < 1
    assert periodic.next_due(redis_client)["probe:api-shop"] == pytest.approx(
        time.time() + 7.5, abs=1
    )
    assert redis_client.hget(FAILURES_KEY, "probe:api-shop") is None


def test_a_failed_run_is_logged_and_tried_again_sooner_then_less_often(
    context: Context, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    answers.extend([PlatformUnavailable("shop down"), RuntimeError("bug"), None])
    periodic.run("probe:api-shop", TASKS)
    first = periodic.next_due(redis_client)["probe:api-shop"] - time.time()
    periodic.run("probe:api-shop", TASKS)
    second = periodic.next_due(redis_client)["probe:api-shop"] - time.time()
    assert first == pytest.approx(defaults.PERIODIC_RETRY, abs=1)
    assert second == pytest.approx(min(60, 2 * defaults.PERIODIC_RETRY), abs=1)
    assert redis_client.hget(FAILURES_KEY, "probe:api-shop") == b"2"
    assert "shop down" in caplog.text and "Traceback" in caplog.text  # the bug's traceback
    periodic.run("probe:api-shop", TASKS)
    assert redis_client.hget(FAILURES_KEY, "probe:api-shop") is None


def test_a_run_for_a_store_no_longer_configured_drops_its_task(
    context: Context, redis_client: redis.Redis
) -> None:
    redis_client.zadd(DUE_KEY, {"probe:hooks-only": 1.0})
    assert periodic.run("probe:hooks-only", TASKS) == "off"
    assert calls == []
    assert periodic.next_due(redis_client) == {}


def push_status_then_record(context: Context, store: str) -> float | None:
    push = Job.fetch("a-push", connection=context.redis, serializer=JSONSerializer)
    calls.append(f"{store} after a {push.get_status().value} push")
    return None


def test_a_worker_takes_pushes_first_then_runs_the_platform_job(
    context: Context, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = (Task("probe", push_status_then_record, every_minute),)
    monkeypatch.setattr(periodic, "TASKS", tasks)
    monkeypatch.setattr(periodic.run, "__defaults__", (tasks,))
    Periodic(config(), tasks).tick(redis_client)  # the platform job first...
    jobs.queue(redis_client).enqueue_call("builtins.len", args=([1, 2],), job_id="a-push")
    worker = Worker(
        [jobs.queue(redis_client), periodic.queue(redis_client)],
        connection=redis_client,
        serializer=JSONSerializer,
    )
    worker.work(burst=True, logging_level="WARNING")
    assert calls == ["api-shop after a finished push"]  # ...but the push ran before it
    assert periodic.next_due(redis_client)["probe:api-shop"] > time.time() + 30


def test_only_the_scheduler_holding_the_platform_lock_enqueues(
    redis_client: redis.Redis,
) -> None:
    queues = [jobs.queue(redis_client), periodic.queue(redis_client)]
    first = PacedScheduler(
        queues,
        connection=redis_client,
        serializer=JSONSerializer,
        periodic=Periodic(config(), TASKS),
    )
    second = PacedScheduler(
        queues,
        connection=redis_client,
        serializer=JSONSerializer,
        periodic=Periodic(config(), TASKS),
    )
    first.acquire_locks()
    second.acquire_locks()
    assert defaults.PLATFORM_QUEUE_NAME in first.acquired_locks
    assert not second.acquired_locks
    second.enqueue_periodic()
    assert periodic.queue(redis_client).count == 0
    first.enqueue_periodic()
    assert periodic.queue(redis_client).count == 1
    first.release_locks()
