"""Per-store health: each state arises from its cause, written into Redis as the bridge's
parts write it; what nobody wrote is "not available"."""

from __future__ import annotations

import json
import time

import pytest
import redis
import redis.asyncio

from bridge import metrics
from bridge.config import BridgeConfig, parse_config
from bridge.delivery import jobs
from bridge.delivery.limiter import pace_key
from bridge.delivery.records import PENDING_KEY
from bridge.ops import health

ENV = {"KEY": "kanal-key-0123456789abcd", "SECRET": "webhook-secret-42"}
CONFIG = """
[alerts]
failed_per_hour = 10
oldest_pending_minutes = 30

[stores.main-shop]
platform = "shopify"
kanal_store_id = 7
kanal_api_key = "${KEY}"
webhook_secrets = ["${SECRET}"]
shop_domain = "main-shop.myshopify.com"
admin_api_token = "${SECRET}"
quiet_hours = 6
external_id_prefix = "ms-"

[stores.outlet]
platform = "shopify"
kanal_store_id = 7
kanal_api_key = "${KEY}"
webhook_secrets = ["${SECRET}"]
external_id_prefix = "out-"

[stores.eu-shop]
platform = "woocommerce"
kanal_store_id = 8
kanal_api_key = "${KEY}"
webhook_secrets = ["${SECRET}"]
requests_per_minute = 2

[stores.eu-shop.alerts]
failed_per_hour = 2
"""
NOW = 1_790_000_000.0  # 40 minutes into an hour: 1_790_000_000 % 3600 == 2400
HOUR = int(NOW // 3600)


@pytest.fixture
def config() -> BridgeConfig:
    return parse_config(CONFIG, ENV)


def read(client: redis.Redis, config: BridgeConfig) -> dict[str, health.StoreHealth]:
    return {store.store: store for store in health.read(client, config, NOW).stores}


def names(store: health.StoreHealth) -> list[str]:
    return [condition.name for condition in store.conditions]


def test_a_quiet_new_deployment_is_ok_and_says_what_is_not_available(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    found = read(redis_client, config)
    assert {store.state for store in found.values()} == {"ok"}
    main = found["main-shop"]
    assert main.webhook_at is None and main.push_at is None
    assert main.subscriptions is None and main.watchdog_at is None
    assert main.reconcile_at is None and main.reconcile_found is None
    assert main.api_access is True and found["eu-shop"].api_access is False
    assert main.budget_per_hour == 60 * 60
    assert found["eu-shop"].budget_per_hour == 2 * 60
    assert main.hourly is not None and len(main.hourly.webhooks) == health.HOURS
    assert main.hourly.hours[-1] == HOUR


def test_the_metrics_flush_gives_the_last_webhook_and_push(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    metrics.BUFFER.take()
    metrics.BUFFER.take_latest()
    metrics.webhook("shopify", "main-shop", "orders/create", "accepted", None, 0.01)
    metrics.kanal_call("main-shop", "orders", "POST", 201, 0.1)
    metrics.flush(redis_client)
    now = time.time()
    store = {s.store: s for s in health.read(redis_client, config, now).stores}["main-shop"]
    assert store.webhook_at is not None and now - store.webhook_at < 60
    assert store.webhook_at_by_family["orders"] == store.webhook_at
    assert store.webhook_at_by_family["checkouts"] is None
    assert store.push_at is not None
    assert store.hourly is not None
    assert store.hourly.webhooks[-1] == 1 and store.hourly.pushes[-1] == 1
    assert store.calls_last_hour == 1


def test_a_store_kanal_rejects_is_paused_with_its_reason(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    redis_client.hset(pace_key(7), mapping={"held_reason": "key_rejected", "held_since": NOW - 600})
    redis_client.zadd(PENDING_KEY, {"kb:rec:7:orders:ms-1": NOW - 3 * 3600})
    found = read(redis_client, config)
    main = found["main-shop"]
    assert main.state == "paused" and found["outlet"].state == "paused"
    assert names(main) == ["kanal_rejected"]  # the old record is the pause's doing, said once
    assert "API key" in main.conditions[0].summary
    assert main.held_since == NOW - 600
    assert found["eu-shop"].state == "ok"  # other Kanal stores are unaffected


def test_an_old_pending_record_makes_its_store_failing(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    redis_client.zadd(
        PENDING_KEY,
        {
            "kb:rec:7:orders:out-5": NOW - 31 * 60,
            "kb:rec:7:orders:ms-9": NOW - 60,
            "kb:rec:7:orders:ms-10": NOW - 10,
        },
    )
    found = read(redis_client, config)
    assert found["outlet"].state == "failing"
    assert names(found["outlet"]) == ["oldest_pending"]
    assert "31 min" in found["outlet"].conditions[0].summary
    assert (found["main-shop"].pending, found["main-shop"].state) == (2, "ok")
    assert found["main-shop"].oldest_pending_seconds == 60


def test_records_of_the_earlier_key_layout_are_counted_too(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    redis_client.zadd(PENDING_KEY, {"kb:rec:eu-shop:orders:12": NOW - 5})
    assert read(redis_client, config)["eu-shop"].pending == 1


def test_more_failures_in_an_hour_than_the_store_allows_is_failing(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    redis_client.hset(metrics.hour_key("eu-shop", HOUR), "failed", 2)
    redis_client.hset(metrics.hour_key("eu-shop", HOUR - 1), "failed", 3)  # 1/3 still inside
    redis_client.hset(metrics.hour_key("main-shop", HOUR), "failed", 3)
    found = read(redis_client, config)
    assert names(found["eu-shop"]) == ["failed_per_hour"]  # 2 + 3 x 1/3 = 3 > 2 (its own)
    assert found["main-shop"].state == "ok"  # 3 <= 10 (the default)


def test_a_subscription_the_watchdog_found_disabled_is_failing(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    subscriptions = {"orders/create": "active", "orders/updated": "disabled"}
    redis_client.hset(
        metrics.store_key("main-shop"),
        mapping={"subscriptions": json.dumps(subscriptions), "watchdog_at": NOW - 60},
    )
    main = read(redis_client, config)["main-shop"]
    assert main.state == "failing"
    assert main.conditions[0].summary.endswith("orders/updated disabled")
    assert main.watchdog_at == NOW - 60


def test_no_webhook_for_quiet_hours_is_failing_only_where_set(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    for store in ("main-shop", "outlet"):
        redis_client.hset(metrics.store_key(store), "webhook_at", NOW - 7 * 3600)
    found = read(redis_client, config)
    assert names(found["main-shop"]) == ["quiet"]
    assert "7 h" in found["main-shop"].conditions[0].summary
    assert found["outlet"].state == "ok"  # no quiet_hours: shops differ


def test_quiet_counts_from_when_the_alerts_started_watching_a_silent_store(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    redis_client.hset(metrics.store_key("main-shop"), "watched_at", NOW - 7 * 3600)
    assert names(read(redis_client, config)["main-shop"]) == ["quiet"]


def test_failed_records_make_a_store_degraded_with_links_to_their_jobs(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    records = ("7:orders:out-1", "main-shop:orders:ms-2", "eu-shop:orders:3")
    for number, record in enumerate(records):
        job_id = f"job{number}"
        redis_client.hset(jobs.job_key(job_id), "description", f"push {record}")
        redis_client.zadd(health.FAILED_KEY, {job_id: NOW + number})
    found = read(redis_client, config)
    assert (found["outlet"].failed, found["outlet"].failed_jobs) == (1, ["job0"])
    assert found["main-shop"].failed_jobs == ["job1"]
    assert found["eu-shop"].failed_jobs == ["job2"]
    assert names(found["outlet"]) == ["failed_records"]
    assert found["outlet"].state == "degraded"


def test_kanal_errors_and_429s_in_the_last_hour_are_degraded(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    redis_client.hset(metrics.hour_key("outlet", HOUR), mapping={"errors": 2, "calls": 2})
    redis_client.hset(metrics.hour_key("eu-shop", HOUR - 1), "rate_limited", 3)
    redis_client.hset(pace_key(8), "paused", NOW + 30)
    found = read(redis_client, config)
    assert names(found["outlet"]) == ["kanal_errors"]
    assert names(found["eu-shop"]) == ["kanal_errors"]
    assert "paused 30 s" in found["eu-shop"].conditions[0].summary
    assert found["eu-shop"].rate_limit_pause_seconds == 30


def test_a_kanal_store_near_its_budget_is_degraded_for_every_store_sharing_it(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    redis_client.hset(metrics.hour_key("main-shop", HOUR), "calls", 2000)
    redis_client.hset(metrics.hour_key("outlet", HOUR), "calls", 1300)
    found = read(redis_client, config)
    assert found["main-shop"].kanal_calls_last_hour == 3300
    assert names(found["main-shop"]) == names(found["outlet"]) == ["budget"]


def test_a_recent_repair_and_records_reconciliation_found_are_degraded(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    redis_client.hset(
        metrics.store_key("main-shop"),
        mapping={
            "repair_at": NOW - 3600,
            "repair_kind": "recreated",
            "reconcile_at": NOW - 60,
            "reconcile_found": 3,
            "reconcile_found_total": 11,
        },
    )
    redis_client.hset(metrics.store_key("outlet"), "repair_at", NOW - 2 * 86400)
    found = read(redis_client, config)
    main = found["main-shop"]
    assert names(main) == ["repaired", "reconcile_found"]
    assert main.state == "degraded"
    assert (main.reconcile_found, main.reconcile_found_total) == (3, 11)
    assert found["outlet"].state == "ok"  # repaired two days ago


def test_a_watchdog_that_cannot_read_the_shop_is_degraded_and_says_why(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    redis_client.hset(
        metrics.store_key("eu-shop"),
        mapping={"watchdog_error": "WooCommerce store eu-shop: list webhooks: refused (401)"},
    )
    found = read(redis_client, config)
    assert names(found["eu-shop"]) == ["watchdog_error"]
    assert found["eu-shop"].state == "degraded"
    assert "refused (401)" in found["eu-shop"].conditions[0].summary


def test_stores_come_worst_first_and_the_json_has_no_secret(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    redis_client.hset(pace_key(8), "held_reason", "store_paused")
    redis_client.zadd(PENDING_KEY, {"kb:rec:7:orders:out-5": NOW - 3600})
    reading = health.read(redis_client, config, NOW)
    assert [s.store for s in reading.stores] == ["outlet", "eu-shop", "main-shop"]
    assert reading.counts() == {"failing": 1, "paused": 1, "degraded": 0, "ok": 1}
    text = json.dumps(reading.as_json())
    assert ENV["KEY"] not in text and ENV["SECRET"] not in text
    assert '"held_reason": "store_paused"' in text


@pytest.mark.anyio
async def test_the_web_process_reads_the_same(
    redis_client: redis.Redis, redis_url: str, config: BridgeConfig
) -> None:
    redis_client.zadd(PENDING_KEY, {"kb:rec:7:orders:out-5": NOW - 3600})
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        reading = await health.aread(client, config, NOW)
    finally:
        await client.aclose()
    assert reading.as_json()["stores"] == health.read(redis_client, config, NOW).as_json()["stores"]


def test_a_deployment_without_a_worker_is_a_condition(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    reading = health.read(redis_client, config, NOW)
    assert [c.name for c in health.deployment_conditions(reading.deployment)] == ["no_worker"]
    redis_client.sadd(health.WORKERS_KEY, "rq:worker:w1")
    assert health.deployment_conditions(health.read(redis_client, config, NOW).deployment) == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(42, "42 s"), (600, "10 min"), (7 * 3600, "7 h"), (3 * 3600 + 1200, "3 h 20 min")],
)
def test_durations_read_like_people_write_them(seconds: float, text: str) -> None:
    assert health.duration(seconds) == text
