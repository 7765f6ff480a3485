"""Connect and the watchdog, end to end: the bridge's real web and worker processes, the
Shopify and WooCommerce emulators as processes over HTTP, `kanal-bridge connect` as a
command, and the Kanal emulator as the judge.

The bridge runs without PUBLIC_URL at first (so its watchdog is off and `connect` alone makes
the subscriptions); the first outage test starts it again with PUBLIC_URL and a watchdog every
3 seconds, so the outage tests are last in the module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import BIN, KANAL_KEY, ROOT, WOO_SECRET, Bridge, Emulator, Process, wait_for_http
from harness import wait_until as wait

from bridge.emulators.woocommerce.remote import ShopControl
from bridge.ops.localredis import pick_free_port

pytestmark = pytest.mark.e2e

SHOP_DOMAIN = "e2e-api.myshopify.com"
APP_ID, APP_SECRET = "e2e-bridge-app", "e2e-bridge-app-client-secret"
OTHER_APP, OTHER_SECRET = "e2e-other-app", "e2e-other-app-secret"
WOO_KEY = ("ck_" + "5" * 40, "cs_" + "e" * 40)
WATCHDOG_SECONDS = 3.0

# Appended to the harness's configuration (whose stores feed Kanal stores 7 to 13).
# Reconciliation is off: these tests count the shops' API calls that connect and the watchdog
# make (tests/e2e/test_backfill_e2e.py covers reconciliation).
STORES = """
[bridge]
watchdog_every_minutes = {watchdog}

[stores.shop-api]
platform = "shopify"
kanal_store_id = 21
kanal_api_key = "${{KANAL_KEY}}"
webhook_secrets = ["{app_secret}"]
default_country = "US"
shop_domain = "{shop_domain}"
client_id = "{app_id}"
client_secret = "{app_secret}"
admin_api_url = "{shopify_url}"
reconcile_every_minutes = 0

[stores.woo-api]
platform = "woocommerce"
kanal_store_id = 22
kanal_api_key = "${{KANAL_KEY}}"
webhook_secrets = ["${{WOO_SECRET}}"]
default_country = "US"
site_url = "{woo_url}"
consumer_key = "{consumer_key}"
consumer_secret = "{consumer_secret}"
reconcile_every_minutes = 0
reconcile_customers_every_hours = 0
"""
SHOP_KANAL, WOO_KANAL = 21, 22


class Shopify:
    """The Shopify emulator as a process: the bridge's app and another app installed."""

    def __init__(self, logs: Path) -> None:
        self.port = pick_free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [
            sys.executable, "-m", "bridge.emulators.shopify", f"--port={self.port}",
            f"--shop={SHOP_DOMAIN}", f"--app={APP_ID}:{APP_SECRET}",
            f"--app={OTHER_APP}:{OTHER_SECRET}",
            # Shopify's 8 tries over 4 hours, in a second and a half.
            "--time-scale=0.0001",
        ]  # fmt: skip
        self.process = Process("shopify", argv, dict(os.environ), logs)
        wait_for_http(f"{self.url}/_emulator/subscriptions")
        self.http = httpx.Client(base_url=f"{self.url}/_emulator", timeout=10)

    def control(self, method: str, path: str, **options: Any) -> Any:
        response = self.http.request(method, path, **options)
        response.raise_for_status()
        return response.json()

    def subscriptions(self, app: str = APP_ID) -> list[dict[str, Any]]:
        found = self.control("GET", "/subscriptions")["subscriptions"]
        return [sub for sub in found if sub["app"] == app]

    def graphql(self, app: str, secret: str, query: str, variables: dict[str, Any]) -> Any:
        token = httpx.post(
            f"{self.url}/admin/oauth/access_token",
            data={"grant_type": "client_credentials", "client_id": app, "client_secret": secret},
        ).json()["access_token"]
        answer = httpx.post(
            f"{self.url}/admin/api/2026-10/graphql.json",
            json={"query": query, "variables": variables},
            headers={"X-Shopify-Access-Token": token},
        )
        return answer.json()["data"]

    def subscribe(self, app: str, secret: str, topic: str, uri: str) -> str:
        mutation = (
            "mutation ($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {"
            " webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {"
            " webhookSubscription { id } userErrors { message } } }"
        )
        data = self.graphql(app, secret, mutation, {"topic": topic, "sub": {"uri": uri}})
        ident: str = data["webhookSubscriptionCreate"]["webhookSubscription"]["id"]
        return ident

    def stop(self) -> None:
        self.http.close()
        self.process.stop()


