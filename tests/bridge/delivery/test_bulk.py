"""Live first: records fetched by backfill or reconciliation wait in the bulk lane and take
only the call slots live traffic leaves free; live records never wait behind them."""

from __future__ import annotations

import itertools

import pytest
import redis
from rq.serializers import JSONSerializer

from bridge.delivery import jobs
from bridge.delivery.bulk import BulkLane
from bridge.delivery.limiter import Limiter, bulk_key, interval_for, pace_key
from bridge.delivery.records import PENDING_KEY, SyncRecordStore, namespaces, record_key
from bridge.scheduler import PacedScheduler
from tests.pushes import ScriptedKanal, accept, config, drain, install, order

RATE = 60
INTERVAL = interval_for(RATE)
TICK = 0.05


@pytest.fixture
def fetched(redis_client: redis.Redis) -> SyncRecordStore:
    return SyncRecordStore(redis_client, namespaces(config()))


@pytest.fixture
def kanal(redis_client: redis.Redis) -> ScriptedKanal:
    return install(redis_client)


def key(n: int | str) -> str:
    return record_key(7, "orders", str(n))


def backfill(fetched: SyncRecordStore, count: int, first: int = 1) -> None:
    for n in range(first, first + count):
        assert fetched.accept_fetched("shop", [order(1, external_id=str(n))], bulk=True) == (
            "accepted"
        )


def test_a_bulk_record_waits_without_a_job_and_is_not_late(
    redis_client: redis.Redis, fetched: SyncRecordStore
) -> None:
    backfill(fetched, 3)
    assert fetched.bulk_pending(7) == 3
    record = redis_client.hgetall(key(1))
    assert (record[b"status"], record.get(b"job", b""), record[b"wait"], record[b"bulk"]) == (
        b"pending",
        b"",
        b"bulk",
        b"1",
    )
    assert redis_client.zcard(PENDING_KEY) == 0  # a backlog of backfill does not age the queue
    assert redis_client.zcard(jobs.SCHEDULED_KEY) == 0


def test_a_fetched_version_already_held_costs_nothing(
    redis_url: str, redis_client: redis.Redis, fetched: SyncRecordStore, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [order(5)])  # the webhook came first
    drain(redis_client)
    # Reconciliation sees the same order: same version, a body mapped from another source.
    assert fetched.accept_fetched("shop", [order(5, total="10.0")], bulk=True) == "duplicate"
    assert fetched.accept_fetched("shop", [order(4)], bulk=True) == "stale"
    assert fetched.accept_fetched("shop", [order(6, "refunded")], bulk=False) == "accepted"
    assert fetched.bulk_pending(7) == 0
    drain(redis_client)
    assert [c[0] for c in kanal.calls()] == ["POST", "PATCH"]


def test_a_webhook_for_a_bulk_record_makes_it_live(
    redis_url: str, redis_client: redis.Redis, fetched: SyncRecordStore
) -> None:
    backfill(fetched, 1, first=1001)
    assert accept(redis_url, [order(2, "refunded")]) == "accepted"
    record = redis_client.hgetall(key(1001))
    assert b"bulk" not in record and b"wait" not in record
    assert record[b"job"] != b""
    assert fetched.bulk_pending(7) == 0
    assert redis_client.zscore(PENDING_KEY, key(1001)) is not None
    # ...and a later fetch of it does not send it back to the bulk lane.
    assert fetched.accept_fetched("shop", [order(3, "paid")], bulk=True) == "accepted"
    assert fetched.bulk_pending(7) == 0


def test_the_scheduler_gives_a_free_slot_to_the_oldest_bulk_record(
    redis_client: redis.Redis, fetched: SyncRecordStore, kanal: ScriptedKanal
) -> None:
    backfill(fetched, 3)
    install(redis_client)  # the scheduler reads the rates from the push runtime
    scheduler = PacedScheduler(
        [jobs.queue(redis_client)], connection=redis_client, serializer=JSONSerializer
    )
    assert scheduler.pump_bulk() == 1  # one store, one free slot this tick
    [job_id] = [j.decode() for j in redis_client.zrange(jobs.SCHEDULED_KEY, 0, -1)]
    assert redis_client.hget(key(1), "job").decode() == job_id
    assert redis_client.zscore(PENDING_KEY, key(1)) is not None
    assert fetched.bulk_pending(7) == 2


