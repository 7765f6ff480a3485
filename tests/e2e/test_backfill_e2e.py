"""Backfill and reconciliation, end to end: the bridge's real web and worker processes, the
Shopify and WooCommerce emulators as processes over HTTP, `kanal-bridge backfill` as an
operator runs it, and the Kanal emulator as the judge.

Reconciliation runs every 3 seconds here (`reconcile_every_minutes = 0.05`), so it also looks
only 3 seconds behind the present; Kanal takes 1,200 calls a minute per store.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import BIN, ROOT, Bridge, Emulator, Process
from harness import wait_until as wait
from test_connect_e2e import APP_ID, APP_SECRET, SHOP_DOMAIN, WOO_KEY, Shopify, WooCommerce

pytestmark = pytest.mark.e2e

SHOP, WOO = "shop-sync", "woo-sync"
SHOP_KANAL, WOO_KANAL = 31, 32
RATE = 1200

STORES = """
[stores.shop-sync]
platform = "shopify"
kanal_store_id = 31
kanal_api_key = "${{KANAL_KEY}}"
webhook_secrets = ["{app_secret}"]
default_country = "US"
shop_domain = "{shop_domain}"
client_id = "{app_id}"
client_secret = "{app_secret}"
admin_api_url = "{shopify_url}"
reconcile_every_minutes = 0.05
checkouts_require_consent = false
requests_per_minute = 1200

