"""Pages of Kanal actions read from the Shopify and WooCommerce emulators over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.config import parse_config
from bridge.emulators.shopify import App, BackgroundShopify
from bridge.emulators.woocommerce import BackgroundWooCommerce
from bridge.platforms.http import Backoff, PlatformHTTP
from bridge.platforms.shopify_admin import ShopifyAdmin
from bridge.platforms.shopify_auth import StaticToken
from bridge.platforms.sources import (
    Fetched,
    ShopifySource,
    Source,
    Window,
    WooCommerceSource,
    shop_timezone,
    source_for,
    without_shipments,
)
from bridge.platforms.woocommerce_rest import WooCommerceREST, gmt
from mappers import Patch, StoreContext, Upsert
from tests.woocommerce_shop import RW, fresh, shop

TOKEN = "shpat_sources_test_token"
CTX = StoreContext(default_country="US", checkouts_require_consent=False)
FAST = Backoff(attempts=2, base=0.01, cap=0.02, jitter=0.0)
START = datetime(2026, 10, 1, tzinfo=UTC)


def everything(source: Source, window: Window) -> list[list[Any]]:
    """Every page of the window, checking each cursor survives JSON (a checkpoint)."""
    records: list[list[Any]] = []
    cursor = None
    while True:
        page: Fetched = source.page(window, cursor)
        records.extend(page.records)
        if page.done:
            return records
        cursor = json.loads(json.dumps(page.cursor))


# -- Shopify ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shopify_server() -> Iterator[BackgroundShopify]:
    apps = [
        App(
            "sources",
            "sources-secret",
            scopes=("read_orders", "read_customers", "read_all_orders"),
            static_token=TOKEN,
            bucket_maximum=10_000,
            restore_rate=10_000,
        )
    ]
    with BackgroundShopify("sources.myshopify.com", apps, time_scale=0.0001) as server:
        yield server


@pytest.fixture
def shopify(shopify_server: BackgroundShopify) -> BackgroundShopify:
    shopify_server.control("POST", "/reset")
    return shopify_server


def shopify_source(server: BackgroundShopify, **sizes: int) -> ShopifySource:
    http = PlatformHTTP(server.url, backoff=FAST)
    admin = ShopifyAdmin(http, StaticToken(TOKEN), api_version="2026-10")
    return ShopifySource(admin, CTX, max_wait=5, page_sizes=sizes)


def _order(server: BackgroundShopify, at: datetime, **fields: Any) -> dict[str, Any]:
    stamp = at.isoformat()
    body = {"topics": [], "created_at": stamp, "updated_at": stamp, **fields}
    order: dict[str, Any] = server.control("POST", "/orders", json=body)["order"]
    return order


def test_shopify_orders_are_read_once_across_pages_within_their_window(
    shopify: BackgroundShopify,
) -> None:
    made = [_order(shopify, START + timedelta(hours=n)) for n in range(7)]
    source = shopify_source(shopify, orders=3)
    window = Window("orders", START + timedelta(hours=1), START + timedelta(hours=6))
    assert source.count(window).records == 5
    records = everything(source, window)
    upserts = [a for actions in records for a in actions if isinstance(a, Upsert)]
    assert [u.external_id for u in upserts] == [str(o["id"]) for o in made[1:6]]
    calls, cost = source.spent()
    assert calls == 3 and cost > 0  # a count, then pages of 3 and 2


def test_shopify_line_items_past_the_first_page_are_fetched(shopify: BackgroundShopify) -> None:
    items = [
        {"title": f"Item {n}", "quantity": 1, "price": "2.50", "product_id": 70 + n}
        for n in range(12)
    ]
    _order(shopify, START, line_items=items)
    source = shopify_source(shopify)
    [[upsert]] = everything(source, Window("orders"))
    assert isinstance(upsert, Upsert)
    assert [item["title"] for item in upsert.body["line_items"]] == [i["title"] for i in items]


def test_shopify_open_checkouts_and_customers_with_their_figures(
    shopify: BackgroundShopify,
) -> None:
    customer = shopify.control(
        "POST",
        "/customers",
        json={"topics": [], "phone": "+15025550188", "_orders_count": 2, "_amount_spent": "10"},
    )["customer"]
    at = START.isoformat()
    shopify.control(
        "POST", "/checkouts", json={"topics": [], "customer_id": customer["id"], "updated_at": at}
    )
    shopify.control("POST", "/checkouts", json={"topics": [], "updated_at": at})
    shopify.control("POST", "/checkouts", json={"topics": [], "updated_at": at, "completed_at": at})
    source = shopify_source(shopify)
    assert len(everything(source, Window("checkouts"))) == 3
    opened = everything(source, Window("checkouts", open_only=True))
    assert len(opened) == 2
    [[upsert, figures]] = everything(source, Window("customers"))
    assert isinstance(upsert, Upsert) and upsert.body["phone"] == "+15025550188"
    assert isinstance(figures, Patch) and figures.fields == {
        "orders_count": 2,
        "lifetime_value": 10,
    }


def test_the_shops_time_zone_is_read_from_the_api(shopify: BackgroundShopify) -> None:
    assert shop_timezone(shopify_source(shopify)) == "Etc/UTC"


# -- WooCommerce -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def woo_server() -> Iterator[BackgroundWooCommerce]:
    emulator = shop()
    yield emulator
    emulator.stop()


@pytest.fixture
def woo(woo_server: BackgroundWooCommerce) -> BackgroundWooCommerce:
    return fresh(woo_server)


def woo_source(emulator: BackgroundWooCommerce, per_page: int = 100) -> WooCommerceSource:
    rest = WooCommerceREST(emulator.url, *RW, name="woo", backoff=FAST)
    return WooCommerceSource(rest, CTX, per_page=per_page)


def _history(emulator: BackgroundWooCommerce, seconds: list[int], **fields: Any) -> list[int]:
    orders = [
        {
            "date_created_gmt": gmt(START),
            "date_modified_gmt": gmt(START + timedelta(seconds=s)),
            **fields,
        }
        for s in seconds
    ]
    return [o["id"] for o in emulator.control.create_orders(orders, webhooks=False)]


def test_woocommerce_orders_are_read_once_and_trash_on_its_own(
    woo: BackgroundWooCommerce,
) -> None:
    ids = _history(woo, [0, 10, 20, 30, 40])
    woo.control.trash_order(ids[4], webhooks=False)
    source = woo_source(woo, per_page=2)
    window = Window("orders", START - timedelta(seconds=1), datetime.now(UTC))
    assert source.count(window).records == 4
    read = [a.external_id for actions in everything(source, window) for a in actions]
    assert sorted(set(read), key=read.index) == [str(i) for i in ids[:4]]
    [[trashed]] = everything(source, Window("trashed_orders", START - timedelta(seconds=1)))
    assert isinstance(trashed, Patch) and trashed.external_id == str(ids[4])
    assert trashed.fields["fulfillment_status"] == "cancelled"


def test_woocommerce_customers_changed_before_the_window_are_dropped(
    woo: BackgroundWooCommerce,
) -> None:
    old = {"date_modified_gmt": gmt(START), "date_created_gmt": gmt(START)}
    new = {"date_modified_gmt": gmt(START + timedelta(days=2)), "date_created_gmt": gmt(START)}
    woo.control.create_customers([old, new, new], webhooks=False)
    source = woo_source(woo, per_page=2)
    assert source.count(Window("customers")).records == 3
    recent = everything(source, Window("customers", START + timedelta(days=1)))
    assert len(recent) == 2 and all(isinstance(a[0], Upsert) for a in recent)
    assert len(everything(source, Window("customers"))) == 3


def test_backfill_sends_no_shipments() -> None:
    order = Upsert("orders", "1", 1, {})
    shipment = Upsert("shipments", "1-1", 1, {}, after=("orders", "1"))
    assert without_shipments([[order, shipment], [shipment]]) == [[order], []]


def test_the_source_of_a_configured_store(
    woo: BackgroundWooCommerce, shopify: BackgroundShopify
) -> None:
    config = parse_config(
        f"""
        [stores.woo]
        platform = "woocommerce"
        kanal_store_id = 1
        kanal_api_key = "k"
        webhook_secrets = ["s"]
        site_url = "{woo.url}"
        consumer_key = "{RW[0]}"
        consumer_secret = "{RW[1]}"

        [stores.shop]
        platform = "shopify"
        kanal_store_id = 2
        kanal_api_key = "k"
        webhook_secrets = ["s"]
        shop_domain = "sources.myshopify.com"
        admin_api_url = "{shopify.url}"
        admin_api_token = "{TOKEN}"
        """,
        {},
    )
    woo_job = source_for("woo", config.stores["woo"], in_job=True)
    assert isinstance(woo_job, WooCommerceSource)
    assert woo_job.rest.backoff.attempts == 1  # a job never sleeps on a retry: it reschedules
    shop_job = source_for("shop", config.stores["shop"], timezone="Europe/Paris", in_job=True)
    assert isinstance(shop_job, ShopifySource)
    assert shop_job.max_wait == 0 and shop_job.ctx.timezone == "Europe/Paris"
    assert shop_job.count(Window("orders")).records == 0
