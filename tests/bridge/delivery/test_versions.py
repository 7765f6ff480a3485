"""The version memory: versions outlive record bodies, compactly, and answer "older than what
Kanal holds" inside ACCEPT for months."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest
import redis

from bridge import defaults
from bridge.delivery import versions
from bridge.delivery.records import record_key
from mappers import Delete, Patch, Upsert
from tests.pushes import ScriptedKanal, accept, drain, install, order

DAY = 24 * 3600
KEY = record_key(7, "orders", "1001")


@pytest.fixture
def kanal(redis_client: redis.Redis) -> ScriptedKanal:
    return install(redis_client)


def expire(client: redis.Redis, key: str = KEY) -> None:
    """What three days do to a delivered record: its hash is gone."""
    client.delete(key)


def test_each_record_has_one_field_in_one_bucket_per_generation() -> None:
    now = 1_780_000_000.0
    memory = versions.memory(7, 60, "orders", "1001", now, 90)
    assert len(memory.field) == 8
    assert len(memory.keys) == versions.generations(90) == 14  # 13 weeks cover 90 days, +1
    assert len({key.rsplit(":", 1)[1] for key in memory.keys}) == 1  # one bucket
    assert {key.split(":")[4] for key in memory.keys} == {"13"}  # 8,192 buckets at 60/min
    generations = [int(key.split(":")[3]) for key in memory.keys]
    assert generations == list(range(generations[0], generations[0] - 14, -1))
    assert memory == versions.memory(7, 60, "orders", "1001", now, 90)
    assert memory.field != versions.memory(7, 60, "checkouts", "1001", now, 90).field
    assert memory.keys[0] != versions.memory(8, 60, "orders", "1001", now, 90).keys[0]


@pytest.mark.parametrize("rate", [60, 600, 6000])
def test_a_store_spending_its_whole_budget_keeps_its_buckets_compact(rate: int) -> None:
    most = rate * 60 * 24 * defaults.VERSION_PERIOD_DAYS  # new records a generation, at most
    assert most / 2 ** versions.bucket_bits(rate) <= 100  # Redis's listpack holds up to 128


def test_a_version_is_remembered_at_least_as_long_as_configured_and_then_forgotten() -> None:
    written = versions.memory(7, 60, "orders", "1001", 1_780_000_000.0, 90)
    assert written.expire_at >= 1_780_000_000 + 90 * DAY
    assert written.expire_at <= 1_780_000_000 + (90 + 2 * defaults.VERSION_PERIOD_DAYS) * DAY
    for later in (0, 45 * DAY, 90 * DAY - 1):
        if later < written.expire_at - 1_780_000_000:
            looked = versions.memory(7, 60, "orders", "1001", 1_780_000_000.0 + later, 90)
            assert written.keys[0] in looked.keys


def test_an_old_body_replayed_after_the_record_expired_is_stale(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [order(1_780_000_000_000_000, "pending")])
    accept(redis_url, [order(1_780_000_060_000_000, "paid")])
    drain(redis_client)
    expire(redis_client)

    assert accept(redis_url, [order(1_780_000_000_000_000, "pending")]) == "stale"
    assert accept(redis_url, [order(1_780_000_060_000_000, "paid")]) == "duplicate"
    assert not redis_client.exists(KEY)  # refused without writing anything
    drain(redis_client)
    assert len(kanal.requests) == 1


def test_a_newer_state_after_expiry_is_posted_whole(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [order(1_780_000_000_000_000)])
    drain(redis_client)
    expire(redis_client)
    assert accept(redis_url, [order(1_780_000_500_000_000, "refunded")]) == "accepted"
    drain(redis_client)
    assert [c[0] for c in kanal.calls()] == ["POST", "POST"]
    # Kanal held it before: an unanswered POST now would be POSTed again, never probed.
    assert redis_client.hget(KEY, "dv") == b"1780000500000000"


def test_a_cancellation_of_an_expired_order_still_reaches_kanal(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [order(1_780_000_000_000_000)])
    drain(redis_client)
    expire(redis_client)
    trash = Patch("orders", "1001", 0, {"fulfillment_status": "cancelled"})
    assert accept(redis_url, [trash]) == "accepted"
    drain(redis_client)
    assert kanal.calls()[1] == (
        "PATCH",
        "/api/v1/stores/7/orders/1001",
        {"fulfillment_status": "cancelled"},
    )


def test_a_finished_checkout_stays_finished_after_it_expired(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    checkout = Upsert(
        "checkouts",
        "tok",
        1_780_000_000_000_000,
        {
            "external_id": "tok",
            "abandoned_at": "2026-01-01T00:15:00Z",
            "total_price": Decimal("10.00"),
            "customer": {"phone": "+33612345678"},
        },
    )
    accept(redis_url, [checkout])
    drain(redis_client)
    accept(redis_url, [Patch("checkouts", "tok", 0, {"status": "completed"})])
    drain(redis_client)
    expire(redis_client, record_key(7, "checkouts", "tok"))
    later = Upsert(
        checkout.resource, "tok", 1_780_009_000_000_000, checkout.body, checkout.not_before
    )
    assert accept(redis_url, [later]) == "finished"  # no cart reminder after the purchase


def test_an_erased_customer_cannot_be_brought_back_by_an_old_body(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    customer = Upsert(
        "customers", "9", 1_780_000_000_000_000, {"phone": "+33612345678", "external_id": "9"}
    )
    accept(redis_url, [customer])
    drain(redis_client)
    accept(redis_url, [Delete("customers", "9")])
    drain(redis_client)
    expire(redis_client, record_key(7, "customers", "9"))
    # The erasure came after that body (within the same second here): refused either way.
    assert accept(redis_url, [customer]) in ("stale", "duplicate")
    drain(redis_client)
    assert [c[0] for c in kanal.calls()] == ["POST", "DELETE"]


def test_a_generation_bucket_stays_compact(redis_client: redis.Redis) -> None:
    memory = versions.memory(7, 60, "orders", "x", time.time(), 90)
    bucket = memory.keys[0]
    version = (1_780_000_000 - 1_577_836_800) * 2
    for n in range(100):  # a full bucket: a store spending its whole budget on new records
        redis_client.hset(bucket, n.to_bytes(8, "big"), version + n)
    assert redis_client.object("encoding", bucket) == b"listpack"
    per_entry = int(redis_client.memory_usage(bucket)) / 100
    assert per_entry <= 20, per_entry


def test_memory_is_written_only_once_kanal_holds_the_record(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    kanal.answers.append(httpx.Response(422, json={"message": "bad", "errors": {}}))
    accept(redis_url, [order(1_780_000_000_000_000)])
    drain(redis_client)
    assert not list(redis_client.scan_iter("kb:ver:*"))
    assert accept(redis_url, [order(1_780_000_100_000_000, "refunded")]) == "accepted"
    drain(redis_client)
    [bucket] = list(redis_client.scan_iter("kb:ver:*"))
    assert redis_client.ttl(bucket) > 90 * DAY
