"""The sweeper hands pending records whose job is gone to a new job, and leaves live ones alone."""

from __future__ import annotations

import time

import redis
import redis.asyncio
from rq.registry import FailedJobRegistry, StartedJobRegistry

from bridge.delivery import jobs
from bridge.delivery.records import PENDING_KEY, record_key
from bridge.delivery.sweeper import sweep
from tests import pushes

KEY = record_key(7, "orders", "1")


def accept(redis_url: str) -> None:
    pushes.accept(redis_url, [pushes.order(external_id="1")])


def owner(client: redis.Redis) -> str:
    return str(client.hget(KEY, "job").decode())


def test_a_live_scheduled_job_is_left_alone(redis_url: str, redis_client: redis.Redis) -> None:
    accept(redis_url)
    job_id = owner(redis_client)
    assert sweep(redis_client, now=time.time() + 3600) == 0
    assert owner(redis_client) == job_id


def test_a_record_whose_job_vanished_gets_a_new_one(
    redis_url: str, redis_client: redis.Redis
) -> None:
    accept(redis_url)
    lost = owner(redis_client)
    redis_client.delete(jobs.job_key(lost))
    redis_client.zrem(jobs.SCHEDULED_KEY, lost)

    assert sweep(redis_client, now=time.time() + 3600) == 1
    rescued = owner(redis_client)
    assert rescued != lost
    assert redis_client.zscore(jobs.SCHEDULED_KEY, rescued) is not None


def test_a_job_started_longer_ago_than_any_push_takes_is_dead(
    redis_url: str, redis_client: redis.Redis
) -> None:
    accept(redis_url)
    job_id = owner(redis_client)
    redis_client.hset(
        jobs.job_key(job_id), mapping={"status": "started", "started_at": "2020-01-01T00:00:00Z"}
    )
    started = StartedJobRegistry(queue=jobs.queue(redis_client))
    redis_client.zadd(started.key, {f"{job_id}:execution": 1})  # its worker died long ago
    assert sweep(redis_client, now=time.time() + 60) == 1
    assert owner(redis_client) != job_id
    # RQ's maintenance finds the dead job's entry: nothing is listed as failed, since the
    # record has a new job that will push it.
    started.cleanup()
    assert FailedJobRegistry(queue=jobs.queue(redis_client)).count == 0
    assert redis_client.zcard(started.key) == 0


def test_a_job_started_just_now_is_alive(redis_url: str, redis_client: redis.Redis) -> None:
    accept(redis_url)
    job_id = owner(redis_client)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    redis_client.hset(jobs.job_key(job_id), mapping={"status": "started", "started_at": started})
    assert sweep(redis_client, now=time.time() + 40) == 0


def test_a_queued_job_a_dead_worker_popped_is_lost(
    redis_url: str, redis_client: redis.Redis
) -> None:
    accept(redis_url)
    job_id = owner(redis_client)
    # Enqueued, then popped (BLPOP) by a worker killed before it started the job.
    redis_client.zrem(jobs.SCHEDULED_KEY, job_id)
    redis_client.hset(jobs.job_key(job_id), "status", "queued")
    started = StartedJobRegistry(queue=jobs.queue(redis_client))
    redis_client.zadd(started.key, {f"{job_id}:execution": 1})  # its worker died long ago
    assert sweep(redis_client, now=time.time() + 60) == 1
    assert owner(redis_client) != job_id
    # RQ's maintenance finds the dead job's entry: nothing is listed as failed, since the
    # record has a new job that will push it.
    started.cleanup()
    assert FailedJobRegistry(queue=jobs.queue(redis_client)).count == 0
    assert redis_client.zcard(started.key) == 0


def test_a_queued_job_still_in_its_queue_is_alive(
    redis_url: str, redis_client: redis.Redis
) -> None:
    accept(redis_url)
    job_id = owner(redis_client)
    redis_client.zrem(jobs.SCHEDULED_KEY, job_id)
    redis_client.hset(jobs.job_key(job_id), "status", "queued")
    redis_client.rpush(jobs.QUEUE_KEY, job_id)
    assert sweep(redis_client, now=time.time() + 60) == 0
    assert owner(redis_client) == job_id


def test_records_within_the_grace_period_are_not_touched(
    redis_url: str, redis_client: redis.Redis
) -> None:
    accept(redis_url)
    redis_client.delete(jobs.job_key(owner(redis_client)))
    assert sweep(redis_client) == 0


def test_an_expired_record_leaves_the_pending_index(
    redis_url: str, redis_client: redis.Redis
) -> None:
    accept(redis_url)
    redis_client.delete(KEY)
    sweep(redis_client, now=time.time() + 3600)
    assert redis_client.zscore(PENDING_KEY, KEY) is None


def park(client: redis.Redis, held: bool, probe: str = "") -> None:
    """Make the record parked, as a held Kanal store leaves it."""
    from bridge.delivery.limiter import pace_key, parked_key

    client.delete(jobs.job_key(owner(client)))
    client.hset(KEY, mapping={"job": "", "wait": "parked"})
    client.zadd(parked_key(7), {KEY: 1.0})
    if held:
        client.hset(pace_key(7), mapping={"held_reason": "key_rejected", "probe": probe})


def test_a_parked_record_of_a_held_store_is_left_alone(
    redis_url: str, redis_client: redis.Redis
) -> None:
    accept(redis_url)
    redis_client.hset("kb:rec:7:orders:2", mapping={"status": "pending", "job": "probe-job"})
    park(redis_client, held=True, probe="kb:rec:7:orders:2")
    assert sweep(redis_client, now=time.time() + 3600) == 0
    assert owner(redis_client) == ""


def test_a_parked_record_the_release_missed_gets_its_job_back(
    redis_url: str, redis_client: redis.Redis
) -> None:
    from bridge.delivery.limiter import parked_key

    accept(redis_url)
    park(redis_client, held=False)
    assert sweep(redis_client, now=time.time() + 3600) == 1
    assert redis_client.zscore(jobs.SCHEDULED_KEY, owner(redis_client)) is not None
    assert redis_client.zcard(parked_key(7)) == 0


def test_a_held_store_whose_probe_is_gone_gets_a_new_probe(
    redis_url: str, redis_client: redis.Redis
) -> None:
    from bridge.delivery.limiter import pace_key

    accept(redis_url)
    park(redis_client, held=True, probe="kb:rec:7:orders:gone")
    assert sweep(redis_client, now=time.time() + 3600) == 1
    assert redis_client.hget(pace_key(7), "probe") == KEY.encode()
    assert redis_client.zscore(jobs.SCHEDULED_KEY, owner(redis_client)) is not None


def test_a_pending_record_without_a_job_or_a_reason_to_wait_gets_one(
    redis_url: str, redis_client: redis.Redis
) -> None:
    accept(redis_url)
    redis_client.delete(jobs.job_key(owner(redis_client)))
    redis_client.hset(KEY, "job", "")
    assert sweep(redis_client, now=time.time() + 3600) == 1
    assert owner(redis_client) != ""