def test_a_bulk_record_without_a_free_slot_goes_back_to_the_lane(
    redis_url: str, redis_client: redis.Redis, fetched: SyncRecordStore, kanal: ScriptedKanal
) -> None:
    backfill(fetched, 1)
    BulkLane(redis_client, {7: 60}).pump()
    redis_client.hset(pace_key(7), "tat", 4e9)  # live traffic booked the slots ahead meanwhile
    drain(redis_client, rounds=1)  # the job's slot still stands: it calls
    assert len(kanal.requests) == 1
    # A bulk retry (a 503, say) takes no slot booked ahead: back to the lane, no call.
    backfill(fetched, 1, first=2)
    redis_client.hset(key(2), mapping={"job": "retry", "wait": ""})
    redis_client.zrem(bulk_key(7), key(2))
    limiter = Limiter(redis_client)
    assert limiter.take(7, 60, key(2), "retry", bulk=True).kind == "bulk"
    assert redis_client.hget(key(2), "wait") == b"bulk"
    assert redis_client.zscore(bulk_key(7), key(2)) is not None
    assert redis_client.zscore(PENDING_KEY, key(2)) is None


def simulate(
    client: redis.Redis, live_at: list[float], seconds: float
) -> tuple[list[float], list[float]]:
    """Tick the bulk lane every TICK for `seconds` while live records arrive at `live_at`;
    the times of every call (bulk and live), and each live record's wait for its slot."""
    lane = BulkLane(client, {7: RATE})
    limiter = Limiter(client)
    pace = pace_key(7)
    calls: list[float] = []
    waits: list[float] = []
    arrivals = iter(sorted(live_at))
    arrival = next(arrivals, None)
    for step in range(int(seconds / TICK)):
        now = 1_000_000.0 + step * TICK
        while arrival is not None and arrival <= now - 1_000_000.0:
            slot = limiter.reserve(7, RATE, now)
            waits.append(slot - now)
            calls.append(slot)
            arrival = next(arrivals, None)
        before = client.hget(pace, "tat")
        if lane.pump(now):
            assert before is None or float(before) <= now
            calls.append(now)
    return sorted(calls), waits


def test_live_records_get_a_slot_within_about_one_interval_during_a_backfill(
    redis_client: redis.Redis, fetched: SyncRecordStore
) -> None:
    backfill(fetched, 120)
    _, waits = simulate(redis_client, [3.02, 9.07, 17.5, 29.99, 44.4], 60)
    assert max(waits) <= INTERVAL + TICK, waits
    assert fetched.bulk_pending(7) > 0  # the backlog was there all along


def test_a_burst_of_live_records_waits_at_most_one_interval_more_than_without_backfill(
    redis_client: redis.Redis, fetched: SyncRecordStore
) -> None:
    burst = [10.0 + n * 0.01 for n in range(8)]
    _, alone = simulate(redis_client, burst, 30)
    redis_client.flushdb()
    backfill(fetched, 120)
    _, during = simulate(redis_client, burst, 30)
    for without, with_backfill in zip(alone, during, strict=True):
        assert with_backfill <= without + INTERVAL + TICK


def test_bulk_records_use_every_slot_live_traffic_leaves(
    redis_client: redis.Redis, fetched: SyncRecordStore
) -> None:
    backfill(fetched, 120)
    calls, _ = simulate(redis_client, [5.0, 5.01, 5.02, 20.0, 40.5], 60)
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert max(gaps) <= INTERVAL + TICK + 1e-6  # no idle slot while bulk waits
    assert min(gaps) >= INTERVAL - 1e-6  # and never faster than the budget
    for index, start in enumerate(calls):
        assert sum(1 for t in calls[index:] if t < start + 60) <= RATE
    assert len(calls) >= int(60 / (INTERVAL + TICK))


def test_a_held_or_paused_store_dispatches_no_bulk_record(
    redis_client: redis.Redis, fetched: SyncRecordStore
) -> None:
    backfill(fetched, 2)
    lane = BulkLane(redis_client, {7: RATE})
    Limiter(redis_client).pause(7, 30, now=100.0)
    assert lane.pump(now=110.0) == 0
    redis_client.hset(pace_key(7), mapping={"paused": 0, "held_reason": "key_rejected"})
    assert lane.pump(now=200.0) == 0
    redis_client.hdel(pace_key(7), "held_reason")
    assert lane.pump(now=200.0) == 1


def test_a_backfilled_order_reaches_kanal(
    redis_client: redis.Redis, fetched: SyncRecordStore, kanal: ScriptedKanal
) -> None:
    backfill(fetched, 2)
    lane = BulkLane(redis_client, {7: 60000})
    for _ in range(2):
        lane.pump()
        drain(redis_client)
    assert sorted(body["external_id"] for _, _, body in kanal.calls()) == ["1", "2"]
    assert all(redis_client.hget(key(n), "status") == b"delivered" for n in (1, 2))
    assert b"bulk" not in redis_client.hgetall(key(1))