class WooCommerce:
    """The WooCommerce emulator as a process, with the bridge's Read/Write key."""

    def __init__(self, logs: Path) -> None:
        self.port = pick_free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [
            sys.executable, "-m", "bridge.emulators.woocommerce", f"--port={self.port}",
            f"--key={WOO_KEY[0]}:{WOO_KEY[1]}", "--delivery-delay=0.05",
        ]  # fmt: skip
        self.process = Process("woocommerce", argv, dict(os.environ), logs)
        wait_for_http(f"{self.url}/_emulator/stats")
        self.control = ShopControl(self.url)

    def stop(self) -> None:
        self.control.close()
        self.process.stop()


@pytest.fixture(scope="module")
def shopify(logs: Path) -> Iterator[Shopify]:
    shop = Shopify(logs)
    yield shop
    shop.stop()


@pytest.fixture(scope="module")
def woocommerce(logs: Path) -> Iterator[WooCommerce]:
    shop = WooCommerce(logs)
    yield shop
    shop.stop()


@pytest.fixture(scope="module")
def emulator(logs: Path) -> Iterator[Emulator]:
    """The Kanal emulator, with this module's two stores."""
    emulator = Emulator(logs, {SHOP_KANAL: 600, WOO_KANAL: 600})
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def bridge(
    logs: Path, emulator: Emulator, e2e_redis: str, shopify: Shopify, woocommerce: WooCommerce
) -> Iterator[Bridge]:
    stores = STORES.format(
        watchdog=WATCHDOG_SECONDS / 60,
        app_id=APP_ID,
        app_secret=APP_SECRET,
        shop_domain=SHOP_DOMAIN,
        shopify_url=shopify.url,
        woo_url=woocommerce.url,
        consumer_key=WOO_KEY[0],
        consumer_secret=WOO_KEY[1],
    )
    bridge = Bridge(logs, emulator, e2e_redis, settle=0.2, extra_config=stores)
    yield bridge
    bridge.stop()


