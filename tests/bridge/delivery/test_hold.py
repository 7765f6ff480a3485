"""A Kanal store that refuses its key or is paused loses nothing: its records wait, one probes
with backoff, and everything resumes by itself once Kanal accepts a call again."""

from __future__ import annotations

import time

import httpx
import pytest
import redis
from rq.registry import FailedJobRegistry

from bridge import metrics
from bridge.delivery import jobs
from bridge.delivery.limiter import Limiter, pace_key, parked_key
from bridge.delivery.records import PENDING_KEY, record_key
from tests.pushes import ScriptedKanal, accept, drain, install, order

REFUSED = httpx.Response(401, json={"error": "Invalid API key"})
PAUSED = httpx.Response(404, json={"error": "Store not found or paused"})


@pytest.fixture
def kanal(redis_client: redis.Redis) -> ScriptedKanal:
    return install(redis_client)


def key(n: int) -> str:
    return record_key(7, "orders", str(n))


def orders(redis_url: str, *ids: int) -> None:
    for n in ids:
        assert accept(redis_url, [order(1, external_id=str(n))]) == "accepted"


def probe_now(client: redis.Redis) -> None:
    """Make the held store's next probe due (tests do not wait for the backoff)."""
    client.hset(pace_key(7), "probe_at", 0)


def posted(kanal: ScriptedKanal) -> list[str]:
    return [body["external_id"] for method, _, body in kanal.calls() if method == "POST"]


