"""The paced scheduler against a real Redis and RQ: sub-second precision, never early, the
sweeper in its loop, and what it builds on in RQ (so an upgrade that moves it fails here)."""

from __future__ import annotations

import inspect
import time

import pytest
import redis
from rq.job import JobStatus
from rq.queue import Queue
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer

from bridge import defaults
from bridge.delivery import jobs
from bridge.delivery.records import record_key
from bridge.scheduler import PacedScheduler
from tests import pushes
from tests.rq_runs import WorkerRun


def scheduler(client: redis.Redis) -> PacedScheduler:
    paced = PacedScheduler([jobs.queue(client)], connection=client, serializer=JSONSerializer)
    paced.acquire_locks()
    assert paced.acquired_locks == {defaults.QUEUE_NAME}
    return paced


def test_a_job_due_a_moment_ago_is_enqueued_and_one_due_soon_is_not(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """Float due times, compared to the float clock: RQ's own scheduler compares whole
    seconds and would leave a job due 20 ms ago waiting until the next second."""
    pushes.accept(redis_url, [pushes.order(external_id="1"), pushes.order(external_id="2")])
    due_id, later_id = (
        redis_client.hget(record_key(7, "orders", key), "job").decode() for key in "12"
    )
    now = time.time()
    if now % 1 < 0.05:  # keep "20 ms ago" inside the current second
        time.sleep(0.06)
        now = time.time()
    redis_client.zadd(jobs.SCHEDULED_KEY, {due_id: now - 0.02, later_id: now + 0.5})

    scheduler(redis_client).enqueue_scheduled_jobs()

    queue = jobs.queue(redis_client)
    assert queue.job_ids == [due_id]
    assert queue.fetch_job(due_id).get_status() == JobStatus.QUEUED
    assert redis_client.zrange(jobs.SCHEDULED_KEY, 0, -1) == [later_id.encode()]


def test_a_scheduled_id_whose_job_is_gone_is_dropped(
    redis_url: str, redis_client: redis.Redis
) -> None:
    redis_client.zadd(jobs.SCHEDULED_KEY, {"no-such-job": time.time() - 1})
    scheduler(redis_client).enqueue_scheduled_jobs()
    assert redis_client.zcard(jobs.SCHEDULED_KEY) == 0
    assert jobs.queue(redis_client).count == 0


def test_a_job_due_in_300_ms_runs_within_a_bounded_delay_never_before_its_slot(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """The worker's forked scheduler process moves the push onto the queue once due; the
    worker runs it. The bound is generous (a loaded 2-core CI machine); the tick is 50 ms and
    bench/ measures the real pacing."""
    kanal = pushes.install(redis_client)
    run = WorkerRun(redis_url)

    def push_due_in_300_ms() -> None:
        run.wait_for_scheduler()
        pushes.accept(redis_url, [pushes.order()], settle=0.3)
        job_id = redis_client.hget(record_key(7, "orders", "1001"), "job")
        run.due.append(float(redis_client.zscore(jobs.SCHEDULED_KEY, job_id)))

    run.work(push_due_in_300_ms, max_jobs=1)

    assert run.due, "the push was never scheduled"
    assert len(kanal.times) == 1, "the scheduler never enqueued the push (see bridge/scheduler.py)"
    late = kanal.times[0] - run.due[0]
    assert late >= 0, f"pushed {-late:.3f} s before its slot"
    assert late < 2.0, f"pushed {late:.3f} s after its slot"


def test_the_scheduler_process_sweeps_a_push_whose_job_was_lost(
    redis_url: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pending record whose job vanished is handed to a new job by the sweeper that runs in
    the scheduler's loop (grace and interval shortened; the fork inherits them)."""
    monkeypatch.setattr(defaults, "SWEEP_GRACE", 0.0)
    monkeypatch.setattr(defaults, "SWEEP_INTERVAL", 0.2)
    kanal = pushes.install(redis_client)
    pushes.accept(redis_url, [pushes.order()], settle=0)
    lost = redis_client.hget(record_key(7, "orders", "1001"), "job").decode()
    redis_client.delete(jobs.job_key(lost))
    redis_client.zrem(jobs.SCHEDULED_KEY, lost)

    WorkerRun(redis_url).work(max_jobs=1)

    assert len(kanal.requests) == 1, "the scheduler's sweeper did not rescue the lost push"
    assert redis_client.hget(record_key(7, "orders", "1001"), "status") == b"delivered"


# What bridge/scheduler.py takes from RQ's RQScheduler, beyond its constructor.
RQ_SCHEDULER_API = {
    "acquire_locks": ["self", "auto_start"],
    "prepare_registries": ["self", "queue_names"],
    "heartbeat": ["self"],
    "register_birth": ["self"],
    "stop": ["self"],
    "start": ["self"],
    "_install_signal_handlers": ["self"],
}


@pytest.mark.parametrize(("name", "parameters"), RQ_SCHEDULER_API.items())
def test_rq_scheduler_still_has_what_the_paced_scheduler_calls(
    name: str, parameters: list[str]
) -> None:
    method = getattr(RQScheduler, name, None)
    assert method is not None, f"RQ's RQScheduler.{name} is gone: bridge/scheduler.py calls it"
    assert list(inspect.signature(method).parameters) == parameters, (
        f"RQ's RQScheduler.{name} changed its signature: check bridge/scheduler.py"
    )


def test_rq_scheduler_still_has_the_state_the_paced_scheduler_reads(
    redis_client: redis.Redis,
) -> None:
    paced = PacedScheduler([jobs.queue(redis_client)], connection=redis_client)
    for attribute in ("_scheduled_job_registries", "_acquired_locks", "_stop_requested"):
        assert hasattr(paced, attribute), f"RQ's RQScheduler has no {attribute} any more"
    assert {paced.Status.WORKING, paced.Status.STARTED}
    assert isinstance(paced.should_reacquire_locks, bool)
    assert paced.interval == 1, "RQ's lock TTLs must stay derived from a 1 s interval"
    assert paced.tick == defaults.SCHEDULER_INTERVAL


def test_rq_queue_and_registry_still_have_what_the_paced_scheduler_calls() -> None:
    enqueue = inspect.signature(Queue.enqueue_job).parameters
    assert {"job", "pipeline"} <= set(enqueue), "RQ's Queue.enqueue_job changed its signature"
    remove = inspect.signature(ScheduledJobRegistry.remove).parameters
    assert {"job", "pipeline"} <= set(remove), "RQ's registry.remove changed its signature"
