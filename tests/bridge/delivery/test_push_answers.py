"""How the push sorts every answer Kanal (or the network) can give: retried, and after how
long; failed, and what the failed registry shows; or the Kanal store paused."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import httpx
import pytest
import redis
from rq.registry import FailedJobRegistry

from bridge import defaults
from bridge.delivery import jobs
from bridge.delivery import push as delivery
from bridge.delivery.limiter import Limiter, pace_key
from bridge.delivery.records import record_key
from tests.pushes import ScriptedKanal, accept, drain, install, order

KEY = record_key(7, "orders", "1001")
REQUEST = httpx.Request("POST", "http://kanal.test/api/v1/stores/7/orders")


@dataclass
class After:
    """What one push left behind."""

    calls: list[tuple[str, str]]
    status: str
    attempts: int
    retry_in: float | None  # seconds until the record's next job, None when it has none
    failed: list[str]  # the failed registry's job errors


def push_once(client: redis.Redis, redis_url: str, kanal: ScriptedKanal, answer: object) -> After:
    kanal.answers.append(answer)  # type: ignore[arg-type]
    accept(redis_url, [order(1)])
    drain(client, rounds=1)
    record = client.hgetall(KEY)
    job = (record.get(b"job") or b"").decode()
    due = client.zscore(jobs.SCHEDULED_KEY, job) if job else None
    registry = FailedJobRegistry(queue=jobs.queue(client))
    failed = []
    for job_id in registry.get_job_ids():
        result = jobs.queue(client).fetch_job(job_id).latest_result()
        failed.append(result.exc_string if result else "")
    return After(
        calls=[(c[0], c[1].rsplit("/", 1)[-1]) for c in kanal.calls()],
        status=record[b"status"].decode(),
        attempts=int(record.get(b"att", 0)),
        retry_in=None if due is None else due - time.time(),
        failed=failed,
    )


@pytest.fixture
def kanal(redis_client: redis.Redis) -> ScriptedKanal:
    return install(redis_client)


def answer(status: int, body: str = "", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, text=body or f'{{"error":"status {status}"}}', headers=headers)


FIRST_RETRY = defaults.RETRY_DELAYS[0]
JITTER = defaults.RETRY_JITTER


@pytest.mark.parametrize(
    "reply",
    [
        answer(408),
        answer(409),
        answer(425),
        answer(500),
        answer(502),
        answer(503),
        httpx.ConnectError("connection refused", request=REQUEST),
        httpx.ConnectTimeout("connect timeout", request=REQUEST),
    ],
    ids=["408", "409", "425", "500", "502", "503", "refused", "connect-timeout"],
)
def test_a_transient_failure_is_retried_after_the_first_backoff(
    redis_client: redis.Redis, redis_url: str, kanal: ScriptedKanal, reply: object
) -> None:
    after = push_once(redis_client, redis_url, kanal, reply)
    assert after.calls == [("POST", "orders")]
    assert (after.status, after.attempts, after.failed) == ("pending", 1, [])
    assert after.retry_in is not None
    assert FIRST_RETRY * (1 - JITTER) - 1 <= after.retry_in <= FIRST_RETRY * (1 + JITTER)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, '{"error":"Missing store_id route parameter"}'),
        (422, '{"message":"bad","errors":{"customer.phone":["The phone is invalid."]}}'),
        (418, '{"error":"I am a teapot"}'),
    ],
)
def test_a_permanent_refusal_lands_in_failed_at_once_with_kanals_answer(
    redis_client: redis.Redis, redis_url: str, kanal: ScriptedKanal, status: int, body: str
) -> None:
    after = push_once(redis_client, redis_url, kanal, answer(status, body))
    assert after.calls == [("POST", "orders")]
    assert (after.status, after.retry_in) == ("failed", None)
    [error] = after.failed
    assert f"Kanal answered {status} to POST /api/v1/stores/7/orders" in error
    assert body in error
    assert redis_client.hget(KEY, "err").decode().startswith(f"Kanal answered {status}")


def test_a_429_with_retry_after_waits_exactly_that(
    redis_client: redis.Redis, redis_url: str, kanal: ScriptedKanal
) -> None:
    after = push_once(redis_client, redis_url, kanal, answer(429, headers={"Retry-After": "30"}))
    assert (after.status, after.attempts, after.failed) == ("pending", 0, [])
    assert after.retry_in is not None and 28 <= after.retry_in <= 30


def test_a_429_without_retry_after_waits_a_minute(
    redis_client: redis.Redis, redis_url: str, kanal: ScriptedKanal
) -> None:
    after = push_once(redis_client, redis_url, kanal, answer(429))
    assert (after.status, after.attempts, after.failed) == ("pending", 0, [])
    assert after.retry_in is not None and 58 <= after.retry_in <= 60


def test_a_404_on_a_patch_is_posted_whole_at_once(
    redis_client: redis.Redis, redis_url: str, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [order(1, "pending")])
    drain(redis_client)
    kanal.answers.append(answer(404, '{"error":"Order not found"}'))
    accept(redis_url, [order(2, "paid")])
    drain(redis_client)
    assert [c[0] for c in kanal.calls()] == ["POST", "PATCH", "POST"]
    assert FailedJobRegistry(queue=jobs.queue(redis_client)).count == 0


def test_running_out_of_retries_lands_in_failed_with_the_last_error(
    redis_client: redis.Redis, redis_url: str, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [order(1)])
    redis_client.hset(KEY, "att", len(defaults.RETRY_DELAYS))  # every retry already spent
    kanal.answers.append(answer(503, '{"message":"Service Unavailable"}'))
    drain(redis_client, rounds=1)

    assert redis_client.hget(KEY, "status") == b"failed"
    registry = FailedJobRegistry(queue=jobs.queue(redis_client))
    [job_id] = registry.get_job_ids()
    error = jobs.queue(redis_client).fetch_job(job_id).latest_result().exc_string
    assert "Kanal answered 503 to POST /api/v1/stores/7/orders" in error
    assert "Service Unavailable" in error


def test_the_retry_schedule_adds_up_to_about_47_hours() -> None:
    total = sum(defaults.RETRY_DELAYS)
    assert 46.5 * 3600 < total < 47.5 * 3600
    # With jitter, the whole schedule still covers more than a day and a half at worst.
    rng = random.Random(5)
    jittered = [delivery.retry_delay(n, rng) for n in range(1, len(defaults.RETRY_DELAYS) + 1)]
    assert total * (1 - JITTER) <= sum(jittered) <= total * (1 + JITTER)
    assert sum(jittered) > 36 * 3600


@pytest.mark.parametrize(
    "reply",
    [
        answer(504),
        httpx.ReadTimeout("read timeout", request=REQUEST),
        httpx.RemoteProtocolError("peer closed connection", request=REQUEST),
        httpx.ReadError("connection reset", request=REQUEST),
    ],
    ids=["504", "read-timeout", "cut-short", "reset"],
)
def test_a_post_without_an_answer_is_retried_after_the_first_backoff(
    redis_client: redis.Redis, redis_url: str, kanal: ScriptedKanal, reply: object
) -> None:
    after = push_once(redis_client, redis_url, kanal, reply)
    assert (after.status, after.attempts, after.failed) == ("pending", 1, [])
    assert after.retry_in is not None
    assert FIRST_RETRY * (1 - JITTER) - 1 <= after.retry_in <= FIRST_RETRY * (1 + JITTER)


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (401, '{"error":"Invalid API key"}', "key_rejected"),
        (403, '{"error":"API key does not authorize this store"}', "key_rejected"),
        (404, '{"error":"Store not found or paused"}', "store_paused"),
    ],
)
def test_a_refused_store_or_key_holds_the_store_and_fails_nothing(
    redis_client: redis.Redis,
    redis_url: str,
    kanal: ScriptedKanal,
    status: int,
    body: str,
    reason: str,
) -> None:
    after = push_once(redis_client, redis_url, kanal, answer(status, body))
    assert (after.status, after.attempts, after.failed) == ("pending", 0, [])
    first = defaults.PROBE_FIRST_SECONDS
    assert after.retry_in is not None
    assert first * (1 - defaults.PROBE_JITTER) - 1 <= after.retry_in <= first * 1.1
    hold = Limiter(redis_client).held(7)
    assert hold is not None
    assert (hold.reason, hold.status, hold.store, hold.probes) == (reason, status, "shop", 1)
    assert redis_client.hget(pace_key(7), "probe") == KEY.encode()


# --- A POST whose answer never came (DESIGN invariant 7) ---

TIMEOUT = httpx.ReadTimeout("read timeout", request=REQUEST)


def unanswered(outcome: str, resource: str = "orders") -> float:
    from bridge import metrics

    counts = metrics.BUFFER.deltas.get(metrics.UNANSWERED_POSTS.key, {})
    return counts.get(f"shop\t{resource}\t{outcome}", 0.0)


@pytest.fixture(autouse=True)
def fresh_metrics() -> None:
    from bridge import metrics

    metrics.BUFFER.take()


def test_an_unanswered_post_that_landed_is_confirmed_by_a_patch_not_posted_twice(
    redis_client: redis.Redis, redis_url: str, kanal: ScriptedKanal
) -> None:
    kanal.answers.append(TIMEOUT)
    accept(redis_url, [order(1)])
    drain(redis_client)  # the retry: a PATCH of the mutable fields, which Kanal accepts

    assert [(m, p.rsplit("/", 1)[-1]) for m, p, _ in kanal.calls()] == [
        ("POST", "orders"),
        ("PATCH", "1001"),
    ]
    assert kanal.calls()[1][2] == {"financial_status": "paid", "tags": ["vip"], "metadata": {}}
    record = redis_client.hgetall(KEY)
    assert record[b"status"] == b"delivered" and b"unsure" not in record
    assert unanswered("landed") == 1
    # What Kanal holds is now known exactly: the same state is not sent again.
    assert accept(redis_url, [order(2)]) == "duplicate"


def test_an_unanswered_post_that_did_not_land_is_posted_again_after_a_404_probe(
    redis_client: redis.Redis, redis_url: str, kanal: ScriptedKanal
) -> None:
    kanal.answers += [TIMEOUT, answer(404, '{"error":"Order not found"}')]
    accept(redis_url, [order(1)])
    drain(redis_client)

    assert [c[0] for c in kanal.calls()] == ["POST", "PATCH", "POST"]
    assert kanal.calls()[2][2] == kanal.calls()[0][2]
    assert redis_client.hget(KEY, "status") == b"delivered"
    assert unanswered("not_landed") == 1


def test_a_probe_without_an_answer_probes_again(
    redis_client: redis.Redis, redis_url: str, kanal: ScriptedKanal
) -> None:
    kanal.answers += [TIMEOUT, TIMEOUT]
    accept(redis_url, [order(1)])
    drain(redis_client)
    assert [c[0] for c in kanal.calls()] == ["POST", "PATCH", "PATCH"]
    assert unanswered("landed") == 1


def test_a_change_beyond_the_patch_fields_meanwhile_is_posted_without_a_probe(
    redis_client: redis.Redis, redis_url: str, kanal: ScriptedKanal
) -> None:
    kanal.answers.append(TIMEOUT)
    accept(redis_url, [order(1)])
    drain(redis_client, rounds=1)
    accept(redis_url, [order(2, total="12.50")])  # a new total: only a POST can carry it
    drain(redis_client)
    assert [c[0] for c in kanal.calls()] == ["POST", "POST"]
    assert unanswered("reposted") == 1


def test_a_change_to_an_order_kanal_held_is_posted_again_when_unanswered(
    redis_client: redis.Redis, redis_url: str, kanal: ScriptedKanal
) -> None:
    accept(redis_url, [order(1)])
    drain(redis_client)
    kanal.answers.append(TIMEOUT)
    accept(redis_url, [order(2, total="12.50")])
    drain(redis_client)
    assert [c[0] for c in kanal.calls()] == ["POST", "POST", "POST"]
    assert unanswered("reposted") == 1


def test_a_customer_has_no_patch_to_probe_with_and_is_posted_again(
    redis_client: redis.Redis, redis_url: str, kanal: ScriptedKanal
) -> None:
    from mappers import Upsert

    kanal.answers.append(TIMEOUT)
    accept(redis_url, [Upsert("customers", "9", 1, {"phone": "+33612345678", "external_id": "9"})])
    drain(redis_client)
    assert [c[0] for c in kanal.calls()] == ["POST", "POST"]
    assert unanswered("reposted", "customers") == 1


@pytest.mark.parametrize(("probe", "calls"), [(200, 2), (404, 2)])
def test_a_checkout_completed_after_an_unanswered_post_is_patched_or_left_alone(
    redis_client: redis.Redis, redis_url: str, kanal: ScriptedKanal, probe: int, calls: int
) -> None:
    from decimal import Decimal

    from mappers import Patch, Upsert

    checkout = Upsert(
        "checkouts",
        "tok",
        1,
        {
            "external_id": "tok",
            "abandoned_at": "2026-01-01T00:15:00Z",
            "total_price": Decimal("10.00"),
            "customer": {"phone": "+33612345678"},
        },
    )
    kanal.answers.append(TIMEOUT)
    accept(redis_url, [checkout])
    drain(redis_client, rounds=1)
    # The buyer completes the purchase: Kanal must learn it if it holds the checkout.
    assert accept(redis_url, [Patch("checkouts", "tok", 0, {"status": "completed"})]) == "accepted"
    kanal.answers.append(answer(probe, '{"error":"Checkout not found"}' if probe == 404 else ""))
    drain(redis_client)
    assert [(m, b) for m, _, b in kanal.calls()][1:] == [("PATCH", {"status": "completed"})]
    assert len(kanal.calls()) == calls  # never POSTed again: a reminder after the purchase
    key = record_key(7, "checkouts", "tok")
    assert redis_client.hget(key, "status") == b"delivered"
