"""Reconciliation: its windows (watermark, overlap, lag, deaf windows, carts still worth a
reminder, WooCommerce customers now and then), passes page by page, and what it records."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import redis

from bridge import defaults, metrics
from bridge.config import BridgeConfig, parse_config
from bridge.platforms import periodic, reconcile, scan
from bridge.platforms.sources import Window
from bridge.platforms.watchdog import DeafWindow, deaf_key
from tests.scan_fakes import FakeSink, PagedShop

CONFIG = """
[stores.main]
platform = "shopify"
kanal_store_id = 7
kanal_api_key = "k"
webhook_secrets = ["s"]
shop_domain = "main.myshopify.com"
admin_api_token = "shpat_x"

[stores.woo]
platform = "woocommerce"
kanal_store_id = 8
kanal_api_key = "k"
webhook_secrets = ["s"]
site_url = "https://woo.example"
consumer_key = "ck"
consumer_secret = "cs"
reconcile_customers_every_hours = 24

[stores.quiet]
platform = "woocommerce"
kanal_store_id = 9
kanal_api_key = "k"
webhook_secrets = ["s"]
site_url = "https://quiet.example"
consumer_key = "ck"
consumer_secret = "cs"
reconcile_every_minutes = 0

[stores.hooks-only]
platform = "shopify"
kanal_store_id = 10
kanal_api_key = "k"
webhook_secrets = ["s"]
"""
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC).timestamp()
LAG, OVERLAP = defaults.RECONCILE_LAG_SECONDS, defaults.RECONCILE_OVERLAP_SECONDS


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.fixture
def config() -> BridgeConfig:
    return parse_config(CONFIG, {})


def test_every_store_with_api_access_is_reconciled_at_its_interval(config: BridgeConfig) -> None:
    intervals = periodic.wanted(config)
    assert {k: v for k, v in intervals.items() if k.startswith("reconcile:")} == {
        "reconcile:main": 900.0,
        "reconcile:woo": 900.0,
    }
    assert intervals["backfill:main"] == defaults.BACKFILL_CHECK_SECONDS
    assert "backfill:hooks-only" not in intervals


def test_a_pass_reads_since_the_watermark_less_the_overlap_up_to_the_lag(
    config: BridgeConfig,
) -> None:
    store = config.stores["main"]
    todo, until, customers = reconcile.windows(store, {"watermark": repr(NOW - 900)}, [], NOW)
    assert until == NOW - LAG and not customers
    assert todo[0] == Window("orders", at(NOW - 900 - OVERLAP), at(NOW - LAG))
    assert todo[1] == Window("checkouts", at(NOW - 900 - OVERLAP), at(NOW - LAG), True)
    first, _, _ = reconcile.windows(store, {}, [], NOW)
    assert first[0].since == at(NOW - defaults.RECONCILE_FIRST_LOOKBACK_SECONDS - OVERLAP)


def test_deaf_windows_are_read_in_full_and_old_carts_never(config: BridgeConfig) -> None:
    store = config.stores["main"]
    deaf = [
        DeafWindow(int(NOW - 3 * 86400), int(NOW - 2 * 86400), (), (), b"a"),
        DeafWindow(int(NOW - 7200), int(NOW - 3600), (), (), b"b"),
    ]
    todo, _, _ = reconcile.windows(store, {"watermark": repr(NOW - 900)}, deaf, NOW)
    orders = [w for w in todo if w.resource == "orders"]
    assert orders[0] == Window(
        "orders", at(NOW - 3 * 86400 - OVERLAP), at(NOW - 2 * 86400 + OVERLAP)
    )
    carts = [w for w in todo if w.resource == "checkouts"]
    # The three-day-old window has no cart left to remind; the recent one does.
    oldest = NOW - (defaults.CHECKOUT_RECOVERY_HOURS * 3600 + store.abandoned_after_minutes * 60)
    assert [c.since for c in carts] == [at(NOW - 7200 - OVERLAP), at(NOW - 900 - OVERLAP)]
    assert all(c.since and c.since.timestamp() >= oldest for c in carts)


def test_woocommerce_reads_its_trash_and_now_and_then_its_customers(
    config: BridgeConfig,
) -> None:
    store = config.stores["woo"]
    todo, _, customers = reconcile.windows(store, {"watermark": repr(NOW - 900)}, [], NOW)
    assert [w.resource for w in todo] == ["orders", "trashed_orders", "customers"]
    assert customers and todo[2].since is None  # never read: all of them
    fields = {"watermark": repr(NOW - 900), "customers_at": repr(NOW - 3600)}
    todo, _, customers = reconcile.windows(store, fields, [], NOW)
    assert [w.resource for w in todo] == ["orders", "trashed_orders"] and not customers
    fields["customers_at"] = repr(NOW - 25 * 3600)
    todo, _, customers = reconcile.windows(store, fields, [], NOW)
    assert customers and todo[2].since == at(NOW - 25 * 3600 - OVERLAP)


def run_pass(
    client: redis.Redis, config: BridgeConfig, sink: FakeSink, source: PagedShop, now: float
) -> None:
    for _ in range(100):
        if reconcile.step(client, config, "main", sink, source=source, now=now) is None:
            return
    raise AssertionError("the pass did not end")


def test_a_pass_records_what_the_webhooks_missed(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    source = PagedShop({"orders": [(1, 5), (2, 5), (3, 5)], "checkouts": [(9, 1)]})
    sink = FakeSink(held={("main", "orders", "1"): 5, ("main", "orders", "2"): 5})
    deaf = json.dumps(
        {"start": int(NOW - 7200), "end": int(NOW - 3600), "topics": ["orders/create"]}
    )
    redis_client.zadd(deaf_key("main"), {deaf: NOW - 3600})
    metrics.BUFFER.take()
    run_pass(redis_client, config, sink, source, NOW)
    # Order 3 and checkout 9 were missed (twice read, once queued: the deaf window and the
    # regular one overlap); orders 1 and 2 cost nothing.
    assert sink.sent() == ["3"] and sink.sent("checkouts") == ["9"]
    state = scan.read(redis_client, reconcile.reconcile_key("main"))
    assert state["state"] == scan.DONE and state["watermark"] == repr(NOW - LAG)
    assert redis_client.zcard(deaf_key("main")) == 0
    store = scan.read(redis_client, metrics.store_key("main"))
    assert (store["reconcile_at"], store["reconcile_found"]) == (repr(NOW), "2")
    assert store["reconcile_found_total"] == "2"
    counted = metrics.BUFFER.take()[metrics.RECONCILE_FOUND.key]
    assert counted == {"main\torders": 1.0, "main\tcheckouts": 1.0}
    # The next pass starts from the watermark and finds nothing new.
    later = NOW + 900
    run_pass(redis_client, config, sink, source, later)
    state = scan.read(redis_client, reconcile.reconcile_key("main"))
    assert json.loads(state["windows"])[0]["since"] == NOW - LAG - OVERLAP
    store = scan.read(redis_client, metrics.store_key("main"))
    assert (store["reconcile_found"], store["reconcile_found_total"]) == ("0", "2")


def test_a_pass_left_mid_way_is_carried_on(redis_client: redis.Redis, config: BridgeConfig) -> None:
    source = PagedShop({"orders": [(n, 1) for n in range(5)], "checkouts": []})
    sink = FakeSink()
    assert reconcile.step(redis_client, config, "main", sink, source=source, now=NOW) == 0.0
    state = scan.read(redis_client, reconcile.reconcile_key("main"))
    assert state["state"] == scan.RUNNING and json.loads(state["cursor"]) == {"at": 2}
    found = reconcile.run_pass(redis_client, config, "main", sink, source=source)
    assert found.done and found.found == {"orders": 5}
    assert sink.sent() == ["0", "1", "2", "3", "4"]


def test_a_store_reconciled_every_few_seconds_looks_that_close_to_now(
    config: BridgeConfig,
) -> None:
    fast = config.stores["main"].model_copy(update={"reconcile_every_minutes": 0.05})
    assert reconcile.lag(fast) == 3.0
    assert reconcile.lag(config.stores["main"]) == LAG
    assert reconcile.lag(config.stores["quiet"]) == LAG  # off: `kanal-bridge reconcile` only
