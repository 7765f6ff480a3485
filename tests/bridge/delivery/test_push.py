"""The push job against a real Redis and RQ worker, Kanal answering through a mock transport."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest
import redis
import redis.asyncio
from rq.registry import FailedJobRegistry

from bridge import defaults
from bridge.delivery import jobs
from bridge.delivery import push as delivery
from bridge.delivery.kanal import KanalClient
from bridge.delivery.limiter import Limiter
from bridge.delivery.records import record_key
from mappers import Delete, Patch, Upsert
from tests.pushes import ScriptedKanal, accept, drain, install, order


@pytest.fixture
def kanal(redis_client: redis.Redis) -> ScriptedKanal:
    return install(redis_client)


def test_a_new_order_is_posted_whole_and_then_forgotten(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [order(1)])
    drain(redis_client)

    [(method, path, body)] = kanal.calls()
    assert (method, path) == ("POST", "/api/v1/stores/7/orders")
    assert body["total_price"] == Decimal("10.00")
    assert kanal.requests[0].headers["authorization"] == "Bearer k0k1k2k3k4k5k6k7k8k9kakb"
    record = redis_client.hgetall(record_key(7, "orders", "1001"))
    assert record[b"status"] == b"delivered"
    assert b"body" not in record
    assert redis_client.ttl(record_key(7, "orders", "1001")) > 0


def test_a_status_only_change_after_delivery_is_a_patch(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [order(1, "pending")])
    drain(redis_client)
    accept(redis_url, [order(2, "paid")])
    drain(redis_client)

    assert [c[:2] for c in kanal.calls()] == [
        ("POST", "/api/v1/stores/7/orders"),
        ("PATCH", "/api/v1/stores/7/orders/1001"),
    ]
    assert kanal.calls()[1][2] == {"financial_status": "paid", "tags": ["vip"], "metadata": {}}


def test_a_change_beyond_patch_fields_is_a_post(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [order(1)])
    drain(redis_client)
    accept(redis_url, [order(2, total="12.50")])
    drain(redis_client)
    assert [c[0] for c in kanal.calls()] == ["POST", "POST"]


def test_a_patch_answered_404_becomes_a_post(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [order(1, "pending")])
    drain(redis_client)
    kanal.answers.append(httpx.Response(404, json={"error": "Order not found"}))
    accept(redis_url, [order(2, "paid")])
    drain(redis_client)
    assert [c[0] for c in kanal.calls()] == ["POST", "PATCH", "POST"]
    assert kanal.calls()[2][2]["financial_status"] == "paid"


def test_an_unchanged_state_is_not_sent_again(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [order(1)])
    drain(redis_client)
    assert accept(redis_url, [order(2)]) == "duplicate"
    drain(redis_client)
    assert len(kanal.requests) == 1


def test_a_server_error_is_retried_until_it_succeeds(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    kanal.answers += [httpx.Response(500), httpx.Response(503)]
    accept(redis_url, [order(1)])
    drain(redis_client)
    assert len(kanal.requests) == 3
    assert redis_client.hget(record_key(7, "orders", "1001"), "status") == b"delivered"
    assert FailedJobRegistry(queue=jobs.queue(redis_client)).count == 0


def test_a_validation_error_is_not_retried_and_lands_in_failed(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    kanal.answers.append(
        httpx.Response(422, json={"message": "bad", "errors": {"customer.phone": ["invalid"]}})
    )
    accept(redis_url, [order(1)])
    drain(redis_client)

    assert len(kanal.requests) == 1
    failed = FailedJobRegistry(queue=jobs.queue(redis_client))
    [job_id] = failed.get_job_ids()
    job = jobs.queue(redis_client).fetch_job(job_id)
    assert "422" in job.latest_result().exc_string
    assert "customer.phone" in job.latest_result().exc_string
    assert redis_client.hget(record_key(7, "orders", "1001"), "status") == b"failed"

    failed.requeue(job_id)
    drain(redis_client)
    assert len(kanal.requests) == 2
    assert redis_client.hget(record_key(7, "orders", "1001"), "status") == b"delivered"


def test_a_429_pauses_the_store_for_retry_after(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    kanal.answers.append(httpx.Response(429, headers={"Retry-After": "30"}, json={}))
    accept(redis_url, [order(1)])
    drain(redis_client, rounds=1)
    import time

    paused = Limiter(redis_client).paused_until(7)
    assert 25 < paused - time.time() <= 30
    [job_id] = [j.decode() for j in redis_client.zrange(jobs.SCHEDULED_KEY, 0, -1)]
    assert abs(redis_client.zscore(jobs.SCHEDULED_KEY, job_id) - paused) < 0.01


@pytest.mark.parametrize(("late", "sent"), [(0.2, True), (3.0, False)])
def test_a_push_that_starts_long_after_its_slot_takes_a_new_one(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal, late: float, sent: bool
) -> None:
    """A paced job that a busy worker starts late would crowd the next slots' calls into one
    minute: past defaults.LATE_SLOT_SECONDS it books a new slot instead of calling."""
    limiter = Limiter(redis_client)
    accept(redis_url, [order(1)], settle=0)
    for _ in range(3):  # other records hold the next slots
        limiter.reserve(7, 60)
    drain(redis_client, rounds=1)  # paced to its slot, after theirs
    [job_id] = [j.decode() for j in redis_client.zrange(jobs.SCHEDULED_KEY, 0, -1)]
    job = jobs.queue(redis_client).fetch_job(job_id)
    assert job is not None
    assert job.kwargs["slot"] > time.time()  # RQ rebuilds the job's data from both
    job.kwargs = {"slot": time.time() - late}
    job.save()
    limiter.reserve(7, 60)  # the slots keep being taken meanwhile
    drain(redis_client, rounds=1)

    assert bool(kanal.calls()) is sent
    if not sent:
        [again] = redis_client.zrange(jobs.SCHEDULED_KEY, 0, -1, withscores=True)
        assert again[1] > time.time(), "the late job was paced to a new slot"
    assert defaults.LATE_SLOT_SECONDS < 60 * defaults.PACING_MARGIN / (1 - defaults.PACING_MARGIN)


def test_a_newer_state_arriving_during_the_push_is_sent_next(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    def answer_after_newer_state(request: httpx.Request) -> httpx.Response:
        if len(kanal.requests) == 1:
            accept(redis_url, [order(2, "refunded")])
        return httpx.Response(200, json={})

    accept(redis_url, [order(1)])
    kanal.answers = []
    original = kanal.__call__

    def spy(request: httpx.Request) -> httpx.Response:
        original(request)
        return answer_after_newer_state(request)

    delivery.runtime().kanal = KanalClient("http://kanal.test", transport=httpx.MockTransport(spy))
    drain(redis_client)
    assert [c[0] for c in kanal.calls()] == ["POST", "PATCH"]
    assert kanal.calls()[1][2]["financial_status"] == "refunded"


def test_a_delete_is_sent_as_delete(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [Upsert("customers", "9", 1, {"phone": "+33612345678", "external_id": "9"})])
    drain(redis_client)
    accept(redis_url, [Delete("customers", "9")])
    drain(redis_client)
    assert [c[:2] for c in kanal.calls()] == [
        ("POST", "/api/v1/stores/7/customers"),
        ("DELETE", "/api/v1/stores/7/customers/9"),
    ]


def test_an_overlay_on_a_delivered_order_is_patched(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [order(1)])
    drain(redis_client)
    accept(redis_url, [Patch("orders", "1001", 0, {"fulfillment_status": "cancelled"})])
    drain(redis_client)
    assert kanal.calls()[1] == (
        "PATCH",
        "/api/v1/stores/7/orders/1001",
        {"fulfillment_status": "cancelled"},
    )
    # The same full state again must be sent: Kanal now holds the overlay, not that state.
    accept(redis_url, [order(5)])
    drain(redis_client)
    assert kanal.calls()[2][0] == "PATCH"
    assert kanal.calls()[2][2]["financial_status"] == "paid"


def test_retry_delays_grow_and_cover_a_day() -> None:
    import random

    from bridge import defaults

    rng = random.Random(1)
    delays = [delivery.retry_delay(n, rng) for n in range(1, len(defaults.RETRY_DELAYS) + 1)]
    assert sum(delays) > 24 * 3600
    assert delays[0] < delays[5] < delays[10]


def checkout(version: int, not_before: float = 0.0, total: str = "10.00") -> Upsert:
    return Upsert(
        "checkouts",
        "tok",
        version,
        {
            "external_id": "tok",
            "abandoned_at": "2026-01-01T00:15:00Z",
            "total_price": Decimal(total),
            "customer": {"phone": "+33612345678"},
        },
        not_before=not_before,
    )


RECOVERED = Patch("checkouts", "tok", 0, {"status": "recovered"})


def test_a_checkout_is_held_until_its_not_before(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    import time

    accept(redis_url, [checkout(1, not_before=time.time() + 3600)])
    drain(redis_client, rounds=3)
    assert kanal.calls() == []
    [job_id] = [j.decode() for j in redis_client.zrange(jobs.SCHEDULED_KEY, 0, -1)]
    assert redis_client.zscore(jobs.SCHEDULED_KEY, job_id) > time.time() + 3500


def test_an_abandoned_checkout_is_posted_then_patched_recovered(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [checkout(1)])
    drain(redis_client)
    accept(redis_url, [RECOVERED])
    drain(redis_client)
    # A late update of the checkout must not send it again.
    assert accept(redis_url, [checkout(2, total="12.00")]) == "finished"
    drain(redis_client)
    assert [c[:2] for c in kanal.calls()] == [
        ("POST", "/api/v1/stores/7/checkouts"),
        ("PATCH", "/api/v1/stores/7/checkouts/tok"),
    ]
    assert kanal.calls()[1][2] == {"status": "recovered"}


@pytest.mark.parametrize("order_first", [True, False])
def test_a_checkout_completed_before_its_delay_never_reaches_kanal(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal, order_first: bool
) -> None:
    import time

    later = time.time() + 3600
    if order_first:
        accept(redis_url, [RECOVERED])
        accept(redis_url, [checkout(1, not_before=later)])
    else:
        accept(redis_url, [checkout(1, not_before=later)])
        accept(redis_url, [RECOVERED])
        accept(redis_url, [checkout(2, not_before=later)])
    redis_client.hset(record_key(7, "checkouts", "tok"), "nb", 0)  # the delay is over
    drain(redis_client)
    assert accept(redis_url, [checkout(3)]) == "finished"
    drain(redis_client)
    assert kanal.calls() == []
    record = redis_client.hgetall(record_key(7, "checkouts", "tok"))
    assert b"dv" not in record and b"body" not in record


def shipment(version: int, status: str = "in_transit") -> Upsert:
    body = {
        "external_id": "55",
        "order_external_id": "1001",
        "tracking_number": "1Z",
        "carrier": "UPS",
        "status": status,
    }
    return Upsert("shipments", "55", version, body, after=("orders", "1001"))


def test_a_carrier_event_reposts_the_whole_shipment(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [shipment(1)])
    drain(redis_client)
    assert accept(redis_url, [Patch("shipments", "55", 2, {"status": "delivered"})]) == "accepted"
    drain(redis_client)
    assert [c[:2] for c in kanal.calls()] == [("POST", "/api/v1/stores/7/shipments")] * 2
    assert kanal.calls()[1][2] == {**kanal.calls()[0][2], "status": "delivered"}
    # An older event arriving late changes nothing.
    assert accept(redis_url, [Patch("shipments", "55", 1, {"status": "in_transit"})]) == "stale"


def test_purchasing_figures_ride_along_every_customer_post(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    figures = {"orders_count": 3, "lifetime_value": 120}
    accept(redis_url, [Patch("customers", "9", 10, figures)])
    drain(redis_client)
    assert kanal.calls() == []
    accept(redis_url, [Upsert("customers", "9", 1, {"phone": "+33612345678", "external_id": "9"})])
    drain(redis_client)
    accept(redis_url, [Upsert("customers", "9", 2, {"phone": "+33612345679", "external_id": "9"})])
    drain(redis_client)
    accept(redis_url, [Patch("customers", "9", 11, {"orders_count": 4, "lifetime_value": 150})])
    drain(redis_client)
    bodies = [body for _, _, body in kanal.calls()]
    assert [b["orders_count"] for b in bodies] == [3, 3, 4]
    assert bodies[2]["phone"] == "+33612345679"


def test_a_delivered_order_keeps_only_a_compact_record(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [order(1)])
    key = record_key(7, "orders", "1001")
    assert redis_client.object("encoding", key) == b"hashtable"  # the body is large
    drain(redis_client)
    assert redis_client.object("encoding", key) in (b"listpack", b"ziplist")
    assert redis_client.hget(key, "dv") == b"1"


LEGACY = "kb:rec:shop:orders:1001"  # kanal-bridge 0.1: bridge store key, unprefixed id


def legacy_order(client: redis.Redis, status: str, job: str) -> None:
    from bridge.delivery.records import split_body

    body, core, full = split_body("orders", order(3).body)
    client.hset(
        LEGACY,
        mapping={
            "v": 3,
            "op": "upsert",
            "body": body,
            "core": core,
            "full": full,
            "status": status,
            "job": job,
        },
    )


def test_a_job_of_the_old_key_format_still_pushes_its_record(
    redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    from bridge.delivery.records import WorkerRecords

    legacy_order(redis_client, "pending", "seed")
    WorkerRecords(redis_client).handoff(LEGACY, "seed", 0.0)
    [job_id] = [j.decode() for j in redis_client.zrange(jobs.SCHEDULED_KEY, 0, -1)]
    assert jobs.queue(redis_client).fetch_job(job_id).description == "push shop:orders:1001"
    drain(redis_client)
    assert [c[:2] for c in kanal.calls()] == [("POST", "/api/v1/stores/7/orders")]
    assert redis_client.hget(LEGACY, "status") == b"delivered"


def test_a_failed_push_of_the_old_format_is_retried_where_its_record_moved(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    legacy_order(redis_client, "failed", "")
    assert accept(redis_url, [order(2)]) == "stale"  # moves the record, changes nothing
    assert delivery.push(LEGACY).startswith("POST orders")  # `failed retry` of the old job
    assert redis_client.hget(record_key(7, "orders", "1001"), "status") == b"delivered"
    assert kanal.calls()[0][2]["financial_status"] == "paid"
