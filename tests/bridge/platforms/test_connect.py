"""Connecting shops against the Shopify and WooCommerce emulators over HTTP, with a real Redis:
every wanted subscription made once, nothing else touched, repairs, and errors that say what
to fix."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from bridge.config import BridgeConfig, parse_config
from bridge.emulators.shopify import App, BackgroundShopify
from bridge.emulators.woocommerce import BackgroundWooCommerce
from bridge.platforms.connect import (
    WooCommerceHooks,
    connect_store,
    fingerprint,
    read_owned,
)
from bridge.platforms.http import Backoff
from bridge.platforms.report import render_connect
from bridge.platforms.shopify_admin import ShopifyAdmin
from bridge.platforms.woocommerce_rest import WooCommerceREST
from tests.woocommerce_shop import READ_ONLY, RW, Receiver, fresh
from tests.woocommerce_shop import shop as start_woocommerce

SHOP = "connect-test.myshopify.com"
APP_SECRET = "bridge-app-client-secret"
WOO_SECRET = "wooSecretForConnectTests42"

CONFIG = """
[stores.main-shop]
platform = "shopify"
kanal_store_id = 1
kanal_api_key = "kanal-key-123"
webhook_secrets = [{shopify_secrets}]
shop_domain = "{domain}"
client_id = "{client_id}"
client_secret = "{client_secret}"
admin_api_url = "{shopify_url}"

