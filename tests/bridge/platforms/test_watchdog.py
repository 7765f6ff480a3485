"""The watchdog against the WooCommerce emulator and a real Redis: what it repairs, the deaf
window it records, the fields the status page reads, its log lines and metrics."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest
import redis

from bridge import metrics
from bridge.config import BridgeConfig, parse_config
from bridge.emulators.woocommerce import BackgroundWooCommerce
from bridge.errors import PlatformError
from bridge.platforms import periodic, watchdog
from bridge.platforms.connect import lock_key
from bridge.platforms.periodic import Context
from tests.woocommerce_shop import RW, Receiver, fresh
from tests.woocommerce_shop import shop as start_woocommerce

SECRET = "watchdogWooSecret123456"
CONFIG = """
[bridge]
public_url = "{public_url}"

[stores.eu-shop]
platform = "woocommerce"
kanal_store_id = 2
kanal_api_key = "kanal-key-456"
webhook_secrets = ["{secret}"]
site_url = "{site_url}"
consumer_key = "{key}"
consumer_secret = "{key_secret}"
"""


@pytest.fixture(scope="module")
def woocommerce() -> Iterator[BackgroundWooCommerce]:
    shop = start_woocommerce()
    yield shop
    shop.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def config(
    woo: BackgroundWooCommerce, receiver: Receiver, key: tuple[str, str] = RW
) -> BridgeConfig:
    text = CONFIG.format(
        public_url=receiver.url, secret=SECRET, site_url=woo.url, key=key[0], key_secret=key[1]
    )
    return parse_config(text, {})


@pytest.fixture
def context(
    woocommerce: BackgroundWooCommerce,
    receiver: Receiver,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> Context:
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    fresh(woocommerce)
    metrics.BUFFER.take()
    return Context(config(woocommerce, receiver), redis_client)


def state(client: redis.Redis) -> dict[str, str]:
    raw = client.hgetall(metrics.store_key("eu-shop"))
    return {k.decode(): v.decode() for k, v in raw.items()}


def repairs_counted() -> dict[str, float]:
    return metrics.BUFFER.deltas.get(metrics.WATCHDOG_REPAIRS.key, {})


def test_a_first_connection_creates_every_webhook_and_records_no_deaf_window(
    context: Context, woocommerce: BackgroundWooCommerce, redis_client: redis.Redis
) -> None:
    assert watchdog.check(context, "eu-shop") is None
    assert len(woocommerce.control.webhooks()) == 7
    fields = state(redis_client)
    assert set(json.loads(fields["subscriptions"]).values()) == {"active"}
    assert float(fields["watchdog_at"]) == pytest.approx(time.time(), abs=5)
    assert "repair_at" not in fields and "healthy_at" not in fields
    assert watchdog.deaf_windows(redis_client, "eu-shop") == []
    assert repairs_counted() == {"eu-shop\twoocommerce\tcreated": 7.0}

    watchdog.check(context, "eu-shop")
    assert float(state(redis_client)["healthy_at"]) == pytest.approx(time.time(), abs=5)
    checks = metrics.BUFFER.deltas[metrics.WATCHDOG_CHECKS.key]
    assert checks == {"eu-shop\twoocommerce\trepaired": 1.0, "eu-shop\twoocommerce\tok": 1.0}


def test_a_disabled_webhook_is_reactivated_and_the_deaf_window_recorded(
    context: Context,
    woocommerce: BackgroundWooCommerce,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    watchdog.check(context, "eu-shop")
    heard = time.time() - 3600
    redis_client.hset(metrics.store_key("eu-shop"), "webhook_at", heard)
    watchdog.check(context, "eu-shop")  # in line: healthy now, after the last webhook
    hook = next(h for h in woocommerce.control.webhooks() if h["topic"] == "order.created")
    woocommerce.control.set_webhook(hook["id"], status="disabled", failure_count=6)
    metrics.BUFFER.take()
    caplog.clear()

    with caplog.at_level(logging.INFO, logger="bridge.platforms.watchdog"):
        watchdog.check(context, "eu-shop")

    assert woocommerce.control.webhook(hook["id"])["status"] == "active"
    fields = state(redis_client)
    assert json.loads(fields["subscriptions"])["order.created"] == "active"
    assert fields["repair_kind"] == "reactivated"
    assert float(fields["repair_at"]) == pytest.approx(time.time(), abs=5)
    [window] = watchdog.deaf_windows(redis_client, "eu-shop")
    assert window.start == int(heard) - 120  # the last webhook, less the margin
    assert window.end == pytest.approx(time.time(), abs=5)
    assert (window.topics, window.repairs) == (("order.created",), ("reactivated",))
    assert repairs_counted() == {"eu-shop\twoocommerce\treactivated": 1.0}
    [line] = [r for r in caplog.records if r.getMessage().startswith("watchdog repaired")]
    assert (line.store, line.topic, line.repair, line.was) == (  # type: ignore[attr-defined]
        "eu-shop", "order.created", "reactivated", "disabled"
    )  # fmt: skip
    logged = " ".join(str(vars(record)) for record in caplog.records)
    assert SECRET not in logged and RW[1] not in logged

    watchdog.forget_window(redis_client, "eu-shop", window)
    assert watchdog.deaf_windows(redis_client, "eu-shop") == []


def test_a_deaf_window_starts_at_the_last_healthy_check_when_no_webhook_came_since(
    context: Context, woocommerce: BackgroundWooCommerce, redis_client: redis.Redis
) -> None:
    watchdog.check(context, "eu-shop")
    healthy = time.time() - 600
    redis_client.hset(
        metrics.store_key("eu-shop"), mapping={"healthy_at": healthy, "webhook_at": time.time()}
    )
    hook = woocommerce.control.webhooks()[0]
    woocommerce.control.set_webhook(hook["id"], status="paused")
    watchdog.check(context, "eu-shop")
    [window] = watchdog.deaf_windows(redis_client, "eu-shop")
    assert window.start == int(healthy) - 120


def test_a_shop_that_cannot_be_read_is_recorded_and_raised_for_a_sooner_retry(
    woocommerce: BackgroundWooCommerce, receiver: Receiver, redis_client: redis.Redis
) -> None:
    fresh(woocommerce)
    metrics.BUFFER.take()
    wrong = Context(config(woocommerce, receiver, key=(RW[0], "cs_" + "f" * 40)), redis_client)
    with pytest.raises(PlatformError, match="consumer_secret does not belong"):
        watchdog.check(wrong, "eu-shop")
    fields = state(redis_client)
    assert "consumer_secret does not belong" in fields["watchdog_error"]
    assert "f" * 40 not in fields["watchdog_error"]
    assert "watchdog_at" not in fields
    checks = metrics.BUFFER.deltas[metrics.WATCHDOG_CHECKS.key]
    assert checks == {"eu-shop\twoocommerce\tfailed": 1.0}


def test_a_store_another_run_is_changing_is_checked_again_soon(
    context: Context, redis_client: redis.Redis
) -> None:
    redis_client.set(lock_key("eu-shop"), "connect-cli", ex=60)
    assert watchdog.check(context, "eu-shop") == watchdog.BUSY_RETRY
    assert state(redis_client) == {}


def test_the_watchdog_is_the_periodic_task_that_runs_check(
    context: Context, redis_client: redis.Redis
) -> None:
    [task] = [t for t in periodic.TASKS if t.name == "watchdog"]
    assert task.resolve() is watchdog.check
    assert periodic.wanted(context.config)["watchdog:eu-shop"] == 600.0