def connect(bridge: Bridge, *args: str) -> subprocess.CompletedProcess[str]:
    """`kanal-bridge connect ARGS` as an operator runs it."""
    env = {**bridge.env, "PUBLIC_URL": bridge.url}
    return subprocess.run(
        [str(BIN / "kanal-bridge"), "connect", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def url(bridge: Bridge, platform: str, store: str) -> str:
    return f"{bridge.url}/webhooks/{platform}/{store}"


def empty_shops(bridge: Bridge, shopify: Shopify, woocommerce: WooCommerce) -> None:
    shopify.control("POST", "/reset")
    woocommerce.control.reset()
    for key in bridge.redis.scan_iter("kb:subscriptions:*"):
        bridge.redis.delete(key)


def store_state(bridge: Bridge, store: str) -> dict[str, str]:
    raw = bridge.redis.hgetall(f"kb:store:{store}")
    return {k.decode(): v.decode() for k, v in raw.items()}


def test_connect_on_empty_shops_makes_every_subscription_and_a_second_run_changes_nothing(
    bridge: Bridge, shopify: Shopify, woocommerce: WooCommerce
) -> None:
    empty_shops(bridge, shopify, woocommerce)

    first = connect(bridge)

    assert first.returncode == 0, first.stdout + first.stderr
    made = shopify.subscriptions()
    assert len(made) == 15
    assert {(s["uri"], s["format"]) for s in made} == {(url(bridge, "shopify", "shop-api"), "JSON")}
    hooks = woocommerce.control.webhooks()
    assert len(hooks) == 7
    assert {(h["status"], h["delivery_url"], h["secret"]) for h in hooks} == {
        ("active", url(bridge, "woocommerce", "woo-api"), WOO_SECRET)
    }
    # WooCommerce pinged each new webhook, and the bridge answered exactly 200.
    pings = woocommerce.control.deliveries(kind="ping")
    assert len(pings) == 7 and {p["status"] for p in pings} == {200}
    assert first.stdout.count("created") >= 22

    shopify_seq = shopify.control("GET", "/requests")["last_seq"]
    woo_seq = woocommerce.control.requests()[-1]["seq"]
    second = connect(bridge)

    assert second.returncode == 0, second.stdout
    assert second.stdout.count("in line: nothing to change") == 2
    operations = {r["operation"] for r in shopify.control("GET", f"/requests?since={shopify_seq}")[
        "requests"
    ]}  # fmt: skip
    assert operations == {"WebhookSubscriptions"}  # reads only
    assert {r["method"] for r in woocommerce.control.requests(woo_seq)} == {"GET"}
    assert shopify.subscriptions() == made and woocommerce.control.webhooks() == hooks


def test_subscriptions_the_bridge_did_not_make_are_left_alone(
    bridge: Bridge, shopify: Shopify, woocommerce: WooCommerce
) -> None:
    empty_shops(bridge, shopify, woocommerce)
    rest = httpx.Client(base_url=f"{woocommerce.url}/wp-json/wc/v3", auth=WOO_KEY, timeout=10)
    other_integration = rest.post(
        "/webhooks",
        json={"topic": "order.created", "delivery_url": f"{bridge.url}/healthz", "name": "CRM"},
    ).json()
    own_elsewhere = shopify.subscribe(APP_ID, APP_SECRET, "ORDERS_CREATE", f"{bridge.url}/crm")
    other_app = shopify.subscribe(
        OTHER_APP, OTHER_SECRET, "ORDERS_CREATE", url(bridge, "shopify", "shop-api")
    )
    before_shopify = {s["id"]: s for s in shopify.control("GET", "/subscriptions")["subscriptions"]}
    woo_seq = woocommerce.control.requests()[-1]["seq"]

    done = connect(bridge)

    assert done.returncode == 0, done.stdout
    after_shopify = {s["id"]: s for s in shopify.control("GET", "/subscriptions")["subscriptions"]}
    for ident in (own_elsewhere, other_app):
        assert after_shopify[ident] == before_shopify[ident]
    assert len(shopify.subscriptions()) == 16  # 15 of the bridge's, and the one left alone
    theirs = woocommerce.control.webhook(other_integration["id"])
    assert (theirs["topic"], theirs["delivery_url"], theirs["name"]) == (
        "order.created", f"{bridge.url}/healthz", "CRM",
    )  # fmt: skip
    writes = [r for r in woocommerce.control.requests(woo_seq) if r["method"] != "GET"]
    assert writes and all(
        not r["path"].endswith(f"/webhooks/{other_integration['id']}") for r in writes
    )
    assert "left alone: 1 subscription(s) delivering elsewhere" in done.stdout
    rest.close()


def test_the_shops_webhooks_reach_kanal_through_the_subscriptions(
    bridge: Bridge, emulator: Emulator, shopify: Shopify, woocommerce: WooCommerce
) -> None:
    empty_shops(bridge, shopify, woocommerce)
    assert connect(bridge).returncode == 0

    order = shopify.control("POST", "/orders", json={})["order"]
    woo_order = woocommerce.control.create_order(status="processing")

    shop_id, woo_id = str(order["id"]), str(woo_order["id"])
    wait(
        lambda: shop_id in emulator.records(SHOP_KANAL) and woo_id in emulator.records(WOO_KANAL),
        20,
    )
    delivered = woocommerce.control.deliveries(kind="delivery")
    assert {d["outcome"] for d in delivered} == {"success"}


def _heard(bridge: Bridge, store: str) -> float:
    """Wait until the web process has flushed its last-webhook time for `store`."""
    return float(wait(lambda: store_state(bridge, store).get("webhook_at"), 20))


def test_the_watchdog_reactivates_a_woocommerce_webhook_disabled_while_the_bridge_was_down(
    bridge: Bridge, emulator: Emulator, shopify: Shopify, woocommerce: WooCommerce
) -> None:
    empty_shops(bridge, shopify, woocommerce)
    assert connect(bridge).returncode == 0
    first = woocommerce.control.create_order(status="processing")
    wait(lambda: str(first["id"]) in emulator.records(WOO_KANAL), 20)
    heard = _heard(bridge, "woo-api")
    bridge.redis.delete("kb:deaf:woo-api")  # the shop was emptied before this test: a window
    hook = next(h for h in woocommerce.control.webhooks() if h["topic"] == "order.created")

    bridge.stop_processes()
    down = time.time()
    lost = [woocommerce.control.create_order(status="processing") for _ in range(7)]
    wait(lambda: woocommerce.control.webhook(hook["id"])["status"] == "disabled", 20)
    assert len(lost) == 7
    back = time.time()  # the outage ends here: the watchdog may repair before start returns
    bridge.start_processes(PUBLIC_URL=bridge.url)  # the watchdog is on from now

    wait(lambda: woocommerce.control.webhook(hook["id"])["status"] == "active", 30, 0.2)
    repaired = time.time()
    assert repaired - back < WATCHDOG_SECONDS + 20  # its interval, plus a start on a busy CI box
    # The watchdog records what it did just after the repair itself.
    state = wait(lambda: (s := store_state(bridge, "woo-api")).get("repair_kind") and s, 10)
    assert state["repair_kind"] == "reactivated"
    assert json.loads(state["subscriptions"])["order.created"] == "active"
    [raw] = wait(lambda: bridge.redis.zrange("kb:deaf:woo-api", 0, -1), 10)
    window = json.loads(raw)
    assert window["start"] <= heard <= down <= back <= window["end"]  # the outage, covered
    assert window["topics"] == ["order.created"] and window["repairs"] == ["reactivated"]

    after = woocommerce.control.create_order(status="processing")
    wait(lambda: str(after["id"]) in emulator.records(WOO_KANAL), 20)


def test_the_watchdog_recreates_a_shopify_subscription_the_platform_deleted(
    bridge: Bridge, emulator: Emulator, shopify: Shopify, woocommerce: WooCommerce
) -> None:
    # The watchdog runs (since the previous test): connect waits for its lock when it is
    # busy, so once the first order is through, the shop is in line and stays so.
    empty_shops(bridge, shopify, woocommerce)
    bridge.redis.delete("kb:store:shop-api")
    assert connect(bridge).returncode == 0
    first = shopify.control("POST", "/orders", json={})["order"]
    wait(lambda: str(first["id"]) in emulator.records(SHOP_KANAL), 20)
    heard = _heard(bridge, "shop-api")
    bridge.redis.delete("kb:deaf:shop-api")  # the shop was emptied before this test

    bridge.stop_processes()
    down = time.time()
    shopify.control("POST", "/orders", json={})  # orders/create and orders/paid: 8 tries each

    def deleted() -> bool:
        gone = shopify.control("GET", "/subscriptions")["deleted"]
        return {s["topic"] for s in gone} >= {"ORDERS_CREATE", "ORDERS_PAID"}

    wait(deleted, 30, 0.2)
    assert "ORDERS_CREATE" not in {s["topic"] for s in shopify.subscriptions()}
    back = time.time()  # the outage ends here: the watchdog may repair before start returns
    bridge.start_processes(PUBLIC_URL=bridge.url)

    created = url(bridge, "shopify", "shop-api")
    wait(
        lambda: (
            {"ORDERS_CREATE", "ORDERS_PAID"}
            <= {s["topic"] for s in shopify.subscriptions() if s["uri"] == created}
        ),
        30,
        0.2,
    )
    assert time.time() - back < WATCHDOG_SECONDS + 20
    assert len(shopify.subscriptions()) == 15
    [raw] = wait(lambda: bridge.redis.zrange("kb:deaf:shop-api", 0, -1), 10)
    window = json.loads(raw)
    assert window["start"] <= heard <= down <= back <= window["end"]
    assert window["topics"] == ["orders/create", "orders/paid"]
    assert store_state(bridge, "shop-api")["repair_kind"] == "created"

    after = shopify.control("POST", "/orders", json={})["order"]
    wait(lambda: str(after["id"]) in emulator.records(SHOP_KANAL), 20)
    assert KANAL_KEY not in bridge.output() and APP_SECRET not in bridge.output()
