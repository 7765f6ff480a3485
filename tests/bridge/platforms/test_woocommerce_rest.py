"""The WooCommerce REST client against the real emulator over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bridge.config import parse_config
from bridge.emulators.woocommerce import BackgroundWooCommerce
from bridge.errors import (
    ConfigError,
    PlatformAuthError,
    PlatformUnavailable,
    WooCommerceAuthError,
    WooCommerceError,
)
from bridge.platforms.http import Backoff
from bridge.platforms.woocommerce_rest import (
    OrdersCursor,
    Page,
    WooCommerceREST,
    gmt,
)
from tests.woocommerce_shop import NOT_MANAGER, READ_ONLY, RW, fresh, shop

FAST = Backoff(attempts=3, base=0.01, cap=0.05, jitter=0.0)


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundWooCommerce]:
    emulator = shop()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(server: BackgroundWooCommerce) -> BackgroundWooCommerce:
    return fresh(server)


def client(
    emulator: BackgroundWooCommerce, key: tuple[str, str] = RW, **options: Any
) -> WooCommerceREST:
    return WooCommerceREST(emulator.url, *key, name="eu-shop", backoff=FAST, **options)


@pytest.fixture
def woo(emulator: BackgroundWooCommerce) -> WooCommerceREST:
    return client(emulator)


def history(emulator: BackgroundWooCommerce, seconds: list[int]) -> list[int]:
    """Orders last modified at 2026-10-01 00:00:00 GMT plus each of `seconds`; their ids."""
    start = datetime(2026, 10, 1, tzinfo=UTC)
    orders = [
        {"date_created_gmt": gmt(start), "date_modified_gmt": gmt(start + timedelta(seconds=s))}
        for s in seconds
    ]
    return [order["id"] for order in emulator.control.create_orders(orders, webhooks=False)]


# --- access ---


def test_basic_auth_by_default_and_query_parameters_when_the_store_says_so(
    emulator: BackgroundWooCommerce,
) -> None:
    assert client(emulator).list_webhooks() == []
    assert client(emulator, query_string_auth=True).list_webhooks() == []
    assert [r["auth"] for r in emulator.control.requests()] == ["basic", "query"]


def test_plain_http_is_refused_except_to_a_loopback_host() -> None:
    with pytest.raises(ConfigError, match="site_url: must use https"):
        WooCommerceREST("http://shop.example", *RW)
    for url in ("https://shop.example", "http://localhost:8098", "http://127.0.0.1"):
        assert WooCommerceREST(url, *RW).site_url == url


def test_the_client_of_a_configured_store(emulator: BackgroundWooCommerce) -> None:
    config = parse_config(
        f"""
        [stores.eu-shop]
        platform = "woocommerce"
        kanal_store_id = 1
        kanal_api_key = "k"
        webhook_secrets = ["s"]
        site_url = "{emulator.url}"
        consumer_key = "{RW[0]}"
        consumer_secret = "${{WC_SECRET}}"
        query_string_auth = true

        [stores.bare]
        platform = "woocommerce"
        kanal_store_id = 2
        kanal_api_key = "k"
        webhook_secrets = ["s"]
        """,
        {"WC_SECRET": RW[1]},
    )
    woo = WooCommerceREST.for_store("eu-shop", config.stores["eu-shop"])
    assert woo.count_orders() == 0
    assert emulator.control.requests()[-1]["auth"] == "query"
    with pytest.raises(ConfigError, match=r"stores\.bare: site_url, consumer_key"):
        WooCommerceREST.for_store("bare", config.stores["bare"])


def test_no_key_or_secret_appears_in_a_repr_or_an_error(emulator: BackgroundWooCommerce) -> None:
    woo = client(emulator, READ_ONLY, query_string_auth=True)
    with pytest.raises(WooCommerceAuthError) as caught:
        woo.create_webhook(topic="order.created", delivery_url="https://b.example", secret="x")
    for text in (repr(woo), str(caught.value)):
        assert READ_ONLY[0] not in text and READ_ONLY[1] not in text


# --- errors that tell what to fix ---


def test_a_read_only_key_is_told_to_get_read_write(emulator: BackgroundWooCommerce) -> None:
    woo = client(emulator, READ_ONLY)
    assert woo.list_webhooks() == []
    with pytest.raises(WooCommerceAuthError) as caught:
        woo.create_webhook(topic="order.created", delivery_url="https://b.example", secret="x")
    error = caught.value
    assert isinstance(error, PlatformAuthError) and isinstance(error, WooCommerceError)
    assert (error.status, error.code) == (401, "woocommerce_rest_authentication_error")
    assert error.message == "The API key provided does not have write permissions."
    assert str(error).startswith("WooCommerce store eu-shop: create webhook order.created: ")
    assert "give the REST key Read/Write permissions" in str(error)


@pytest.mark.parametrize(
    ("key", "options", "status", "hint"),
    [
        ((RW[0], "cs_wrong"), {}, 401, "consumer_secret does not belong to consumer_key"),
        (("ck_unknown", "cs_unknown"), {}, 401, "set query_string_auth"),
        (("ck_unknown", "cs_unknown"), {"query_string_auth": True}, 401, "check consumer_key"),
        (NOT_MANAGER, {}, 403, "make the key for an administrator"),
    ],
)
def test_refused_credentials_say_what_to_change(
    emulator: BackgroundWooCommerce,
    key: tuple[str, str],
    options: dict[str, Any],
    status: int,
    hint: str,
) -> None:
    with pytest.raises(WooCommerceAuthError) as caught:
        client(emulator, key, **options).list_webhooks()
    assert caught.value.status == status
    assert hint in str(caught.value)
    if "query_string_auth" in options:
        assert "set query_string_auth" not in str(caught.value)


def test_woocommerce_errors_keep_their_code_message_and_status(
    woo: WooCommerceREST,
) -> None:
    with pytest.raises(WooCommerceError) as caught:
        woo.create_webhook(topic="order.paid", delivery_url="https://b.example", secret="x")
    error = caught.value
    assert not isinstance(error, PlatformAuthError)
    assert (error.status, error.code) == (400, "woocommerce_rest_shop_webhook_invalid_topic")
    assert str(error).endswith(
        "WooCommerce answered 400 woocommerce_rest_shop_webhook_invalid_topic: "
        "Webhook topic is required and must be valid."
    )


def test_server_errors_are_retried_then_reported_as_unavailable(
    emulator: BackgroundWooCommerce, woo: WooCommerceREST
) -> None:
    emulator.control.add_fault("rest", status=503, count=2, retry_after=0)
    assert woo.count_orders() == 0
    emulator.control.add_fault("rest", status=502, count=3)
    with pytest.raises(
        PlatformUnavailable, match="WooCommerce store eu-shop: list orders: HTTP 502"
    ):
        woo.count_orders()


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"status": 404}, "answered 404 without a WooCommerce error; is site_url the WordPress"),
        (
            {"status": 404, "body": {"code": "rest_no_route", "message": "No route", "data": {}}},
            "no such route (404 rest_no_route: No route); is WooCommerce active at",
        ),
        ({"status": 200}, "answered 200 without the JSON the REST API sends"),
        (
            {"status": 403, "body": {"code": "rest_forbidden", "message": "Blocked", "data": {}}},
            "a security plugin or the host may be blocking the REST API",
        ),
    ],
)
def test_what_is_not_woocommerce_answering_is_named_so(
    emulator: BackgroundWooCommerce, woo: WooCommerceREST, fault: dict[str, Any], expected: str
) -> None:
    emulator.control.add_fault("rest", **fault)
    with pytest.raises(WooCommerceError) as caught:
        woo.list_webhooks()
    assert expected in str(caught.value)


def test_a_redirect_is_not_followed_and_names_where_it_goes_without_its_query() -> None:
    def redirect(request: httpx.Request) -> httpx.Response:
        target = "https://www.shop.example/wp-json/wc/v3/webhooks?consumer_secret=cs_leak"
        return httpx.Response(301, headers={"Location": target})

    woo = WooCommerceREST(
        "https://shop.example",
        *RW,
        client=httpx.Client(transport=httpx.MockTransport(redirect)),
        backoff=FAST,
    )
    with pytest.raises(WooCommerceError) as caught:
        woo.list_webhooks()
    text = str(caught.value)
    assert "redirects (301) to https://www.shop.example/wp-json/wc/v3/webhooks;" in text
    assert "cs_leak" not in text


# --- webhooks ---


def test_webhooks_are_created_listed_across_pages_updated_and_deleted(
    emulator: BackgroundWooCommerce, woo: WooCommerceREST
) -> None:
    made = [
        woo.create_webhook(
            topic=topic, delivery_url="http://127.0.0.1:9/hook", secret="s", name=f"kb {topic}"
        )
        for topic in (
            "order.created",
            "order.updated",
            "order.deleted",
            "order.restored",
            "customer.created",
        )
    ]
    assert made[0].status == "active" and made[0].name == "kb order.created"
    listed = woo.list_webhooks(per_page=2)
    assert sorted(w.id for w in listed) == sorted(w.id for w in made)
    pages = [r["query"].get("page") for r in emulator.control.requests() if r["method"] == "GET"]
    assert pages == ["1", "2", "3"]
    assert len(woo.list_webhooks(per_page=1)) == len(made)  # not fooled by its page count
    paused = woo.update_webhook(made[1].id, status="paused")
    assert paused.status == "paused"
    assert [w.id for w in woo.list_webhooks(status="paused")] == [made[1].id]
    assert woo.get_webhook(made[1].id) == paused
    assert woo.delete_webhook(made[1].id) is True
    assert woo.delete_webhook(made[1].id) is False
    assert woo.get_webhook(made[1].id) is None


def test_reactivating_a_disabled_webhook_leaves_its_failure_count(
    emulator: BackgroundWooCommerce, woo: WooCommerceREST
) -> None:
    webhook = woo.create_webhook(
        topic="order.created", delivery_url="http://127.0.0.1:9/h", secret="s"
    )
    emulator.control.set_webhook(webhook.id, status="disabled", failure_count=6)
    assert woo.update_webhook(webhook.id, status="active").status == "active"
    assert emulator.control.webhook(webhook.id)["failure_count"] == 6


# --- orders and customers ---


def test_an_order_scan_resumes_from_its_cursor_and_misses_nothing_changed_meanwhile(
    emulator: BackgroundWooCommerce, woo: WooCommerceREST
) -> None:
    ids = history(emulator, list(range(0, 250, 10)))  # 25 orders, 10 s apart
    cursor: OrdersCursor | None = OrdersCursor(datetime(2026, 9, 30, tzinfo=UTC))
    seen: list[int] = []
    pages = 0
    while cursor is not None:
        page, cursor = woo.scan_orders(cursor, per_page=5)
        seen.extend(order["id"] for order in page.items)
        pages += 1
        if pages == 2:  # an order of page 1 changes: it moves to the end of the list
            emulator.control.update_order(ids[0], customer_note="changed during the scan")
        if cursor is not None:
            cursor = OrdersCursor.from_json(cursor.as_json())  # as a checkpoint would
    assert set(seen) == set(ids)
    assert seen.count(ids[0]) == 2  # seen again once changed
    assert len(seen) <= len(ids) + pages  # at most one repeat per page


def test_a_page_of_orders_changed_in_one_second_moves_the_page_number_on(
    emulator: BackgroundWooCommerce, woo: WooCommerceREST
) -> None:
    ids = history(emulator, [5] * 7)
    cursor: OrdersCursor | None = OrdersCursor(datetime(2026, 10, 1, tzinfo=UTC))
    seen, cursors = [], []
    while cursor is not None:
        cursors.append(cursor)
        page, cursor = woo.scan_orders(cursor, per_page=3)
        seen.extend(order["id"] for order in page.items)
    # Rewound to the second before the newest change, then paged within that second.
    assert [(c.after.second, c.page) for c in cursors] == [(0, 1), (4, 1), (4, 2), (4, 3)]
    assert set(seen) == set(ids)


def test_orders_modified_after_a_time_and_their_counts(
    emulator: BackgroundWooCommerce, woo: WooCommerceREST
) -> None:
    ids = history(emulator, [0, 60, 120])
    after = datetime(2026, 10, 1, 0, 1, tzinfo=UTC)  # exclusive: the order at 00:01:00 is out
    page = woo.orders_page(modified_after=after)
    assert [order["id"] for order in page.items] == [ids[2]]
    assert (page.total, page.total_pages, page.has_next) == (1, 1, False)
    assert page.newest_modified() == datetime(2026, 10, 1, 0, 2, tzinfo=UTC)
    assert woo.count_orders() == 3
    assert woo.count_orders(modified_before=after) == 1
    emulator.control.trash_order(ids[0], webhooks=False)
    assert (woo.count_orders(), woo.count_orders(status="trash")) == (2, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        woo.orders_page(modified_after=datetime(2026, 10, 1))


def test_a_single_order_and_a_missing_one(
    emulator: BackgroundWooCommerce, woo: WooCommerceREST
) -> None:
    [order_id] = history(emulator, [0])
    order = woo.get_order(order_id)
    assert order is not None and order["id"] == order_id and "_links" in order
    assert woo.get_order(order_id + 1) is None


def test_customers_are_paged_by_id_and_counted(
    emulator: BackgroundWooCommerce, woo: WooCommerceREST
) -> None:
    made = emulator.control.create_customers([{"first_name": n} for n in "CBA"], webhooks=False)
    emulator.control.create_customer(role="subscriber", webhooks=False)
    first = woo.customers_page(per_page=2)
    assert [c["id"] for c in first.items] == [made[0]["id"], made[1]["id"]]
    assert first.next_page == 2
    last = woo.customers_page(page=2, per_page=2)
    assert ([c["id"] for c in last.items], last.next_page) == ([made[2]["id"]], None)
    assert (woo.count_customers(), woo.count_customers(role="all")) == (3, 4)


def test_one_request_at_a_time_per_shop(emulator: BackgroundWooCommerce) -> None:
    emulator.control.settings(latency_ms=50)
    clients = [client(emulator) for _ in range(3)]  # separate clients, one shop
    threads = [threading.Thread(target=c.count_orders) for c in clients for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = emulator.control.stats()
    assert (stats["requests"], stats["max_in_flight"]) == (6, 1)


def test_a_page_says_whether_another_follows() -> None:
    page = Page([], 2, 250, 3, True)
    assert page.next_page == 3 and Page([], 3, 250, 3, False).next_page is None