[stores.woo-sync]
platform = "woocommerce"
kanal_store_id = 32
kanal_api_key = "${{KANAL_KEY}}"
webhook_secrets = ["${{WOO_SECRET}}"]
default_country = "US"
site_url = "{woo_url}"
consumer_key = "{consumer_key}"
consumer_secret = "{consumer_secret}"
reconcile_every_minutes = 0.05
"""


@pytest.fixture(scope="module")
def shopify(logs: Path) -> Iterator[Shopify]:
    shop = Shopify(logs)
    # A Shopify Plus shop's bucket (1,000 points a second): a Standard shop's 100 a second
    # reads about 260 orders a minute, which would make this test wait on Shopify, not Kanal.
    plus = {"bucket_maximum": 10_000, "restore_rate": 1_000}
    shop.control("POST", "/apps", json={"client_id": APP_ID, "client_secret": APP_SECRET, **plus})
    yield shop
    shop.stop()


@pytest.fixture(scope="module")
def woocommerce(logs: Path) -> Iterator[WooCommerce]:
    shop = WooCommerce(logs)
    yield shop
    shop.stop()


@pytest.fixture(scope="module")
def emulator(logs: Path) -> Iterator[Emulator]:
    emulator = Emulator(logs, {SHOP_KANAL: RATE, WOO_KANAL: RATE})
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def bridge(
    logs: Path, emulator: Emulator, e2e_redis: str, shopify: Shopify, woocommerce: WooCommerce
) -> Iterator[Bridge]:
    stores = STORES.format(
        app_id=APP_ID,
        app_secret=APP_SECRET,
        shop_domain=SHOP_DOMAIN,
        shopify_url=shopify.url,
        woo_url=woocommerce.url,
        consumer_key=WOO_KEY[0],
        consumer_secret=WOO_KEY[1],
    )
    bridge = Bridge(logs, emulator, e2e_redis, settle=0.2, extra_config=stores)
    done = command(bridge, "connect")  # the shops' subscriptions point at the bridge
    assert done.returncode == 0, done.stdout + done.stderr
    yield bridge
    bridge.stop()


def command(bridge: Bridge, *args: str) -> subprocess.CompletedProcess[str]:
    """`kanal-bridge ARGS` as an operator runs it (not in a terminal)."""
    env = {**bridge.env, "PUBLIC_URL": bridge.url}
    return subprocess.run(
        [str(BIN / "kanal-bridge"), *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def held(emulator: Emulator, store_id: int, resource: str = "orders") -> dict[str, Any]:
    return emulator.records(store_id, resource)


def posts(emulator: Emulator, store_id: int, resource: str = "orders") -> Counter[str]:
    """POSTs Kanal received per external id."""
    return Counter(
        str(r["body"]["external_id"])
        for r in emulator.requests(store_id)
        if r["method"] == "POST" and f"/{resource}" in r["path"] and isinstance(r["body"], dict)
    )


def found_total(bridge: Bridge, store: str) -> int:
    return int(bridge.redis.hget(f"kb:store:{store}", "reconcile_found_total") or 0)


def passes_after(bridge: Bridge, store: str, moment: float) -> bool:
    """A reconciliation pass of `store` ended after `moment` (and so saw changes before it
    less its lag)."""
    at = bridge.redis.hget(f"kb:store:{store}", "reconcile_at")
    return at is not None and float(at) > moment + 4


def test_a_woocommerce_order_made_while_the_bridge_was_down_arrives_at_the_next_pass(
    bridge: Bridge, emulator: Emulator, woocommerce: WooCommerce
) -> None:
    before = found_total(bridge, WOO)
    bridge.stop_processes()
    order = woocommerce.control.create_order(billing={"phone": "(415) 555-0142"})
    # WooCommerce tried once, failed (nothing answered), and never tries again.
    tried = wait(lambda: _deliveries_of(woocommerce, order["id"]), 15)
    assert [d["status"] for d in tried] == [None]
    bridge.start_processes()

    wait(lambda: str(order["id"]) in held(emulator, WOO_KANAL), 60)
    wait(lambda: found_total(bridge, WOO) > before, 20)
    assert "reconciliation found orders" in bridge.output()


def _deliveries_of(woocommerce: WooCommerce, order_id: int) -> list[dict[str, Any]]:
    return [
        d for d in woocommerce.control.deliveries(kind="delivery") if d["resource_id"] == order_id
    ]


def test_a_shopify_order_whose_webhooks_were_dropped_arrives_at_the_next_pass(
    bridge: Bridge, emulator: Emulator, shopify: Shopify
) -> None:
    before = found_total(bridge, SHOP)
    shopify.control("POST", "/faults", json={"kind": "drop", "count": 2})
    order = shopify.control("POST", "/orders", json={})["order"]  # orders/create, orders/paid
    dropped = shopify.control("GET", "/deliveries?topic=orders/create")["deliveries"]
    assert dropped[-1]["state"] == "dropped"

    wait(lambda: str(order["id"]) in held(emulator, SHOP_KANAL), 60)
    wait(lambda: found_total(bridge, SHOP) > before, 20)
    assert posts(emulator, SHOP_KANAL)[str(order["id"])] == 1


def test_an_order_whose_webhook_arrived_costs_no_second_call(
    bridge: Bridge, emulator: Emulator, shopify: Shopify
) -> None:
    order = shopify.control("POST", "/orders", json={})["order"]
    wait(lambda: str(order["id"]) in held(emulator, SHOP_KANAL), 30)
    written = time.time()
    before = found_total(bridge, SHOP)
    calls = [r for r in emulator.requests(SHOP_KANAL) if str(order["id"]) in json.dumps(r)]

    wait(lambda: passes_after(bridge, SHOP, written), 60)  # a pass saw it again
    after = [r for r in emulator.requests(SHOP_KANAL) if str(order["id"]) in json.dumps(r)]
    assert after == calls and len(calls) == 1
    assert found_total(bridge, SHOP) == before


# -- backfill -------------------------------------------------------------------------------

ORDERS, CUSTOMERS = 240, 80
LIVE_BOUND = 10.0  # seconds from a live order's creation to Kanal, during the backfill


def _history(shopify: Shopify) -> list[str]:
    """ORDERS orders and CUSTOMERS customers of the last weeks, made without webhooks."""
    start = datetime.now(UTC) - timedelta(days=20)
    orders = [{"created_at": (start + timedelta(minutes=n)).isoformat()} for n in range(ORDERS)]
    made = shopify.control("POST", "/orders", json={"orders": orders})["orders"]
    people = [
        {"phone": f"+1502555{n:04d}", "first_name": f"P{n}", "created_at": start.isoformat()}
        for n in range(CUSTOMERS)
    ]
    shopify.control("POST", "/customers", json={"customers": people})
    return [str(order["id"]) for order in made]


def _backfill(bridge: Bridge) -> dict[str, str]:
    raw = bridge.redis.hgetall(f"kb:backfill:{SHOP}")
    return {k.decode(): v.decode() for k, v in raw.items()}


def _scheduler_holder(bridge: Bridge) -> Process:
    """The worker whose scheduler process holds the scheduler lock."""
    name = bridge.redis.get("rq:scheduler-lock:kanal")
    assert name is not None
    pid = int(bridge.redis.hget(f"rq:scheduler:{name.decode()}", "pid") or 0)
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return next(w for w in bridge.workers if w.popen.pid == parent)


def _platform_job_running(bridge: Bridge) -> bool:
    """Whether the last job of a platform task of the store is running now."""
    for task in ("backfill", "reconcile"):
        job_id = bridge.redis.hget("kb:periodic:job", f"{task}:{SHOP}")
        if job_id and bridge.redis.hget(f"rq:job:{job_id.decode()}", "status") == b"started":
            return True
    return False


def test_a_backfill_survives_a_killed_worker_misses_nothing_and_lets_live_orders_first(
    bridge: Bridge, emulator: Emulator, shopify: Shopify
) -> None:
    bridge.add_worker()
    ids = _history(shopify)
    dry = command(bridge, "backfill", SHOP, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    # The orders of the tests above are in the shop (and in Kanal) too.
    counted = int(re.search(r"^([0-9,]+) orders", dry.stdout)[1].replace(",", ""))  # type: ignore[index]
    assert ORDERS <= counted <= ORDERS + 5, dry.stdout
    assert "at 1200 calls/min; live webhooks go first" in dry.stdout

    started = command(bridge, "backfill", SHOP, "--yes", "--detach")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "started: the workers run it" in started.stdout

    def delivered() -> int:
        return len(set(held(emulator, SHOP_KANAL)) & set(ids))

    # A live order in the middle of the backfill goes first: it waits for no backlog.
    wait(lambda: delivered() >= ORDERS // 4, 60, 0.05)
    live = shopify.control("POST", "/orders", json={})["order"]
    live_at = time.time()
    wait(lambda: str(live["id"]) in held(emulator, SHOP_KANAL), 30, 0.05)
    live_seconds = held(emulator, SHOP_KANAL)[str(live["id"])]["created_at"] - live_at
    assert delivered() < ORDERS, "the backfill was over before the live order arrived"

    # Half-way, a worker is killed: the one not holding the scheduler lock (its holder hands
    # it over only after the lock's minute), between two pages (a page killed mid-way is read
    # again once its job counts as dead: PLATFORM_JOB_TIMEOUT + SWEEP_GRACE, minutes).
    wait(lambda: delivered() >= ORDERS // 2, 60, 0.05)
    holder = _scheduler_holder(bridge)
    victim = next(w for w in bridge.workers if w is not holder)
    wait(lambda: not _platform_job_running(bridge), 30, 0.01)
    victim.signal(signal.SIGKILL)
    victim.popen.wait(10)
    status = command(bridge, "backfill", SHOP, "--status")
    assert status.stdout.startswith(f"backfill of {SHOP}: "), status.stdout
    assert f" of {counted} read" in status.stdout

    wait(lambda: _backfill(bridge).get("state") == "done", 120)
    try:
        wait(lambda: set(ids) <= set(held(emulator, SHOP_KANAL)), 120)
    except AssertionError:
        missing = sorted(set(ids) - set(held(emulator, SHOP_KANAL)))
        records = {m: bridge.redis.hgetall(f"kb:rec:{SHOP_KANAL}:orders:{m}") for m in missing[:3]}
        lanes = {k: bridge.redis.zcard(k) for k in bridge.redis.scan_iter("kb:bulk*")}
        raise AssertionError(f"{len(missing)} missing, e.g. {records}; lanes {lanes}") from None
    wait(lambda: len(held(emulator, SHOP_KANAL, "customers")) >= CUSTOMERS, 60)

    # Nothing missed, nothing POSTed twice (an unanswered POST is probed with a PATCH).
    twice = {k: n for k, n in posts(emulator, SHOP_KANAL).items() if n > 1}
    assert twice == {}
    assert max(posts(emulator, SHOP_KANAL, "customers").values()) == 1
    assert emulator.http.get("/_emulator/stats").json()["rate_limited"] == 0
    assert live_seconds < LIVE_BOUND, live_seconds
    fields = _backfill(bridge)
    assert fields["fetched:orders"] == str(counted)  # the live order came after the start
    assert int(fields["queued:orders"]) + int(fields.get("held:orders", 0)) == counted
    done = command(bridge, "backfill", SHOP, "--status")
    assert done.stdout.startswith(f"backfill of {SHOP}: done")
    assert f"orders: {counted} of {counted} read" in done.stdout
