"""The worker process against a real Redis and RQ: how it is built, a burst run pushing to the
Kanal emulator over HTTP, one scheduler across workers, and the maintenance that restarts a
scheduler that died (so an RQ upgrade that breaks either fails here, saying what broke)."""

from __future__ import annotations

import inspect
import logging
import os
import signal
import time
from typing import Any

import httpx
import pytest
import redis
from rq.queue import Queue
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer
from rq.worker import BaseWorker, SimpleWorker

from bridge import defaults
from bridge.config import Settings, parse_config
from bridge.delivery import jobs
from bridge.delivery import push as push_module
from bridge.delivery.kanal import KanalClient
from bridge.delivery.limiter import Limiter
from bridge.delivery.records import Record, WorkerRecords, record_key
from bridge.emulators.kanal import BackgroundEmulator, EmulatorStore
from bridge.scheduler import PacedScheduler
from bridge.worker import Worker, kanal_store_of, rq_log_level, run_worker
from tests import pushes
from tests.rq_runs import WorkerRun


def test_run_worker_builds_the_worker_from_the_defaults(
    redis_url: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: dict[str, Any] = {}

    def work(self: Worker, **options: Any) -> bool:
        built.update(worker=self, **options)
        return False

    monkeypatch.setattr(Worker, "work", work)
    run_worker(Settings.from_env({"REDIS_URL": redis_url}), pushes.config())

    worker: Worker = built["worker"]
    assert isinstance(worker, SimpleWorker), "pushes must run in-process (warm Kanal pool)"
    # Pushes first, then periodic platform work (bridge/platforms/periodic.py).
    assert [queue.name for queue in worker.queues] == [
        defaults.QUEUE_NAME,
        defaults.PLATFORM_QUEUE_NAME,
    ]
    assert worker.periodic is not None and worker.periodic.config is not None
    assert worker.serializer is JSONSerializer
    assert worker.maintenance_interval == defaults.WORKER_MAINTENANCE_INTERVAL
    assert worker.worker_ttl == defaults.WORKER_TTL
    assert (built["with_scheduler"], built["burst"]) == (True, False)


def test_a_burst_run_pushes_what_is_due_to_kanal_over_http(
    redis_url: str, redis_client: redis.Redis
) -> None:
    with BackgroundEmulator({7: EmulatorStore(7, {pushes.KANAL_KEY})}) as kanal:
        config = parse_config(pushes.CONFIG.replace("http://kanal.test", kanal.url), {})
        pushes.accept(redis_url, [pushes.order()], settle=0)
        run_worker(Settings.from_env({"REDIS_URL": redis_url}), config, burst=True)
        held = kanal.state.records[7]["orders"]
    assert held["1001"].body["total_price"] == "10.00"
    assert redis_client.hget(record_key(7, "orders", "1001"), "status") == b"delivered"
    assert redis_client.get(RQScheduler.get_locking_key(defaults.QUEUE_NAME)) is None


def test_at_info_the_worker_logs_its_own_lines_and_rq_only_its_warnings(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """RQ's three INFO lines per job repeat the bridge's push line: at INFO they are not
    written, at DEBUG they are."""
    caplog.set_level(logging.INFO)
    assert rq_log_level() == "WARNING"
    with BackgroundEmulator({7: EmulatorStore(7, {pushes.KANAL_KEY})}) as kanal:
        config = parse_config(pushes.CONFIG.replace("http://kanal.test", kanal.url), {})
        pushes.accept(redis_url, [pushes.order()], settle=0)
        run_worker(Settings.from_env({"REDIS_URL": redis_url}), config, burst=True)
    by_logger = {(r.name, r.levelno) for r in caplog.records}
    assert ("bridge.delivery.push", logging.INFO) in by_logger
    assert ("bridge.worker", logging.INFO) in by_logger
    assert not [r for r in caplog.records if r.name.startswith("rq.") and r.levelno < 30]
    caplog.set_level(logging.DEBUG)
    assert rq_log_level() == "DEBUG"


def test_a_worker_whose_peer_holds_the_scheduler_lock_starts_no_scheduler(
    redis_client: redis.Redis,
) -> None:
    redis_client.set(RQScheduler.get_locking_key(defaults.QUEUE_NAME), "another-worker", ex=60)
    worker = Worker([jobs.queue(redis_client)], connection=redis_client)
    worker._start_scheduler()
    assert isinstance(worker.scheduler, PacedScheduler)
    assert worker.scheduler.acquired_locks == set()
    assert worker.scheduler._process is None


def test_maintenance_restarts_a_scheduler_that_died(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """The scheduler runs in a forked process; RQ's worker maintenance starts it again when
    it died, and the new one schedules pushes."""
    kanal = pushes.install(redis_client)
    run = WorkerRun(redis_url, maintenance_interval=1)
    pids: list[int] = []

    def kill_the_scheduler_then_push() -> None:
        pids.append(run.wait_for_scheduler())
        os.kill(pids[0], signal.SIGKILL)
        pids.append(run.wait_for_scheduler(other_than=pids[0]))
        pushes.accept(redis_url, [pushes.order()], settle=0.3)

    run.work(kill_the_scheduler_then_push, max_jobs=1)

    assert len(pids) == 2, "RQ's maintenance no longer restarts a dead scheduler"
    assert len(kanal.requests) == 1, "the restarted scheduler did not schedule the push"


def test_a_scheduler_that_died_holding_the_lock_does_not_keep_it_past_its_worker(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """Killed before it could release its lock (SIGTERM during start-up does that): the
    worker's shutdown releases it, so the next worker schedules at once, not 61 s later."""
    run = WorkerRun(redis_url)
    lock = RQScheduler.get_locking_key(defaults.QUEUE_NAME)

    def kill_the_scheduler() -> None:
        os.kill(run.wait_for_scheduler(), signal.SIGKILL)

    run.work(kill_the_scheduler, max_jobs=1, max_idle_time=1)
    assert redis_client.get(lock) is None, "the dead scheduler's lock outlived its worker"


def test_a_worker_leaves_a_peers_scheduler_lock_alone(redis_client: redis.Redis) -> None:
    lock = RQScheduler.get_locking_key(defaults.QUEUE_NAME)
    redis_client.set(lock, "another-worker", ex=60)
    worker = Worker([jobs.queue(redis_client)], connection=redis_client)
    worker._start_scheduler()
    worker.stop_scheduler()
    assert redis_client.get(lock) == b"another-worker"


def test_rq_worker_still_starts_the_scheduler_the_way_the_worker_overrides() -> None:
    """bridge/worker.py replaces BaseWorker._start_scheduler; RQ must still call it so."""
    parameters = list(inspect.signature(BaseWorker._start_scheduler).parameters)
    assert parameters == ["self", "burst", "logging_level", "date_format", "log_format"], (
        "RQ's BaseWorker._start_scheduler changed: update bridge/worker.py's override"
    )
    assert "self._start_scheduler(" in inspect.getsource(BaseWorker.work), (
        "RQ's worker no longer starts its scheduler through _start_scheduler"
    )
    assert "self.stop_scheduler()" in inspect.getsource(BaseWorker.teardown), (
        "RQ's worker no longer stops its scheduler through stop_scheduler"
    )
    maintenance = inspect.getsource(BaseWorker.run_maintenance_tasks)
    assert "acquire_locks(auto_start=True)" in maintenance, (
        "RQ's maintenance no longer restarts a dead scheduler: bridge/worker.py relies on it"
    )


def test_a_delivered_push_leaves_no_job_result_nor_execution_behind(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """result_ttl=0: the record says what happened; RQ keeps nothing of a finished push."""
    kanal = pushes.install(redis_client)
    pushes.accept(redis_url, [pushes.order(external_id=str(n)) for n in range(3)], settle=0)
    pushes.drain(redis_client)

    assert len(kanal.requests) == 3
    assert redis_client.zcard(jobs.SCHEDULED_KEY) == 0
    queue = jobs.queue(redis_client)
    assert FinishedJobRegistry(queue=queue).count == 0
    assert StartedJobRegistry(queue=queue).count == 0
    left = {key.decode().split(":")[1] for key in redis_client.scan_iter("rq:*")}
    assert not left & {"job", "results", "execution", "executions"}, left


def test_a_failed_push_still_lands_in_failed_with_its_error_and_can_be_requeued(
    redis_url: str, redis_client: redis.Redis
) -> None:
    kanal = pushes.install(redis_client)
    kanal.answers.append(httpx.Response(422, json={"message": "bad", "errors": {"x": ["no"]}}))
    pushes.accept(redis_url, [pushes.order()], settle=0)
    pushes.drain(redis_client)

    failed = FailedJobRegistry(queue=jobs.queue(redis_client))
    [job_id] = failed.get_job_ids()
    result = jobs.queue(redis_client).fetch_job(job_id).latest_result()
    assert result is not None and "422" in (result.exc_string or "")
    assert StartedJobRegistry(queue=jobs.queue(redis_client)).count == 0

    failed.requeue(job_id)
    pushes.drain(redis_client)
    assert len(kanal.requests) == 2
    assert redis_client.hget(record_key(7, "orders", "1001"), "status") == b"delivered"
    assert failed.count == 0
    assert not redis_client.exists(f"rq:job:{job_id}")


def test_the_heart_beats_once_per_interval_unless_the_key_would_expire_sooner(
    redis_client: redis.Redis,
) -> None:
    worker = Worker([jobs.queue(redis_client)], connection=redis_client, worker_ttl=45)
    worker.register_birth()
    worker.heartbeat()
    assert 100 <= redis_client.ttl(worker.key) <= 105
    redis_client.expire(worker.key, 1000)
    worker.heartbeat()  # within the interval, the key lives long enough: nothing sent
    assert redis_client.ttl(worker.key) > 105
    worker.heartbeat(timeout=2000)  # a longer life asked for (a longer job): sent
    assert redis_client.ttl(worker.key) > 1000
    worker.register_death()


def test_rq_worker_still_has_the_methods_the_lean_path_overrides() -> None:
    """bridge/worker.py overrides these RQ methods for push jobs; RQ must still call them so."""
    expected = {
        "heartbeat": ["self", "timeout", "pipeline"],
        "check_for_suspension": ["self", "burst"],
        "set_state": ["self", "state", "pipeline"],
        "prepare_execution": ["self", "job"],
        "prepare_job_execution": ["self", "job", "remove_from_intermediate_queue"],
        "handle_execution_ended": ["self", "job", "queue", "heartbeat_ttl"],
        "handle_job_success": ["self", "job", "queue", "started_job_registry", "execution"],
        "handle_job_failure": [
            "self",
            "job",
            "queue",
            "started_job_registry",
            "exc_string",
            "execution",
        ],
    }
    for name, parameters in expected.items():
        found = list(inspect.signature(getattr(BaseWorker, name)).parameters)
        assert found == parameters, f"RQ's BaseWorker.{name} changed: update bridge/worker.py"
    assert "self.prepare_execution(job)" in inspect.getsource(SimpleWorker.execute_job)
    assert "self.prepare_job_execution(" in inspect.getsource(BaseWorker.perform_job)
    success = inspect.getsource(BaseWorker._finalize_success)
    assert "self.handle_execution_ended(" in success and "self.handle_job_success(" in success
    assert "self.handle_job_failure(" in inspect.getsource(BaseWorker._finalize_failure)


def test_the_worker_pops_a_job_with_its_hash_in_queue_order_and_starts_a_push_with_it(
    redis_url: str, redis_client: redis.Redis
) -> None:
    pushes.accept(redis_url, [pushes.order(external_id=str(n)) for n in (1, 2)], settle=0)
    job_ids = [redis_client.hget(record_key(7, "orders", str(n)), "job").decode() for n in (1, 2)]
    redis_client.zrem(jobs.SCHEDULED_KEY, *job_ids)
    worker = Worker(
        [jobs.queue(redis_client), Queue(defaults.PLATFORM_QUEUE_NAME, connection=redis_client)],
        connection=redis_client,
        serializer=JSONSerializer,
    )
    push_queue, platform_queue = worker.queues
    redis_client.rpush(platform_queue.key, "platform-job-gone", job_ids[1])  # gone: skipped
    redis_client.rpush(push_queue.key, "push-job-gone", job_ids[0])

    job, queue = worker._pop_and_start()

    assert (job.id, queue.name) == (job_ids[0], defaults.QUEUE_NAME)
    fetched = jobs.queue(redis_client).fetch_job(job.id)
    assert (job.func_name, job.args, job.timeout, job.result_ttl) == (
        fetched.func_name,
        fetched.args,
        fetched.timeout,
        fetched.result_ttl,
    )
    assert fetched.get_status() == "started" and fetched.worker_name == worker.name
    assert job.get_status(refresh=False) == "started"
    assert StartedJobRegistry(queue=push_queue).get_job_ids() == [job.id]
    assert redis_client.hget(worker.key, "state") == b"busy"
    record = redis_client.hgetall(record_key(7, "orders", "1"))
    assert (record[b"job"], record[b"status"]) == (job.id.encode(), b"pending")
    assert worker._popped is not None and worker._popped.claimed

    # A job on another queue (platform work) is popped with its hash, not started.
    job, queue = worker._pop_and_start()
    assert (job.id, queue.name) == (job_ids[1], defaults.PLATFORM_QUEUE_NAME)
    assert jobs.queue(redis_client).fetch_job(job.id).get_status() == "scheduled"
    assert worker._pop_and_start() is None
    assert redis_client.llen(platform_queue.key) == 0


def test_a_push_job_made_before_its_record_field_is_started_by_the_worker(
    redis_url: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job saved by an earlier version (no RECORD_FIELD): its record is claimed in the
    round trip that starts it, after the pop."""
    kanal = pushes.install(redis_client)
    WorkerRecords(redis_client).claim("kb:rec:7:orders:none", "x")  # CLAIM loaded
    pushes.accept(redis_url, [pushes.order(external_id=str(n)) for n in (1, 2)], settle=0)
    for job_id in redis_client.zrange(jobs.SCHEDULED_KEY, 0, -1):
        redis_client.hdel(jobs.job_key(job_id.decode()), jobs.RECORD_FIELD)
    claimed: list[str] = []
    monkeypatch.setattr(WorkerRecords, "claim", lambda *args: claimed.append(args[1]))

    pushes.drain(redis_client)

    assert len(kanal.requests) == 2 and claimed == []
    for n in (1, 2):
        assert redis_client.hget(record_key(7, "orders", str(n)), "status") == b"delivered"
    assert StartedJobRegistry(queue=jobs.queue(redis_client)).count == 0


def test_the_worker_claims_a_pushs_record_in_the_round_trip_that_starts_its_job(
    redis_url: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the first push on a fresh Redis: POP_START carries the claim's Lua with it."""
    kanal = pushes.install(redis_client)
    claimed: list[str] = []
    claim = WorkerRecords.claim

    def counted(self: WorkerRecords, key: str, job_id: str) -> Record | None:
        claimed.append(key)
        return claim(self, key, job_id)

    monkeypatch.setattr(WorkerRecords, "claim", counted)
    pushes.accept(redis_url, [pushes.order(external_id=str(n)) for n in range(3)], settle=0)
    pushes.drain(redis_client)

    assert len(kanal.requests) == 3
    assert claimed == []
    for n in range(3):
        assert redis_client.hget(record_key(7, "orders", str(n)), "status") == b"delivered"


def test_a_running_push_is_listed_as_started_without_rq_execution_records(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """The dashboard and `status` see the push running (started registry, job status); RQ's
    execution hash, its registry and the worker's execution set are not written."""
    seen: list[tuple[list[str], bytes | None, set[str]]] = []
    pushes.install(redis_client)
    pushes.accept(redis_url, [pushes.order(external_id=str(n)) for n in (1, 2)], settle=0)

    def look(request: httpx.Request) -> httpx.Response:
        started = StartedJobRegistry(queue=jobs.queue(redis_client)).get_job_ids()
        status = redis_client.hget(jobs.job_key(started[0]), "status") if started else None
        kinds = {key.decode().split(":")[1] for key in redis_client.scan_iter("rq:*")}
        seen.append((started, status, kinds))
        return httpx.Response(200, json={})

    transport = httpx.MockTransport(look)
    push_module.runtime().kanal = KanalClient("http://kanal.test", transport=transport)
    pushes.drain(redis_client)

    assert len(seen) == 2
    for started, status, kinds in seen:
        assert len(started) == 1 and status == b"started"
        assert not kinds & {"execution", "executions"}, kinds
        assert not any(k.startswith("worker:") for k in kinds)


def test_a_pushs_success_goes_out_with_its_records_settle(
    redis_url: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job's success (counters, job deleted, started entry removed) is in the round trip
    that settles the record: a push failing after it is not listed as a failed job."""
    kanal = pushes.install(redis_client)
    pushes.accept(redis_url, [pushes.order(external_id=str(n)) for n in (1, 2)], settle=0)
    finish = WorkerRecords.finish
    round_trips: list[bool] = []

    def finishing(self: WorkerRecords, *args: Any, **kwargs: Any) -> Any:
        round_trips.append(kwargs.get("also") is not None)
        return finish(self, *args, **kwargs)

    def broken(store: str, outcome: str) -> None:
        raise RuntimeError("after the settle")

    monkeypatch.setattr(WorkerRecords, "finish", finishing)
    monkeypatch.setattr(push_module.metrics, "push_outcome", broken)
    made: list[Worker] = []

    class Kept(Worker):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    pushes.drain(redis_client, rounds=1, worker=Kept)

    assert len(kanal.requests) == 2 and round_trips == [True, True]
    for n in (1, 2):
        assert redis_client.hget(record_key(7, "orders", str(n)), "status") == b"delivered"
    queue = jobs.queue(redis_client)
    assert FailedJobRegistry(queue=queue).count == 0
    assert StartedJobRegistry(queue=queue).count == 0
    assert not list(redis_client.scan_iter("rq:job:*"))
    assert redis_client.hget(made[0].key, "successful_job_count") == b"2"


def test_a_push_due_at_its_slot_waits_for_the_pause_the_worker_read_as_it_started(
    redis_url: str, redis_client: redis.Redis
) -> None:
    kanal = pushes.install(redis_client)
    records = WorkerRecords(redis_client)
    pushes.accept(redis_url, [pushes.order()], settle=0)
    key = record_key(7, "orders", "1001")
    now = time.time()
    old_job = redis_client.hget(key, "job").decode()
    redis_client.zrem(jobs.SCHEDULED_KEY, old_job)
    redis_client.delete(jobs.job_key(old_job))
    assert records.handoff(key, old_job, now, slot=now, store="shop") is not None
    until = Limiter(redis_client).pause(7, 30, now)

    pushes.drain(redis_client, rounds=1)

    assert kanal.requests == []
    new_job = redis_client.hget(key, "job").decode()
    assert redis_client.zscore(jobs.SCHEDULED_KEY, new_job) == pytest.approx(until, abs=0.01)


@pytest.mark.parametrize(
    ("key", "kanal"),
    [("kb:rec:7:orders:1001", 7), ("kb:rec:12:customers:a:b", 12), ("kb:rec:shop:orders:1", None)],
)
def test_kanal_store_of_a_record_key(key: str, kanal: int | None) -> None:
    assert kanal_store_of(key) == kanal
