"""The Shopify emulator over HTTP: auth, validation, cost and throttle, search and pages,
subscriptions, and signed deliveries with retries and deletion."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.emulators.serving import BackgroundServer
from bridge.emulators.shopify import App, BackgroundShopify
from bridge.intake.signatures import ShopifyVerifier

SECRET = "emulator-test-client-secret"
STATIC = "shpat_test-static-token"  # not a real token: the format only


class Receiver(BackgroundServer):
    """A webhook receiver that records every delivery and answers `status`."""

    name = "receiver"

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200

        async def hook(request: Request) -> Response:
            self.received.append((dict(request.headers), await request.body()))
            return Response(status_code=self.status)

        super().__init__(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
    return value


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[BackgroundShopify, Receiver]]:
    apps = [
        App("app-1", SECRET, static_token=STATIC, bucket_maximum=1000, restore_rate=50),
        App("app-2", "other-secret", scopes=("read_customers",)),
    ]
    with (
        BackgroundShopify("emu.myshopify.com", apps, time_scale=0.0001) as shop,
        Receiver() as receiver,
    ):
        yield shop, receiver


@pytest.fixture
def shop(servers: tuple[BackgroundShopify, Receiver]) -> BackgroundShopify:
    shop, receiver = servers
    shop.control("POST", "/reset")
    shop.state.delete_after_failures = 8
    receiver.received.clear()
    receiver.status = 200
    return shop


@pytest.fixture
def receiver(servers: tuple[BackgroundShopify, Receiver], shop: BackgroundShopify) -> Receiver:
    return servers[1]


def gql(
    shop: BackgroundShopify,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str = STATIC,
) -> httpx.Response:
    return httpx.post(
        shop.graphql_url(),
        json={"query": query, "variables": variables or {}},
        headers={"X-Shopify-Access-Token": token},
        timeout=10,
    )


def subscribe(
    shop: BackgroundShopify, uri: str, topic: str = "ORDERS_CREATE", token: str = STATIC
) -> dict[str, Any]:
    answer = gql(
        shop,
        "mutation($t: WebhookSubscriptionTopic!, $u: String!) { webhookSubscriptionCreate("
        "topic: $t, webhookSubscription: {uri: $u, format: JSON}) "
        "{ webhookSubscription { id topic uri } userErrors { field message } } }",
        {"t": topic, "u": uri},
        token,
    ).json()
    payload: dict[str, Any] = answer["data"]["webhookSubscriptionCreate"]
    return payload


# -- auth -----------------------------------------------------------------------------------


def test_client_credentials_give_a_token_that_expires(shop: BackgroundShopify) -> None:
    answer = httpx.post(
        f"{shop.url}/admin/oauth/access_token",
        data={
            "grant_type": "client_credentials",
            "client_id": "app-2",
            "client_secret": "other-secret",
        },
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["scope"] == "read_customers" and body["expires_in"] == 86399
    assert gql(shop, "{ shop { name } }", token=body["access_token"]).status_code == 200
    shop.control("POST", "/tokens/expire")
    refused = gql(shop, "{ shop { name } }", token=body["access_token"])
    assert refused.status_code == 401
    assert refused.json() == {
        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
    }


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "client_credentials", "client_id": "app-2", "client_secret": "wrong"},
        {
            "grant_type": "client_credentials",
            "client_id": "nobody",
            "client_secret": "other-secret",
        },
    ],
)
def test_a_bad_client_id_or_secret_is_invalid_client(
    shop: BackgroundShopify, form: dict[str, str]
) -> None:
    answer = httpx.post(f"{shop.url}/admin/oauth/access_token", data=form)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_client"


def test_unknown_api_versions_are_404_and_retired_ones_fall_forward(
    shop: BackgroundShopify,
) -> None:
    headers = {"X-Shopify-Access-Token": STATIC}
    query = {"query": "{ shop { name } }"}
    assert httpx.post(shop.graphql_url("2026-05"), json=query, headers=headers).status_code == 404
    old = httpx.post(shop.graphql_url("2023-01"), json=query, headers=headers)
    assert old.status_code == 200 and old.headers["x-shopify-api-version"] == "2025-10"


# -- validation and cost --------------------------------------------------------------------


def test_a_misspelled_field_is_refused_as_shopify_words_it(shop: BackgroundShopify) -> None:
    body = gql(shop, "{ customers(first: 1) { nodes { fist_name } } }").json()
    assert "data" not in body
    assert body["errors"][0]["message"] == "Field 'fist_name' doesn't exist on type 'Customer'"
    assert body["errors"][0]["extensions"]["code"] == "undefinedField"


def test_a_query_without_first_or_last_is_an_error(shop: BackgroundShopify) -> None:
    body = gql(shop, "{ orders { nodes { id } } }").json()
    assert body["errors"][0]["message"] == "you must provide one of first or last"


def test_cost_is_requested_by_first_and_refunded_to_what_was_returned(
    shop: BackgroundShopify,
) -> None:
    shop.control("POST", "/orders", json={"topics": []})
    body = gql(
        shop, "{ orders(first: 10) { edges { node { id customer { id } } } } shop { name } }"
    ).json()
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 10 * 2 + 1
    assert cost["actualQueryCost"] == 2 + 1 * 2 + 1
    assert cost["throttleStatus"]["maximumAvailable"] == 1000.0
    assert cost["throttleStatus"]["restoreRate"] == 50.0


def test_a_query_above_1000_points_is_max_cost_exceeded(shop: BackgroundShopify) -> None:
    body = gql(
        shop, "{ orders(first: 250) { nodes { lineItems(first: 250) { nodes { id } } } } }"
    ).json()
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert body["extensions"]["cost"]["requestedQueryCost"] > 1000
    assert "data" not in body


def test_the_bucket_throttles_what_it_cannot_afford(shop: BackgroundShopify) -> None:
    query = "{ customers(first: 240) { nodes { id defaultAddress { id } } } }"  # 722 points
    assert "errors" not in gql(shop, query).json()  # a full bucket affords it
    shop.state.buckets["app-1"].available = 100.0  # as after other queries
    second = gql(shop, query)
    assert second.status_code == 200
    body = second.json()
    assert body["errors"] == [
        {
            "message": "Throttled",
            "extensions": {
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits",
            },
        }
    ]
    assert body["extensions"]["cost"]["actualQueryCost"] is None
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] < 722
    assert shop.control("GET", "/cost")["apps"]["app-1"]["throttled"] >= 1


def test_a_missing_scope_is_access_denied(shop: BackgroundShopify) -> None:
    token = httpx.post(
        f"{shop.url}/admin/oauth/access_token",
        data={
            "grant_type": "client_credentials",
            "client_id": "app-2",
            "client_secret": "other-secret",
        },
    ).json()["access_token"]
    body = gql(shop, "{ orders(first: 1) { nodes { id } } }", token=token).json()
    assert body["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    assert body["data"] is None


# -- search and pagination ------------------------------------------------------------------


def test_orders_page_by_updated_at_with_a_filter_and_opaque_cursors(
    shop: BackgroundShopify,
) -> None:
    for day in range(1, 6):
        stamp = f"2026-11-0{day}T10:00:00+00:00"
        shop.control(
            "POST", "/orders", json={"created_at": stamp, "updated_at": stamp, "topics": []}
        )
    shop.state.shop.clock = lambda: 1_796_000_000.0  # 2026-11-30: all within 60 days
    query = (
        "query($after: String) { orders(first: 2, after: $after, sortKey: UPDATED_AT, "
        "query: \"updated_at:>='2026-11-02T00:00:00Z' updated_at:<'2026-11-05T00:00:00Z'\") "
        "{ nodes { updatedAt } pageInfo { hasNextPage endCursor } } }"
    )
    seen, after = [], None
    while True:
        page = gql(shop, query, {"after": after}).json()["data"]["orders"]
        seen += [node["updatedAt"] for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["2026-11-02T10:00:00Z", "2026-11-03T10:00:00Z", "2026-11-04T10:00:00Z"]


def test_orders_older_than_60_days_need_read_all_orders(shop: BackgroundShopify) -> None:
    shop.control("POST", "/orders", json={"created_at": "2020-01-01T00:00:00Z", "topics": []})
    shop.control("POST", "/orders", json={"topics": []})
    body = gql(shop, "{ ordersCount { count precision } }").json()
    assert body["data"]["ordersCount"] == {"count": 1, "precision": "EXACT"}


def test_an_unknown_search_field_is_ignored_with_a_warning(shop: BackgroundShopify) -> None:
    shop.control("POST", "/checkouts", json={"topics": []})
    body = gql(
        shop, '{ abandonedCheckouts(first: 5, query: "status:open colour:red") { nodes { id } } }'
    ).json()
    assert len(body["data"]["abandonedCheckouts"]["nodes"]) == 1
    assert body["extensions"]["search"][0]["warnings"] == [
        {"field": "colour", "message": "Invalid search field for this query."}
    ]


def test_the_webhook_and_the_graphql_node_describe_the_same_order(shop: BackgroundShopify) -> None:
    created = shop.control("POST", "/orders", json={"financial_status": "pending", "topics": []})[
        "order"
    ]
    node = gql(
        shop,
        "query($id: ID!) { order(id: $id) { legacyResourceId name displayFinancialStatus updatedAt "
        "totalPriceSet { shopMoney { amount currencyCode } } tags } }",
        {"id": created["admin_graphql_api_id"]},
    ).json()["data"]["order"]
    assert node["legacyResourceId"] == str(created["id"])
    assert node["name"] == created["name"]
    assert node["displayFinancialStatus"] == "PENDING"
    assert node["totalPriceSet"]["shopMoney"] == {
        "amount": created["total_price"],
        "currencyCode": "USD",
    }
    assert node["tags"] == [t.strip() for t in created["tags"].split(",")]


# -- subscriptions and delivery -------------------------------------------------------------


def test_subscriptions_are_per_app_with_real_user_errors(
    shop: BackgroundShopify, receiver: Receiver
) -> None:
    uri = f"{receiver.url}/hook"
    created = subscribe(shop, uri)
    assert created["userErrors"] == []
    assert created["webhookSubscription"]["id"].startswith("gid://shopify/WebhookSubscription/")
    assert subscribe(shop, uri)["userErrors"] == [
        {
            "field": ["webhookSubscription", "uri"],
            "message": "Address for this topic has already been taken",
        }
    ]
    assert (
        subscribe(shop, "ftp://example.com/x", "ORDERS_PAID")["userErrors"][0]["message"]
        == "Address is invalid"
    )
    token = httpx.post(
        f"{shop.url}/admin/oauth/access_token",
        data={
            "grant_type": "client_credentials",
            "client_id": "app-2",
            "client_secret": "other-secret",
        },
    ).json()["access_token"]
    listed = gql(shop, "{ webhookSubscriptions(first: 10) { nodes { id } } }", token=token).json()
    assert listed["data"]["webhookSubscriptions"]["nodes"] == []
    deleted = gql(
        shop,
        "mutation($id: ID!) { webhookSubscriptionDelete(id: $id) "
        "{ deletedWebhookSubscriptionId userErrors { message } } }",
        {"id": created["webhookSubscription"]["id"]},
        token,
    ).json()["data"]["webhookSubscriptionDelete"]
    assert deleted == {
        "deletedWebhookSubscriptionId": None,
        "userErrors": [{"message": "Webhook subscription does not exist"}],
    }


def test_a_change_is_delivered_signed_with_shopifys_headers(
    shop: BackgroundShopify, receiver: Receiver
) -> None:
    subscribe(shop, f"{receiver.url}/hook")
    order = shop.control("POST", "/orders", json={"financial_status": "pending"})["order"]
    headers, body = wait_until(lambda: receiver.received and receiver.received[0])
    ShopifyVerifier([SECRET.encode()]).verify(body, headers)
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert headers["x-shopify-hmac-sha256"] == expected
    assert headers["x-shopify-topic"] == "orders/create"
    assert headers["x-shopify-shop-domain"] == "emu.myshopify.com"
    assert headers["x-shopify-api-version"] == "2026-10"
    for name in ("x-shopify-webhook-id", "x-shopify-event-id", "x-shopify-triggered-at"):
        assert headers[name]
    assert f'"id":{order["id"]}'.encode() in body and b"gid:\\/\\/shopify\\/Order" in body


def test_failed_deliveries_are_retried_then_the_subscription_is_deleted(
    shop: BackgroundShopify, receiver: Receiver
) -> None:
    subscribe(shop, f"{receiver.url}/hook")
    receiver.status = 500
    shop.state.delete_after_failures = 3
    shop.control("POST", "/orders", json={"financial_status": "pending"})
    state = wait_until(lambda: shop.control("GET", "/subscriptions")["deleted"])
    assert state[0]["topic"] == "ORDERS_CREATE"
    assert len(receiver.received) == 3
    delivery = shop.control("GET", "/deliveries")["deliveries"][0]
    assert (
        delivery["state"] == "failed" and [a["status"] for a in delivery["attempts"]] == [500] * 3
    )


def test_a_failing_receiver_that_recovers_gets_the_same_delivery(
    shop: BackgroundShopify, receiver: Receiver
) -> None:
    subscribe(shop, f"{receiver.url}/hook")
    shop.control("POST", "/faults", json={"kind": "fail", "count": 2})
    shop.control("POST", "/orders", json={"financial_status": "pending"})
    delivery = wait_until(
        lambda: next(
            (
                d
                for d in shop.control("GET", "/deliveries")["deliveries"]
                if d["state"] == "delivered"
            ),
            None,
        )
    )
    assert [a["status"] for a in delivery["attempts"]] == [0, 0, 200]
    assert len(receiver.received) == 1
    assert shop.control("GET", "/subscriptions")["subscriptions"][0]["consecutive_failures"] == 0


def test_a_dropped_delivery_never_comes(shop: BackgroundShopify, receiver: Receiver) -> None:
    subscribe(shop, f"{receiver.url}/hook")
    shop.control("POST", "/faults", json={"kind": "drop", "topic": "orders/create"})
    shop.control("POST", "/orders", json={"financial_status": "pending"})
    shop.control("POST", "/orders", json={"financial_status": "pending"})
    wait_until(lambda: len(receiver.received) == 1)
    states = sorted(d["state"] for d in shop.control("GET", "/deliveries")["deliveries"])
    assert states == ["delivered", "dropped"]


def test_history_is_created_many_at_once_without_webhooks(shop: BackgroundShopify) -> None:
    made = shop.control(
        "POST", "/orders", json={"orders": [{"email": "a@example.com"}, {"email": "b@x.io"}]}
    )["orders"]
    assert [o["email"] for o in made] == ["a@example.com", "b@x.io"]
    people = shop.control("POST", "/customers", json={"customers": [{"first_name": "Ann"}]})
    assert people["customers"][0]["first_name"] == "Ann"
    assert shop.control("GET", "/deliveries")["deliveries"] == []
    assert len(shop.control("GET", "/orders")["orders"]) == 2
