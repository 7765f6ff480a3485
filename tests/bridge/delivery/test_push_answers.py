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
