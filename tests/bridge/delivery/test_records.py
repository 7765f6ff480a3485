"""The record store against a real Redis: durable accept, coalescing, newest wins, dedup."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import redis.asyncio
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from bridge.delivery import jobs
from bridge.delivery.records import PENDING_KEY, record_key
from bridge.errors import StorageUnavailable
from mappers import Delete, Ignored, Patch, Upsert
from tests.pushes import accept, order


def scheduled_jobs(client: redis.Redis) -> list[str]:
    return ScheduledJobRegistry(queue=jobs.queue(client)).get_job_ids()


def test_accept_stores_the_record_and_schedules_one_rq_job(
    redis_url: str, redis_client: redis.Redis
) -> None:
    assert accept(redis_url, [order(1)]) == "accepted"

    key = record_key(7, "orders", "1001")
    record = redis_client.hgetall(key)
    assert record[b"status"] == b"pending"
    assert b'"total_price":10.00' in record[b"body"]
    [job_id] = scheduled_jobs(redis_client)
    assert record[b"job"].decode() == job_id
    job = Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer)
    assert job.func_name == "bridge.delivery.push.push"
    assert job.args == [key]
    assert job.get_status() == "scheduled"
    assert redis_client.zscore(PENDING_KEY, key) is not None


def test_the_job_hash_is_the_one_rq_saves(redis_url: str, redis_client: redis.Redis) -> None:
    accept(redis_url, [order(1)])
    key = record_key(7, "orders", "1001")
    [job_id] = scheduled_jobs(redis_client)
    saved = redis_client.hgetall(jobs.job_key(job_id))
    flat = jobs.push_job_fields(job_id, key, store="shop")
    expected = {
        str(field).encode(): value if isinstance(value, bytes) else str(value).encode()
        for field, value in zip(flat[::2], flat[1::2], strict=True)
    }
    assert saved.pop(b"created_at") and expected.pop(b"created_at")
    assert saved == expected


def test_events_for_a_pending_record_merge_into_its_job(
    redis_url: str, redis_client: redis.Redis
) -> None:
    accept(redis_url, [order(1, "pending")])
    assert accept(redis_url, [order(3, "paid")]) == "accepted"
    assert accept(redis_url, [order(2, "authorized")]) == "stale"

    assert len(scheduled_jobs(redis_client)) == 1
    body = redis_client.hget(record_key(7, "orders", "1001"), "body")
    assert b'"financial_status":"paid"' in body


def test_a_delivery_id_seen_before_is_a_duplicate(
    redis_url: str, redis_client: redis.Redis
) -> None:
    assert accept(redis_url, [order(1)], "d-1") == "accepted"
    assert accept(redis_url, [order(2)], "d-1") == "duplicate"
    assert redis_client.hget(record_key(7, "orders", "1001"), "v") == b"1"


def test_the_same_state_under_a_new_delivery_id_is_a_duplicate(redis_url: str) -> None:
    accept(redis_url, [order(1)], "d-1")
    assert accept(redis_url, [order(1)], "d-2") == "duplicate"


def test_a_patch_for_an_unknown_record_is_not_stored(
    redis_url: str, redis_client: redis.Redis
) -> None:
    patch = Patch("orders", "77", 0, {"fulfillment_status": "cancelled"})
    assert accept(redis_url, [patch]) == "unknown_record"
    assert not redis_client.exists(record_key(7, "orders", "77"))
    assert scheduled_jobs(redis_client) == []


def test_a_patch_applies_after_whatever_is_held(redis_url: str, redis_client: redis.Redis) -> None:
    accept(redis_url, [order(5)])
    patch = Patch("orders", "1001", 0, {"fulfillment_status": "cancelled"})
    assert accept(redis_url, [patch]) == "accepted"
    record = redis_client.hgetall(record_key(7, "orders", "1001"))
    assert record[b"v"] == b"6"
    assert record[b"ovl"] == b'{"fulfillment_status":"cancelled"}'


def test_a_delete_replaces_the_pending_state(redis_url: str, redis_client: redis.Redis) -> None:
    upsert = Upsert("customers", "9", 1, {"phone": "+33612345678", "external_id": "9"})
    accept(redis_url, [upsert])
    assert accept(redis_url, [Delete("customers", "9")]) == "accepted"
    record = redis_client.hgetall(record_key(7, "customers", "9"))
    assert record[b"op"] == b"delete"
    assert b"body" not in record
    assert len(scheduled_jobs(redis_client)) == 1


def test_ignored_actions_are_not_stored(redis_url: str, redis_client: redis.Redis) -> None:
    assert accept(redis_url, [Ignored("no_phone")]) == "unknown_record"
    assert redis_client.dbsize() == 0


def test_redis_down_raises_storage_unavailable() -> None:
    with pytest.raises(StorageUnavailable):
        accept("redis://127.0.0.1:1/0", [order(1)])


def test_several_actions_mark_the_delivery_once_all_are_stored(
    redis_url: str, redis_client: redis.Redis
) -> None:
    actions: list[Any] = [order(1), Upsert("customers", "9", 1, {"phone": "+33612345678"})]
    assert accept(redis_url, actions, "d-9") == "accepted"
    assert len(scheduled_jobs(redis_client)) == 2
    assert accept(redis_url, actions, "d-9") == "duplicate"


def checkout(version: int, not_before: float = 0.0) -> Upsert:
    from decimal import Decimal

    body = {
        "external_id": "tok",
        "abandoned_at": "2026-01-01T00:15:00Z",
        "total_price": Decimal("10.00"),
        "customer": {"phone": "+33612345678"},
    }
    return Upsert("checkouts", "tok", version, body, not_before=not_before)


RECOVERED = Patch("checkouts", "tok", 0, {"status": "recovered"})


def test_a_finishing_patch_for_an_unseen_checkout_leaves_a_tombstone(
    redis_url: str, redis_client: redis.Redis
) -> None:
    assert accept(redis_url, [RECOVERED]) == "noted"
    key = record_key(7, "checkouts", "tok")
    record = redis_client.hgetall(key)
    assert record[b"fin"] == b"3"
    assert record[b"status"] == b"delivered"
    assert b"body" not in record and b"dv" not in record
    assert redis_client.ttl(key) > 0
    assert scheduled_jobs(redis_client) == []
    assert redis_client.zcard(PENDING_KEY) == 0

    # The checkout's own webhooks, arriving late, can never make it sendable again.
    assert accept(redis_url, [checkout(5)]) == "finished"
    assert b"body" not in redis_client.hgetall(key)
    assert scheduled_jobs(redis_client) == []


def test_an_upsert_never_clears_a_finished_checkout(
    redis_url: str, redis_client: redis.Redis
) -> None:
    accept(redis_url, [checkout(1, not_before=4e9)])
    assert accept(redis_url, [RECOVERED]) == "accepted"
    assert accept(redis_url, [checkout(2, not_before=4e9)]) == "finished"
    record = redis_client.hgetall(record_key(7, "checkouts", "tok"))
    assert record[b"ovl"] == b'{"status":"recovered"}'
    assert record[b"v"] == b"2"  # the patch came after version 1
    assert len(scheduled_jobs(redis_client)) == 1


def test_a_lower_ranked_finish_does_not_replace_a_higher_one(
    redis_url: str, redis_client: redis.Redis
) -> None:
    accept(redis_url, [RECOVERED])
    expired = Patch("checkouts", "tok", 0, {"status": "expired"})
    assert accept(redis_url, [expired]) == "finished"
    completed = Patch("checkouts", "tok", 0, {"status": "completed"})
    assert accept(redis_url, [completed]) == "finished"
    assert redis_client.hget(record_key(7, "checkouts", "tok"), "fin") == b"3"


def test_figures_for_an_unseen_customer_wait_for_its_first_upsert(
    redis_url: str, redis_client: redis.Redis
) -> None:
    figures = Patch("customers", "9", 20, {"orders_count": 3, "lifetime_value": 120})
    assert accept(redis_url, [figures]) == "noted"
    assert scheduled_jobs(redis_client) == []
    older = Patch("customers", "9", 10, {"orders_count": 2, "lifetime_value": 80})
    assert accept(redis_url, [older]) == "stale"
    assert accept(redis_url, [figures]) == "duplicate"

    upsert = Upsert("customers", "9", 5, {"phone": "+33612345678", "external_id": "9"})
    assert accept(redis_url, [upsert]) == "accepted"
    record = redis_client.hgetall(record_key(7, "customers", "9"))
    assert record[b"ovl"] == b'{"orders_count":3,"lifetime_value":120}'
    assert record[b"v"] == b"5"  # the figures' version does not compete with the customer's
    assert len(scheduled_jobs(redis_client)) == 1


def test_a_held_record_is_pending_from_when_it_is_due(
    redis_url: str, redis_client: redis.Redis
) -> None:
    import time

    due = time.time() + 900
    checkout = Upsert("checkouts", "tok", 1, {"external_id": "tok"}, not_before=due)
    accept(redis_url, [checkout])
    key = record_key(7, "checkouts", "tok")
    assert abs(redis_client.zscore(PENDING_KEY, key) - due) < 0.01
    [job_id] = scheduled_jobs(redis_client)
    assert abs(redis_client.zscore(jobs.SCHEDULED_KEY, job_id) - due) < 0.01


SHARED = """
[stores.shop-a]
platform = "shopify"
kanal_store_id = 7
kanal_api_key = "k0k1k2k3k4k5k6k7k8k9kakb"
webhook_secrets = ["a-webhook-secret"]
external_id_prefix = "a-"
[stores.shop-b]
platform = "woocommerce"
kanal_store_id = 7
kanal_api_key = "k0k1k2k3k4k5k6k7k8k9kakb"
webhook_secrets = ["another-webhook-secret"]
external_id_prefix = "b-"
"""


def accept_as(redis_url: str, store: str, actions: list[Any], config: str = SHARED) -> str:
    import asyncio

    from bridge.config import parse_config
    from bridge.delivery.records import RecordStore, namespaces

    async def run() -> str:
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            records = RecordStore(client, namespaces(parse_config(config, {})))
            return await records.accept(store, actions, None)
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_two_stores_feeding_one_kanal_store_keep_apart_by_prefix(
    redis_url: str, redis_client: redis.Redis
) -> None:
    assert accept_as(redis_url, "shop-a", [order(5)]) == "accepted"
    assert accept_as(redis_url, "shop-b", [order(1)]) == "accepted"  # same id, older version

    a = redis_client.hgetall(record_key(7, "orders", "a-1001"))
    b = redis_client.hgetall(record_key(7, "orders", "b-1001"))
    assert (a[b"store"], a[b"v"]) == (b"shop-a", b"5")
    assert (b[b"store"], b[b"v"]) == (b"shop-b", b"1")
    assert b'"external_id":"b-1001"' in b[b"body"]
    assert len(scheduled_jobs(redis_client)) == 2


LEGACY = "kb:rec:shop:orders:1001"  # kanal-bridge 0.1: bridge store key, unprefixed id


def legacy_record(client: redis.Redis, **fields: Any) -> None:
    client.hset(
        LEGACY,
        mapping={
            "v": 3,
            "op": "upsert",
            "dv": 3,
            "dcore": "c",
            "dfull": "f",
            "status": "delivered",
            "job": "",
            **fields,
        },
    )


def test_a_record_under_its_old_key_moves_on_first_touch_and_keeps_its_version(
    redis_url: str, redis_client: redis.Redis
) -> None:
    legacy_record(redis_client)
    redis_client.expire(LEGACY, 3600)
    assert accept(redis_url, [order(2)]) == "stale"  # older than what Kanal holds
    assert not redis_client.exists(LEGACY)
    moved = redis_client.hgetall(record_key(7, "orders", "1001"))
    assert (moved[b"v"], moved[b"dv"], moved[b"store"]) == (b"3", b"3", b"shop")
    assert 0 < redis_client.ttl(record_key(7, "orders", "1001")) <= 3600
    assert accept(redis_url, [order(4)]) == "accepted"


def test_a_pending_record_under_its_old_key_moves_with_a_new_job(
    redis_url: str, redis_client: redis.Redis
) -> None:
    legacy_record(redis_client, status="pending", job="old-job", body=b"{}", dv="", v=1)
    redis_client.zadd(PENDING_KEY, {LEGACY: 1.0})
    assert accept(redis_url, [order(2)]) == "accepted"
    key = record_key(7, "orders", "1001")
    [job_id] = scheduled_jobs(redis_client)
    assert redis_client.hget(key, "job").decode() == job_id != "old-job"
    assert redis_client.zscore(PENDING_KEY, LEGACY) is None
    assert redis_client.zscore(PENDING_KEY, key) is not None
    # Even an action that changes nothing leaves the moved record with a job.
    redis_client.flushdb()
    legacy_record(redis_client, status="pending", job="old-job", body=b"{}", v=9)
    assert accept(redis_url, [order(2)]) == "stale"
    [job_id] = scheduled_jobs(redis_client)
    assert redis_client.hget(key, "job").decode() == job_id