[stores.eu-shop]
platform = "woocommerce"
kanal_store_id = 2
kanal_api_key = "kanal-key-456"
webhook_secrets = [{woo_secrets}]
site_url = "{woo_url}"
consumer_key = "{consumer_key}"
consumer_secret = "{consumer_secret}"
"""


@pytest.fixture(scope="module")
def shopify() -> Iterator[BackgroundShopify]:
    apps = [
        App("bridge-app", APP_SECRET),
        App("narrow-app", "narrow-secret", scopes=("read_orders",)),
    ]
    with BackgroundShopify(SHOP, apps, time_scale=0.0001) as shop:
        yield shop


@pytest.fixture(scope="module")
def woocommerce() -> Iterator[BackgroundWooCommerce]:
    shop = start_woocommerce()
    yield shop
    shop.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """Stands in for the bridge: WooCommerce pings the address of a webhook it creates."""
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def shops(
    shopify: BackgroundShopify, woocommerce: BackgroundWooCommerce
) -> tuple[BackgroundShopify, BackgroundWooCommerce]:
    shopify.control("POST", "/reset")
    fresh(woocommerce)
    return shopify, woocommerce


def config(
    shops: tuple[BackgroundShopify, BackgroundWooCommerce],
    *,
    client_id: str = "bridge-app",
    client_secret: str = APP_SECRET,
    shopify_secrets: tuple[str, ...] = (APP_SECRET,),
    woo_secrets: tuple[str, ...] = (WOO_SECRET,),
    woo_key: tuple[str, str] = RW,
    extra: str = "",
) -> BridgeConfig:
    shopify, woocommerce = shops
    text = CONFIG.format(
        domain=SHOP,
        client_id=client_id,
        client_secret=client_secret,
        shopify_url=shopify.url,
        shopify_secrets=", ".join(f'"{s}"' for s in shopify_secrets),
        woo_url=woocommerce.url,
        woo_secrets=", ".join(f'"{s}"' for s in woo_secrets),
        consumer_key=woo_key[0],
        consumer_secret=woo_key[1],
    )
    return parse_config(text + extra, {})


def subscriptions(shopify: BackgroundShopify, app: str = "bridge-app") -> list[dict[str, Any]]:
    found = shopify.control("GET", "/subscriptions")["subscriptions"]
    return [sub for sub in found if sub["app"] == app]


def admin(shops: Any, app: str = "bridge-app", secret: str = APP_SECRET) -> ShopifyAdmin:
    """A client of `app` on the Shopify emulator (to set up what the test needs)."""
    store = config(shops, client_id=app, client_secret=secret, shopify_secrets=(secret,))
    return ShopifyAdmin.for_store(store.stores["main-shop"])


# -- Shopify -----------------------------------------------------------------------------


def test_shopify_every_wanted_subscription_is_created_once_and_a_second_run_changes_nothing(
    shops: Any, receiver: Receiver, redis_client: redis.Redis
) -> None:
    shopify, _ = shops
    store = config(shops).stores["main-shop"]
    url = f"{receiver.url}/webhooks/shopify/main-shop"

    dry = connect_store("main-shop", store, receiver.url, redis_client, dry_run=True)
    assert [c.action for c in dry.plan.changes] == ["create"] * 15  # type: ignore[union-attr]
    assert subscriptions(shopify) == [] and read_owned(redis_client, "main-shop") == {}
    assert "would create" in render_connect(dry)

    first = connect_store("main-shop", store, receiver.url, redis_client)
    assert first.ok and len(first.done) == 15
    made = subscriptions(shopify)
    assert {(s["uri"], s["format"]) for s in made} == {(url, "JSON")}
    assert {s["topic"] for s in made} == {
        "ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_PAID", "ORDERS_FULFILLED",
        "ORDERS_PARTIALLY_FULFILLED", "ORDERS_CANCELLED", "CHECKOUTS_CREATE", "CHECKOUTS_UPDATE",
        "CHECKOUTS_DELETE", "CUSTOMERS_CREATE", "CUSTOMERS_UPDATE",
        "CUSTOMERS_PURCHASING_SUMMARY", "FULFILLMENTS_CREATE", "FULFILLMENTS_UPDATE",
        "FULFILLMENT_EVENTS_CREATE",
    }  # fmt: skip
    assert set(read_owned(redis_client, "main-shop")) == {s["id"] for s in made}

    second = connect_store("main-shop", store, receiver.url, redis_client)
    assert second.ok and second.outcomes == []
    assert "in line: nothing to change" in render_connect(second)
    assert subscriptions(shopify) == made


def test_shopify_subscriptions_the_bridge_did_not_make_are_left_alone(
    shops: Any, receiver: Receiver, redis_client: redis.Redis
) -> None:
    shopify, _ = shops
    own_app = admin(shops)
    elsewhere = own_app.create_webhook_subscription("orders/create", "https://crm.example/hook?t=1")
    unhandled = own_app.create_webhook_subscription("orders/delete", "https://crm.example/del")
    other_app = admin(shops, "narrow-app", "narrow-secret")
    theirs = other_app.create_webhook_subscription(
        "orders/create", f"{receiver.url}/webhooks/shopify/main-shop"
    )
    before = {s["id"]: s for s in shopify.control("GET", "/subscriptions")["subscriptions"]}

    report = connect_store(
        "main-shop", config(shops).stores["main-shop"], receiver.url, redis_client
    )

    assert report.ok and len(report.done) == 15
    assert {sub.id for sub in report.plan.others} == {elsewhere.id, unhandled.id}  # type: ignore[union-attr]
    after = {s["id"]: s for s in shopify.control("GET", "/subscriptions")["subscriptions"]}
    for ident in (elsewhere.id, unhandled.id, theirs.id):
        assert after[ident] == before[ident]
    text = render_connect(report)
    assert (
        "left alone: 2 subscription(s) delivering elsewhere (crm.example/del, crm.example/hook)"
        in text
    )
    assert "t=1" not in text


def test_shopify_subscriptions_follow_a_new_public_url_and_are_made_json(
    shops: Any, receiver: Receiver, redis_client: redis.Redis
) -> None:
    shopify, _ = shops
    store = config(shops).stores["main-shop"]
    connect_store("main-shop", store, "https://old-bridge.example.com", redis_client)
    xml = next(s for s in subscriptions(shopify) if s["topic"] == "ORDERS_PAID")
    admin(shops).update_webhook_subscription(xml["id"], format="XML")

    report = connect_store("main-shop", store, receiver.url, redis_client)

    assert report.ok and {c.action for c in report.plan.changes} == {"update"}  # type: ignore[union-attr]
    assert report.plan.states["orders/create"] == "wrong_address"  # type: ignore[union-attr]
    url = f"{receiver.url}/webhooks/shopify/main-shop"
    assert {(s["uri"], s["format"]) for s in subscriptions(shopify)} == {(url, "JSON")}
    assert len(subscriptions(shopify)) == 15
    assert "corrected the address (was old-bridge.example.com/webhooks/shopify/main-shop)" in (
        render_connect(report)
    )


def test_a_missing_scope_fails_naming_the_scope_and_the_rest_is_made(
    shops: Any, receiver: Receiver, redis_client: redis.Redis
) -> None:
    shopify, _ = shops
    narrow = config(
        shops,
        client_id="narrow-app",
        client_secret="narrow-secret",
        shopify_secrets=("narrow-secret",),
    ).stores["main-shop"]

    report = connect_store("main-shop", narrow, receiver.url, redis_client)

    assert not report.ok
    failed = [o for o in report.outcomes if not o.done]
    assert {o.change.topic for o in failed} == {
        "customers/create", "customers/update", "customers/purchasing_summary",
        "fulfillments/create", "fulfillments/update", "fulfillment_events/create",
    }  # fmt: skip
    assert "give the app the read_customers scope" in (failed[0].error or "")
    assert len(subscriptions(shopify, "narrow-app")) == 9  # orders and checkouts
    assert "FAILED: " in render_connect(report)


def test_a_dev_dashboard_app_must_sign_with_one_of_the_webhook_secrets(
    shops: Any, receiver: Receiver, redis_client: redis.Redis
) -> None:
    shopify, _ = shops
    store = config(shops, shopify_secrets=("a-notifications-page-key",)).stores["main-shop"]
    report = connect_store("main-shop", store, receiver.url, redis_client)
    assert not report.ok and report.plan is None
    assert "client_secret is not among webhook_secrets" in render_connect(report)
    assert subscriptions(shopify) == []


def test_refused_credentials_say_what_to_check(
    shops: Any, receiver: Receiver, redis_client: redis.Redis
) -> None:
    store = config(shops, client_secret="wrong-secret", shopify_secrets=("wrong-secret",)).stores[
        "main-shop"
    ]
    report = connect_store("main-shop", store, receiver.url, redis_client)
    assert report.plan is None
    assert "check client_id and client_secret" in (report.error or "")
    assert "wrong-secret" not in (report.error or "")


# -- WooCommerce -------------------------------------------------------------------------


def test_woocommerce_every_webhook_is_created_signed_with_the_first_secret_once(
    shops: Any, receiver: Receiver, redis_client: redis.Redis
) -> None:
    _, woo = shops
    store = config(shops, woo_secrets=(WOO_SECRET, "an-older-secret")).stores["eu-shop"]
    url = f"{receiver.url}/webhooks/woocommerce/eu-shop"

    first = connect_store("eu-shop", store, receiver.url, redis_client)

    assert first.ok and len(first.done) == 7
    hooks = woo.control.webhooks()
    assert {(h["status"], h["delivery_url"], h["secret"]) for h in hooks} == {
        ("active", url, WOO_SECRET)
    }
    assert {h["topic"] for h in hooks} == {
        "order.created", "order.updated", "order.restored", "order.deleted",
        "customer.created", "customer.updated", "customer.deleted",
    }  # fmt: skip
    assert all(h["name"] == f"kanal-bridge eu-shop {h['topic']}" for h in hooks)
    mark = fingerprint("eu-shop", WOO_SECRET)
    assert read_owned(redis_client, "eu-shop") == {str(h["id"]): mark for h in hooks}
    assert WOO_SECRET not in str(redis_client.hgetall("kb:subscriptions:eu-shop"))

    second = connect_store("eu-shop", store, receiver.url, redis_client)
    assert second.ok and second.outcomes == []
    assert woo.control.webhooks() == hooks


def test_another_integrations_webhook_is_left_alone_and_ours_are_repaired(
    shops: Any, receiver: Receiver, redis_client: redis.Redis
) -> None:
    _, woo = shops
    rest = WooCommerceREST(woo.url, *RW)
    theirs = rest.create_webhook(
        topic="order.created", delivery_url=f"{receiver.url}/other-integration", secret="x"
    )
    store = config(shops).stores["eu-shop"]
    connect_store("eu-shop", store, receiver.url, redis_client)
    ours = {h["topic"]: h for h in woo.control.webhooks() if h["id"] != theirs.id}
    woo.control.set_webhook(ours["order.updated"]["id"], status="disabled", failure_count=7)
    woo.control.set_webhook(ours["order.deleted"]["id"], status="paused")
    duplicate = rest.create_webhook(
        topic="order.created",
        delivery_url=f"{receiver.url}/webhooks/woocommerce/eu-shop",
        secret="y",
    )
    since = woo.control.requests()[-1]["seq"] if woo.control.requests() else 0

    report = connect_store("eu-shop", store, receiver.url, redis_client)

    assert report.ok
    done = {(o.change.action, o.change.topic, o.change.was) for o in report.outcomes}
    assert done == {
        ("update", "order.updated", "disabled"),
        ("update", "order.deleted", "paused"),
        ("delete", "order.created", "duplicate"),
    }
    after = {h["id"]: h for h in woo.control.webhooks()}
    assert duplicate.id not in after
    assert after[ours["order.updated"]["id"]]["status"] == "active"
    assert after[ours["order.deleted"]["id"]]["status"] == "active"
    assert after[theirs.id]["delivery_url"] == f"{receiver.url}/other-integration"
    writes = [r for r in woo.control.requests(since) if r["method"] != "GET"]
    assert all(not r["path"].endswith(f"/webhooks/{theirs.id}") for r in writes)
    text = render_connect(report)
    assert "re-activated" in text and "removed (duplicate)" in text


def test_a_rotated_secret_is_set_on_every_webhook(
    shops: Any, receiver: Receiver, redis_client: redis.Redis
) -> None:
    _, woo = shops
    connect_store("eu-shop", config(shops).stores["eu-shop"], receiver.url, redis_client)
    rotated = config(shops, woo_secrets=("theNewSecret0123456789", WOO_SECRET)).stores["eu-shop"]

    report = connect_store("eu-shop", rotated, receiver.url, redis_client)

    assert report.ok and {o.change.kinds for o in report.outcomes} == {("secret",)}
    assert {h["secret"] for h in woo.control.webhooks()} == {"theNewSecret0123456789"}
    assert connect_store("eu-shop", rotated, receiver.url, redis_client).outcomes == []


def test_a_read_only_key_says_to_give_it_read_write(
    shops: Any, receiver: Receiver, redis_client: redis.Redis
) -> None:
    store = config(shops, woo_key=READ_ONLY).stores["eu-shop"]
    report = connect_store("eu-shop", store, receiver.url, redis_client)
    assert not report.ok
    assert all("Read/Write" in (o.error or "") for o in report.outcomes)
    assert READ_ONLY[1] not in render_connect(report)


def test_an_unreachable_shop_says_so(receiver: Receiver, redis_client: redis.Redis) -> None:
    store = parse_config(
        CONFIG.format(
            domain=SHOP, client_id="a", client_secret="b", shopify_url="http://127.0.0.1:9",
            shopify_secrets='"b"', woo_url="http://127.0.0.1:9", woo_secrets=f'"{WOO_SECRET}"',
            consumer_key=RW[0], consumer_secret=RW[1],
        ),
        {},
    ).stores["eu-shop"]  # fmt: skip
    rest = WooCommerceREST.for_store("eu-shop", store, backoff=Backoff(attempts=1))
    hooks = WooCommerceHooks(rest, "eu-shop", WOO_SECRET)
    report = connect_store("eu-shop", store, receiver.url, redis_client, hooks=hooks)
    assert report.plan is None
    assert "ConnectError" in (report.error or "") and "is the shop up" in (report.error or "")
    assert "not connected" in render_connect(report)
