"""The Shopify Admin API client against the real emulator over HTTP: tokens, pacing on the
cost bucket, THROTTLED, and clear errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from bridge.config import parse_config
from bridge.emulators.shopify import App, BackgroundShopify
from bridge.errors import (
    PlatformAuthError,
    PlatformThrottled,
    ShopifyGraphQLError,
    ShopifyUserErrors,
)
from bridge.platforms.http import Backoff, PlatformHTTP
from bridge.platforms.shopify_admin import ShopifyAdmin, graphql_topic
from bridge.platforms.shopify_auth import ClientCredentials
from bridge.platforms.shopify_budget import Budget

SECRET = "client-test-secret-value"


@pytest.fixture(scope="module")
def emulator() -> Iterator[BackgroundShopify]:
    apps = [
        App(
            "cc-app",
            SECRET,
            scopes=("read_orders", "read_customers"),
            bucket_maximum=1000,
            restore_rate=1000,
        ),
        App("legacy", "legacy-secret", static_token="shpat_legacy_token_for_tests"),
    ]
    with BackgroundShopify("client.myshopify.com", apps, time_scale=0.0001) as shop:
        yield shop


@pytest.fixture(scope="module")
def pool() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def shop(emulator: BackgroundShopify, pool: httpx.Client) -> BackgroundShopify:
    emulator.control("POST", "/reset")
    emulator.pool = pool  # type: ignore[attr-defined]
    return emulator


def admin(
    shop: BackgroundShopify, *, sleeps: list[float] | None = None, **options: object
) -> ShopifyAdmin:
    http = PlatformHTTP(shop.url, client=shop.pool, backoff=Backoff(attempts=1))
    credentials = ClientCredentials(http, "cc-app", SECRET)
    return ShopifyAdmin(
        http,
        credentials,
        budget=Budget(),
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
        **options,  # type: ignore[arg-type]
    )


def test_a_token_is_exchanged_once_and_again_after_a_401(shop: BackgroundShopify) -> None:
    client = admin(shop)
    assert client.shop()["myshopifyDomain"] == "client.myshopify.com"
    client.shop()
    assert client.credentials.exchanges == 1  # type: ignore[union-attr]
    shop.control("POST", "/tokens/expire")
    assert client.shop()["name"]
    assert client.credentials.exchanges == 2  # type: ignore[union-attr]


def test_a_token_is_refreshed_before_it_expires(shop: BackgroundShopify) -> None:
    now = [1000.0]
    http = PlatformHTTP(shop.url, client=shop.pool)
    credentials = ClientCredentials(http, "cc-app", SECRET, clock=lambda: now[0])
    first = credentials.token()
    now[0] += 86399 - 200  # inside the 5-minute margin
    assert credentials.token() != first
    assert credentials.exchanges == 2


def test_wrong_client_credentials_raise_an_auth_error_without_the_secret(
    shop: BackgroundShopify,
) -> None:
    http = PlatformHTTP(shop.url, client=shop.pool)
    with pytest.raises(PlatformAuthError, match="invalid_client") as raised:
        ClientCredentials(http, "cc-app", "not-the-secret").token()
    assert "not-the-secret" not in str(raised.value)


def test_a_store_with_a_static_token_uses_it(shop: BackgroundShopify) -> None:
    config = parse_config(
        f"""
