"""The operator's verbs against a real Redis holding real failed pushes: failed list, failed
retry, status."""

from __future__ import annotations

import re
import time

import httpx
import pytest
import redis
from rq.registry import FailedJobRegistry

from bridge.config import Settings
from bridge.delivery import jobs
from bridge.delivery.limiter import Limiter
from bridge.ops import operations
from tests.pushes import CONFIG, KANAL_KEY, accept, drain, failed_push, install, order


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings.from_env({"REDIS_URL": redis_url, "BRIDGE_CONFIG_TOML": CONFIG})


def test_failed_list_says_when_nothing_failed(
    settings: Settings, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    assert operations.failed_list(settings) == 0
    assert capsys.readouterr().out == "no failed pushes\n"


def test_failed_list_shows_each_push_with_kanals_answer(
    settings: Settings,
    redis_url: str,
    redis_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = failed_push(redis_url, redis_client, "1001")
    second = failed_push(redis_url, redis_client, "1002")
    capsys.readouterr()
    assert operations.failed_list(settings) == 0
    out = capsys.readouterr().out
    for job_id, record in ((first, "shop:orders:1001"), (second, "shop:orders:1002")):
        [line] = [line for line in out.splitlines() if line.startswith(job_id)]
        assert line.endswith(record)
    assert out.count("KanalPermanent: Kanal answered 422 to POST /api/v1/stores/7/orders") == 2
    assert "customer.phone" in out
    assert "2 failed push(es)" in out
    assert KANAL_KEY not in out


def test_failed_retry_of_one_id_pushes_that_record_again(
    settings: Settings,
    redis_url: str,
    redis_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = failed_push(redis_url, redis_client, "1001")
    second = failed_push(redis_url, redis_client, "1002")
    assert operations.failed_retry(settings, [first], every=False) == 0
    kanal = install(redis_client)
    drain(redis_client)
    assert [r.url.path for r in kanal.requests] == ["/api/v1/stores/7/orders"]
    assert b'"external_id":"1001"' in kanal.requests[0].content
    assert FailedJobRegistry(queue=jobs.queue(redis_client)).get_job_ids() == [second]
    assert redis_client.hget("kb:rec:7:orders:1001", "status") == b"delivered"
    assert "requeued 1 push(es)" in capsys.readouterr().out


def test_failed_retry_all_replays_every_failure(
    settings: Settings, redis_url: str, redis_client: redis.Redis
) -> None:
    failed_push(redis_url, redis_client, "1001")
    failed_push(redis_url, redis_client, "1002")
    assert operations.failed_retry(settings, [], every=True) == 0
    kanal = install(redis_client)
    drain(redis_client)
    assert len(kanal.requests) == 2
    assert FailedJobRegistry(queue=jobs.queue(redis_client)).count == 0


def test_failed_retry_of_an_unknown_id_exits_1(
    settings: Settings, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    assert operations.failed_retry(settings, ["not-a-job"], every=False) == 1
    assert "not-a-job: not in the failed registry" in capsys.readouterr().out


def test_status_shows_queues_records_failures_and_budgets(
    settings: Settings,
    redis_url: str,
    redis_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    failed_push(redis_url, redis_client, "1001")
    accept(redis_url, [order(external_id="2001"), order(external_id="2002")])
    Limiter(redis_client).pause(7, 120, time.time())
    capsys.readouterr()
    assert operations.status(settings) == 0
    head = capsys.readouterr().out.split("\n\n")[0]  # the per-store table follows
    lines = dict(line.split(":", 1) for line in head.splitlines())
    assert lines["scheduled pushes"].strip() == "2"
    assert lines["failed pushes"].strip() == "1"
    assert lines["pending records"].strip().startswith("2 (oldest waiting")
    store = lines["kanal store 7"]
    assert store.startswith(" 60000/min, budget booked")
    assert re.search(r", paused 1(19|20)s$", store)


def test_status_names_an_unusable_configuration(
    redis_url: str, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.from_env({"REDIS_URL": redis_url, "BRIDGE_CONFIG": "/nonexistent.toml"})
    assert operations.status(settings) == 1
    assert "configuration unusable: BRIDGE_CONFIG" in capsys.readouterr().out


def test_status_shows_each_store_with_its_state_and_why(
    settings: Settings,
    redis_url: str,
    redis_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    failed_push(redis_url, redis_client, "1001")
    capsys.readouterr()
    assert operations.status(settings) == 0
    out = capsys.readouterr().out
    table = out.split("\n\n")[1].splitlines()
    assert table[0].split() == [
        "STORE",
        "STATE",
        "LAST",
        "WEBHOOK",
        "LAST",
        "PUSH",
        "PENDING",
        "OLDEST",
        "FAILED",
        "CALLS/H",
    ]
    assert table[1].split()[:2] == ["shop", "degraded"]
    assert table[2] == "    - 1 failed record(s) wait in the failed registry"
    assert re.search(r"^redis: memory [0-9.]+ MB", out, re.MULTILINE)
    assert "warning: no worker is running" in out
    assert "\033[" not in out  # no colour codes outside a terminal


def test_status_shows_a_held_kanal_store_and_why(
    settings: Settings,
    redis_url: str,
    redis_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kanal = install(redis_client)
    kanal.answers.append(httpx.Response(403, json={"error": "API key does not authorize"}))
    accept(redis_url, [order(external_id="2001"), order(external_id="2002")])
    drain(redis_client, rounds=1)
    capsys.readouterr()
    assert operations.status(settings) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"HELD for \d+s: Kanal rejects the API key \(unknown, revoked, or not for this store\) "
        r"\(403, first refused for shop\); 1 record\(s\) waiting, next probe in \ds \(probe 1\)",
        out,
    ), out


def test_status_shows_a_stores_backfill(
    settings: Settings, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    redis_client.hset(
        "kb:backfill:shop",
        mapping={"state": "running", "started_at": time.time(), "rate": 60, "total:orders": 120},
    )
    redis_client.hset("kb:backfill:shop", mapping={"fetched:orders": 40, "queued:orders": 30})
    assert operations.status(settings) == 0
    out = capsys.readouterr().out
    assert "    backfill running: 40 of 120 read, 30 queued, ~30 delivered, about " in out


def test_status_shows_bulk_records_waiting(
    settings: Settings, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.delivery.records import SyncRecordStore, namespaces
    from tests.pushes import config

    fetched = SyncRecordStore(redis_client, namespaces(config()))
    for n in (1, 2, 3):
        fetched.accept_fetched("shop", [order(external_id=str(n))], bulk=True)
    capsys.readouterr()
    assert operations.status(settings) == 0
    out = capsys.readouterr().out
    assert "  3 backfill/reconcile record(s) waiting for slots live traffic leaves" in out