def test_the_first_refusal_holds_the_store_and_parks_the_others(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    kanal.answers.append(REFUSED)
    orders(redis_url, 1, 2, 3)
    drain(redis_client, rounds=1)

    assert posted(kanal) == ["1"]  # the others never called: the store is held
    hold = Limiter(redis_client).held(7)
    assert hold is not None and hold.reason == "key_rejected"
    assert [k.decode() for k in redis_client.zrange(parked_key(7), 0, -1)] == [key(2), key(3)]
    for n in (1, 2, 3):
        assert redis_client.hget(key(n), "status") == b"pending"
        assert redis_client.zscore(PENDING_KEY, key(n)) is not None
    assert redis_client.hget(key(2), "job") == b""
    assert FailedJobRegistry(queue=jobs.queue(redis_client)).count == 0
    assert metrics.BUFFER.deltas[metrics.KANAL_HOLDS.key]["shop\tkey_rejected"] >= 1


def test_webhooks_for_a_held_store_are_accepted_and_wait_without_a_job(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    kanal.answers.append(REFUSED)
    orders(redis_url, 1, 2)
    drain(redis_client, rounds=1)
    jobs_before = redis_client.zcard(jobs.SCHEDULED_KEY)

    assert accept(redis_url, [order(2, "refunded", external_id="2")]) == "accepted"
    assert redis_client.zcard(jobs.SCHEDULED_KEY) == jobs_before  # merged into the parked state
    assert b'"financial_status":"refunded"' in redis_client.hget(key(2), "body")


def test_the_probe_backs_off_while_kanal_keeps_refusing(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    kanal.answers += [PAUSED, PAUSED, PAUSED]
    orders(redis_url, 1)
    drain(redis_client, rounds=1)
    delays = []
    for _ in range(2):
        probe_now(redis_client)
        drain(redis_client, rounds=1)
        hold = Limiter(redis_client).held(7)
        assert hold is not None
        delays.append(hold.probe_at - time.time())
    assert hold.probes == 3 and hold.reason == "store_paused"
    assert 8 <= delays[0] <= 11 and 17 <= delays[1] <= 22  # 5 s, doubling each time (+-10 %)
    assert redis_client.hget(key(1), "status") == b"pending"
    assert FailedJobRegistry(queue=jobs.queue(redis_client)).count == 0


def test_once_kanal_accepts_the_probe_every_parked_record_is_sent(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    kanal.answers.append(REFUSED)
    orders(redis_url, 1, 2, 3, 4)
    drain(redis_client, rounds=1)
    probe_now(redis_client)
    drain(redis_client)  # the probe is accepted (200): the release resumes the others

    assert sorted(posted(kanal)) == ["1", "1", "2", "3", "4"]
    assert Limiter(redis_client).held(7) is None
    assert redis_client.zcard(parked_key(7)) == 0
    assert all(redis_client.hget(key(n), "status") == b"delivered" for n in (1, 2, 3, 4))
    assert redis_client.zcard(PENDING_KEY) == 0
    assert FailedJobRegistry(queue=jobs.queue(redis_client)).count == 0


def test_released_records_are_spread_over_the_stores_slots(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    kanal.answers.append(REFUSED)
    orders(redis_url, 1, 2, 3)
    drain(redis_client, rounds=1)
    probe_now(redis_client)
    kanal.answers.append(httpx.Response(201, json={}))
    drain(redis_client, rounds=1)  # only the probe's job: the others are now scheduled
    due = sorted(
        redis_client.zrange(jobs.SCHEDULED_KEY, 0, -1, withscores=True), key=lambda j: j[1]
    )
    assert len(due) == 2
    assert due[1][1] - due[0][1] == pytest.approx(60 / (60000 * 0.98), rel=0.01)


def test_a_validation_error_on_the_probe_proves_the_key_and_releases_the_store(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    kanal.answers += [REFUSED, httpx.Response(422, json={"message": "bad", "errors": {}})]
    orders(redis_url, 1, 2)
    drain(redis_client, rounds=1)
    probe_now(redis_client)
    drain(redis_client)

    assert Limiter(redis_client).held(7) is None
    assert redis_client.hget(key(1), "status") == b"failed"  # the record itself is refused
    assert redis_client.hget(key(2), "status") == b"delivered"


def test_a_transient_failure_of_the_probe_keeps_the_store_held(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    kanal.answers += [REFUSED, httpx.Response(503)]
    orders(redis_url, 1, 2)
    drain(redis_client, rounds=1)
    probe_now(redis_client)
    drain(redis_client, rounds=1)
    assert Limiter(redis_client).held(7) is not None
    assert redis_client.hget(key(1), "att") == b"1"
    assert redis_client.hget(key(2), "job") == b""


def test_another_kanal_store_keeps_its_slots(redis_client: redis.Redis) -> None:
    limiter = Limiter(redis_client)
    redis_client.hset("kb:rec:1:orders:9", mapping={"job": "j", "status": "pending"})
    redis_client.hset("kb:rec:1:orders:8", mapping={"job": "k", "status": "pending"})
    held = limiter.hold(
        1, "kb:rec:1:orders:9", "j", reason="key_rejected", status=401, store="a", now=100.0
    )
    assert held.kind == "held" and 104 <= held.at <= 106
    assert limiter.take(2, 60, "kb:rec:2:orders:9", "k", now=101.0).kind == "slot"
    assert limiter.take(1, 60, "kb:rec:1:orders:8", "k", now=101.0).kind == "parked"
    assert limiter.take(1, 60, "kb:rec:1:orders:8", "k", now=101.0).kind == "lost"  # no job now
    assert limiter.take(1, 60, "kb:rec:1:orders:9", "j", now=101.0).kind == "probe"
    assert limiter.take(1, 60, "kb:rec:1:orders:9", "j", now=107.0).kind == "slot"


def test_a_patch_answered_with_the_stores_404_holds_the_store(
    redis_url: str, redis_client: redis.Redis, kanal: ScriptedKanal
) -> None:
    orders(redis_url, 1)
    drain(redis_client)
    kanal.answers.append(PAUSED)
    accept(redis_url, [order(2, "refunded", external_id="1")])
    drain(redis_client, rounds=1)
    assert [c[0] for c in kanal.calls()] == ["POST", "PATCH"]
    assert Limiter(redis_client).held(7) is not None
    assert redis_client.hget(key(1), "dcore") != b""  # still a PATCH when Kanal is back