[stores.legacy]
platform = "shopify"
kanal_store_id = 1
kanal_api_key = "k"
webhook_secrets = ["legacy-secret"]
admin_api_token = "shpat_legacy_token_for_tests"
admin_api_url = "{shop.url}"
""",
        {},
    )
    client = ShopifyAdmin.for_store(config.stores["legacy"])
    assert client.api_version == "2026-04"
    assert client.shop()["myshopifyDomain"] == "client.myshopify.com"


def test_the_client_never_sends_a_query_the_bucket_cannot_afford(shop: BackgroundShopify) -> None:
    sleeps: list[float] = []
    client = admin(shop, sleeps=sleeps)
    for _ in range(3):
        client.count("orders")  # learns the bucket (1000 points, 1000/s) and the query's cost
    client.budget.available = 0.0  # as if another caller just emptied it
    client.count("orders")
    assert sleeps and 0 < sleeps[-1] <= 0.01
    assert shop.control("GET", "/cost")["apps"]["cc-app"]["throttled"] == 0


def test_a_throttled_answer_is_waited_out_and_sent_again(shop: BackgroundShopify) -> None:
    sleeps: list[float] = []
    client = admin(shop)
    client._sleep = lambda seconds: (sleeps.append(seconds), time.sleep(seconds))[0]
    client.count("orders")
    shop.state.buckets["cc-app"].available = 0.0  # spent by another process the client cannot see
    shop.state.buckets["cc-app"].restore_rate = 10.0
    try:
        assert client.count("orders") == (0, True)
    finally:
        shop.state.buckets["cc-app"].restore_rate = 1000.0
    assert shop.control("GET", "/cost")["apps"]["cc-app"]["throttled"] == 1
    assert sleeps and sleeps[-1] > 0


def test_a_wait_beyond_max_wait_raises_with_the_wait(shop: BackgroundShopify) -> None:
    client = admin(shop, max_wait=0.0, share=0.25)
    client.count("orders")
    client.budget.available = 0.0  # another caller emptied it: a quarter share must wait
    client.budget._at = time.monotonic()
    with pytest.raises(PlatformThrottled) as raised:
        client.count("orders")
    assert raised.value.wait > 0


def test_subscriptions_round_trip_and_user_errors_are_named(shop: BackgroundShopify) -> None:
    client = admin(shop)
    made = client.create_webhook_subscription(
        "orders/create", "https://bridge.example/webhooks/shopify/s"
    )
    assert made.topic == "ORDERS_CREATE" and made.id.startswith(
        "gid://shopify/WebhookSubscription/"
    )
    with pytest.raises(
        ShopifyUserErrors,
        match=r"webhookSubscriptionCreate \(ORDERS_CREATE\): "
        r"webhookSubscription.uri: Address for this topic has already been taken",
    ):
        client.create_webhook_subscription(
            "orders/create", "https://bridge.example/webhooks/shopify/s"
        )
    with pytest.raises(ShopifyUserErrors, match="Address is invalid"):
        client.create_webhook_subscription("orders/paid", "not a url")
    moved = client.update_webhook_subscription(
        made.id, uri="https://bridge.example/webhooks/shopify/t"
    )
    assert moved.uri.endswith("/t")
    assert [s.id for s in client.webhook_subscriptions()] == [made.id]
    assert client.delete_webhook_subscription(made.id) == made.id
    with pytest.raises(ShopifyUserErrors, match="Webhook subscription does not exist"):
        client.delete_webhook_subscription(made.id)
    with pytest.raises(ShopifyUserErrors, match="read_fulfillments"):
        client.create_webhook_subscription("fulfillments/create", "https://bridge.example/x")


def test_graphql_errors_name_the_query_and_the_code(shop: BackgroundShopify) -> None:
    client = admin(shop)
    with pytest.raises(
        ShopifyGraphQLError, match=r"Shopify broken: Field 'nam' doesn't exist .*undefinedField"
    ) as raised:
        client.query("{ shop { nam } }", name="broken")
    assert raised.value.codes == ("undefinedField",)


def test_pages_resume_from_the_cursor_and_counts_match(shop: BackgroundShopify) -> None:
    for _ in range(3):
        shop.control("POST", "/orders", json={"topics": []})
    client = admin(shop, max_wait=5)
    since = datetime(2020, 1, 1, tzinfo=UTC)
    assert client.count("orders", updated_since=since) == (3, True)
    first = client.page("orders", updated_since=since, first=2)
    assert len(first.nodes) == 2 and first.has_next
    rest = client.page("orders", updated_since=since, first=2, after=first.end_cursor)
    assert len(rest.nodes) == 1 and not rest.has_next
    ids = {n["legacyResourceId"] for n in first.nodes + rest.nodes}
    assert len(ids) == 3
    assert first.nodes[0]["customer"]["defaultPhoneNumber"]["phoneNumber"]
    assert client.page("checkouts", extra=("status:open",)).nodes == []
    assert client.page("customers", updated_since=since).nodes


def test_graphql_topic_names() -> None:
    assert graphql_topic("orders/partially_fulfilled") == "ORDERS_PARTIALLY_FULFILLED"
    assert graphql_topic("customer.tags_added") == "CUSTOMER_TAGS_ADDED"
