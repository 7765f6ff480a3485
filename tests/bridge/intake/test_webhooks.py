"""Every answer of the webhook endpoints, with a fake record store (no Redis)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bridge.config import BridgeConfig, parse_config
from bridge.errors import StorageUnavailable
from bridge.intake.signatures import ShopifyVerifier, WooCommerceVerifier
from bridge.intake.webhooks import Mapper, Webhooks
from mappers import Action, Delete, Ignored, Patch, StoreContext, Upsert, map_webhook

FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures"

SHOPIFY_SECRET = b"test-current-secret-8f7e6d5c4b3a2910"
SHOPIFY_OLD_SECRET = b"test-previous-secret-0a1b2c3d4e5f"
WC_SECRET = b"wcsecret9Xk2Lm7Qp4Rt8Vz1"

CONFIG = f"""
[stores.main-shop]
platform = "shopify"
kanal_store_id = 1
kanal_api_key = "kanal-key-1"
webhook_secrets = ["{SHOPIFY_SECRET.decode()}", "{SHOPIFY_OLD_SECRET.decode()}"]
shop_domain = "main-shop.myshopify.com"

[stores.any-shop]
platform = "shopify"
kanal_store_id = 2
kanal_api_key = "kanal-key-2"
webhook_secrets = ["{SHOPIFY_SECRET.decode()}"]

[stores.woo]
platform = "woocommerce"
kanal_store_id = 3
kanal_api_key = "kanal-key-3"
webhook_secrets = ["{WC_SECRET.decode()}"]
"""


def wire(path: str, phone: bytes) -> bytes:
    """A fixture as the platform puts it on the wire: `/` escaped as `\\/` (Shopify and PHP
    both do), and its fictional phone number swapped for one that parses."""
    raw = (FIXTURES / path).read_bytes()
    assert phone in raw
    return raw.replace(phone, b"+33 6 12 34 56 78").replace(b"/", b"\\/")


# Shopify's sample order names its shop in its order status link: here, the test store's.
SHOPIFY_ORDER = wire(
    "shopify/docs-sample-orders-create-customer-phone-on-addresses-only.json", b"555-555-SHIP"
).replace(b"jsmith.myshopify.com", b"main-shop.myshopify.com")
WC_ORDER = wire("woocommerce/docs-v3-retrieve-order-guest-processing-usd.json", b"(555) 555-5555")

# The sample order was last updated at this moment; the endpoints' clock is an hour later.
UPDATED_AT = datetime.fromisoformat("2021-12-31T19:00:00-05:00").timestamp()
NOW = UPDATED_AT + 3600
HOUR = 3600.0


class FakeRecords:
    def __init__(self, outcome: str = "accepted", error: Exception | None = None) -> None:
        self.outcome = outcome
        self.error = error
        self.calls: list[tuple[str, list[Action], str | None]] = []

    async def accept(self, store: str, actions: Sequence[Action], delivery_id: str | None) -> str:
        self.calls.append((store, list(actions), delivery_id))
        if self.error is not None:
            raise self.error
        return self.outcome


class SpyMapper:
    def __init__(self, mapper: Mapper = map_webhook) -> None:
        self.mapper = mapper
        self.calls: list[tuple[str, str]] = []

    def __call__(
        self, platform: str, topic: str, payload: object, ctx: StoreContext
    ) -> list[Action]:
        self.calls.append((platform, topic))
        return self.mapper(platform, topic, payload, ctx)


pytestmark = pytest.mark.anyio


@pytest.fixture
def config() -> BridgeConfig:
    return parse_config(CONFIG, {})


@pytest.fixture
def records() -> FakeRecords:
    return FakeRecords()


@pytest.fixture
def mapper() -> SpyMapper:
    return SpyMapper()


@pytest.fixture
async def client(
    config: BridgeConfig, records: FakeRecords, mapper: SpyMapper
) -> AsyncIterator[httpx.AsyncClient]:
    async with connect(webhooks(config, records, mapper)) as client:
        yield client


def webhooks(config: BridgeConfig | None, records: FakeRecords | None, mapper: Mapper) -> Webhooks:
    return Webhooks(config, records, mapper, clock=lambda: NOW)


def connect(webhooks: Webhooks) -> httpx.AsyncClient:
    app = Starlette(routes=webhooks.routes())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://bridge")


def shopify_headers(
    body: bytes,
    secret: bytes = SHOPIFY_SECRET,
    topic: str = "orders/create",
    domain: str = "main-shop.myshopify.com",
    webhook_id: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": ShopifyVerifier.sign(body, secret),
        "X-Shopify-Shop-Domain": domain,
        "X-Shopify-API-Version": "2026-04",
        "X-Shopify-Webhook-Id": webhook_id,
    }


def wc_headers(
    body: bytes, secret: bytes = WC_SECRET, topic: str = "order.updated"
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.8.1 Hookshot (WordPress/6.8)",
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": topic.split(".")[1],
        "X-WC-Webhook-Signature": WooCommerceVerifier.sign(body, secret),
        "X-WC-Webhook-ID": "31",
        "X-WC-Webhook-Delivery-ID": "a3f9c6d2e1b04f5a8c7d6e5f4a3b2c1d",
    }


async def post_shopify(
    client: httpx.AsyncClient,
    body: bytes,
    store: str = "main-shop",
    secret: bytes = SHOPIFY_SECRET,
    topic: str = "orders/create",
    domain: str = "main-shop.myshopify.com",
) -> httpx.Response:
    headers = shopify_headers(body, secret=secret, topic=topic, domain=domain)
    return await client.post(f"/webhooks/shopify/{store}", content=body, headers=headers)


# 200 accepted / duplicate / ignored


async def test_signed_shopify_order_is_accepted(
    client: httpx.AsyncClient, records: FakeRecords
) -> None:
    assert b"gid:\\/\\/shopify\\/Order\\/" in SHOPIFY_ORDER
    response = await post_shopify(client, SHOPIFY_ORDER)
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    [(store, actions, delivery_id)] = records.calls
    assert store == "main-shop"
    assert delivery_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    [upsert] = actions
    assert isinstance(upsert, Upsert)
    assert upsert.external_id == "820982911946154508"
    assert upsert.body["customer"]["phone"] == "+33612345678"


async def test_old_secret_is_accepted_during_rotation(
    client: httpx.AsyncClient, records: FakeRecords
) -> None:
    response = await post_shopify(client, SHOPIFY_ORDER, secret=SHOPIFY_OLD_SECRET)
    assert response.json() == {"status": "accepted"}
    assert len(records.calls) == 1


async def test_signed_woocommerce_order_is_accepted_without_delivery_id(
    client: httpx.AsyncClient, records: FakeRecords
) -> None:
    response = await client.post(
        "/webhooks/woocommerce/woo", content=WC_ORDER, headers=wc_headers(WC_ORDER)
    )
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    [(store, actions, delivery_id)] = records.calls
    assert (store, delivery_id) == ("woo", None)
    assert [action.external_id for action in actions if isinstance(action, Upsert)] == ["727"]


@pytest.mark.parametrize(
    ("outcome", "answer"),
    [
        ("duplicate", {"status": "duplicate"}),
        ("stale", {"status": "ignored", "reason": "stale_version"}),
        ("unknown_record", {"status": "ignored", "reason": "unknown_record"}),
        ("finished", {"status": "ignored", "reason": "finished"}),
        ("noted", {"status": "accepted"}),
        ("accepted", {"status": "accepted"}),
    ],
)
async def test_record_store_outcome_is_answered(
    client: httpx.AsyncClient, records: FakeRecords, outcome: str, answer: dict[str, str]
) -> None:
    records.outcome = outcome
    response = await post_shopify(client, SHOPIFY_ORDER)
    assert response.status_code == 200
    assert response.json() == answer


async def test_unsupported_topic_is_ignored(
    client: httpx.AsyncClient, records: FakeRecords
) -> None:
    response = await post_shopify(client, SHOPIFY_ORDER, topic="products/update")
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "reason": "unsupported_topic"}
    assert records.calls == []


async def test_missing_topic_is_ignored(client: httpx.AsyncClient, records: FakeRecords) -> None:
    headers = wc_headers(WC_ORDER)
    del headers["X-WC-Webhook-Topic"]
    response = await client.post("/webhooks/woocommerce/woo", content=WC_ORDER, headers=headers)
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert records.calls == []


async def test_first_ignored_reason_is_answered(config: BridgeConfig, records: FakeRecords) -> None:
    def no_phone(platform: str, topic: str, payload: object, ctx: StoreContext) -> list[Action]:
        return [Ignored("no_phone"), Ignored("test_order")]

    async with connect(webhooks(config, records, no_phone)) as client:
        response = await post_shopify(client, SHOPIFY_ORDER)
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "reason": "no_phone"}
    assert records.calls == []


async def test_ignored_actions_next_to_real_ones_are_stored(
    config: BridgeConfig, records: FakeRecords
) -> None:
    def mixed(platform: str, topic: str, payload: object, ctx: StoreContext) -> list[Action]:
        return [Ignored("no_phone"), Upsert("orders", "1", int(NOW * 1e6), {})]

    async with connect(webhooks(config, records, mixed)) as client:
        response = await post_shopify(client, SHOPIFY_ORDER)
    assert response.json() == {"status": "accepted"}
    assert len(records.calls) == 1


@pytest.mark.parametrize(
    ("outcome", "answer"),
    [
        # An order without a phone that completes its checkout: the completion is only noted
        # (the checkout was never sent), so the answer says why the order is not sent.
        ("noted", {"status": "ignored", "reason": "no_phone"}),
        ("finished", {"status": "ignored", "reason": "no_phone"}),
        ("duplicate", {"status": "ignored", "reason": "no_phone"}),
        # The checkout was pending: it is changed, so the delivery is accepted.
        ("accepted", {"status": "accepted"}),
    ],
)
async def test_an_ignored_order_beside_a_noted_side_effect_answers_the_orders_reason(
    config: BridgeConfig, records: FakeRecords, outcome: str, answer: dict[str, str]
) -> None:
    def order_without_phone(
        platform: str, topic: str, payload: object, ctx: StoreContext
    ) -> list[Action]:
        return [Ignored("no_phone"), Patch("checkouts", "tok", 0, {"status": "recovered"})]

    records.outcome = outcome
    async with connect(Webhooks(config, records, order_without_phone)) as client:
        response = await post_shopify(client, SHOPIFY_ORDER)
    assert (response.status_code, response.json()) == (200, answer)
    [(_, actions, _)] = records.calls
    assert [type(action).__name__ for action in actions] == ["Ignored", "Patch"]


@pytest.mark.parametrize("ping", [b"webhook_id=1", b"webhook_id=31"])
async def test_woocommerce_ping_gets_exactly_200(
    client: httpx.AsyncClient, records: FakeRecords, mapper: SpyMapper, ping: bytes
) -> None:
    response = await client.post(
        "/webhooks/woocommerce/woo",
        content=ping,
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
            "User-Agent": "WooCommerce/9.8.1 Hookshot (WordPress/6.8)",
        },
    )
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "reason": "ping"}
    assert records.calls == []
    assert mapper.calls == []


@pytest.mark.parametrize("body", [b"webhook_id=", b"webhook_id=1&x=2", b"webhook_id=1\n", b"{}"])
async def test_unsigned_non_ping_is_401(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post("/webhooks/woocommerce/woo", content=body)
    assert response.status_code == 401


async def test_ping_shaped_body_on_shopify_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/webhooks/shopify/any-shop", content=b"webhook_id=1")
    assert response.status_code == 401


# 401


async def test_missing_signature_is_401_and_nothing_is_stored(
    client: httpx.AsyncClient, records: FakeRecords, mapper: SpyMapper
) -> None:
    headers = shopify_headers(SHOPIFY_ORDER)
    del headers["X-Shopify-Hmac-Sha256"]
    response = await client.post(
        "/webhooks/shopify/main-shop", content=SHOPIFY_ORDER, headers=headers
    )
    assert response.status_code == 401
    assert response.json() == {"error": "invalid signature"}
    assert records.calls == []
    assert mapper.calls == []


async def test_wrong_secret_is_401_and_nothing_is_stored(
    client: httpx.AsyncClient, records: FakeRecords, mapper: SpyMapper
) -> None:
    response = await client.post(
        "/webhooks/woocommerce/woo", content=WC_ORDER, headers=wc_headers(WC_ORDER, secret=b"guess")
    )
    assert response.status_code == 401
    assert response.json() == {"error": "invalid signature"}
    assert records.calls == []
    assert mapper.calls == []


async def test_signature_of_other_bytes_is_401(
    client: httpx.AsyncClient, records: FakeRecords
) -> None:
    headers = shopify_headers(SHOPIFY_ORDER)
    tampered = SHOPIFY_ORDER.replace(b'"total_price": "359.97"', b'"total_price": "0.01"')
    assert tampered != SHOPIFY_ORDER
    response = await client.post("/webhooks/shopify/main-shop", content=tampered, headers=headers)
    assert response.status_code == 401
    assert records.calls == []


async def test_garbage_signature_is_401(client: httpx.AsyncClient) -> None:
    headers = wc_headers(WC_ORDER)
    headers["X-WC-Webhook-Signature"] = "%%% not base64 %%%"
    response = await client.post("/webhooks/woocommerce/woo", content=WC_ORDER, headers=headers)
    assert response.status_code == 401


async def test_other_shop_domain_is_401(client: httpx.AsyncClient, records: FakeRecords) -> None:
    response = await post_shopify(client, SHOPIFY_ORDER, domain="other-shop.myshopify.com")
    assert response.status_code == 401
    assert response.json() == {"error": "shop domain does not match"}
    assert records.calls == []


async def test_missing_shop_domain_is_401_when_configured(
    client: httpx.AsyncClient, records: FakeRecords
) -> None:
    headers = shopify_headers(SHOPIFY_ORDER)
    del headers["X-Shopify-Shop-Domain"]
    response = await client.post(
        "/webhooks/shopify/main-shop", content=SHOPIFY_ORDER, headers=headers
    )
    assert response.status_code == 401
    assert records.calls == []


async def test_shop_domain_compares_case_insensitively(client: httpx.AsyncClient) -> None:
    response = await post_shopify(client, SHOPIFY_ORDER, domain="Main-Shop.myshopify.com")
    assert response.json() == {"status": "accepted"}


CUSTOM_DOMAIN_ORDER = SHOPIFY_ORDER.replace(b"main-shop.myshopify.com", b"shop.example.com")


async def test_any_shop_domain_when_none_configured(client: httpx.AsyncClient) -> None:
    response = await post_shopify(
        client, CUSTOM_DOMAIN_ORDER, store="any-shop", domain="whatever.myshopify.com"
    )
    assert response.json() == {"status": "accepted"}


# The body is signed, the X-Shopify-Shop-Domain header is not: where a body names its shop,
# that is what counts (two stores may share a secret: one app installed on several shops).


async def test_an_order_naming_another_shop_is_401(
    client: httpx.AsyncClient, records: FakeRecords
) -> None:
    other = SHOPIFY_ORDER.replace(b"main-shop.myshopify.com", b"shop-a.myshopify.com")
    response = await post_shopify(client, other, domain="main-shop.myshopify.com")
    assert response.status_code == 401
    assert response.json() == {"error": "shop domain does not match"}
    assert records.calls == []


async def test_without_a_configured_domain_the_body_must_agree_with_the_header(
    client: httpx.AsyncClient, records: FakeRecords
) -> None:
    response = await post_shopify(
        client, SHOPIFY_ORDER, store="any-shop", domain="shop-c.myshopify.com"
    )
    assert response.status_code == 401
    assert records.calls == []


async def test_an_erasure_for_another_shop_is_401(
    client: httpx.AsyncClient, records: FakeRecords
) -> None:
    redact = json.loads(
        (FIXTURES / "shopify/gadget-metadata-2026-04-customers-redact.json").read_text()
    )
    body = json.dumps({**redact["response"], "shop_domain": "shop-a.myshopify.com"}).encode()
    response = await post_shopify(client, body, topic="customers/redact")
    assert response.status_code == 401
    mine = json.dumps({**redact["response"], "shop_domain": "main-shop.myshopify.com"}).encode()
    response = await post_shopify(client, mine, topic="customers/redact")
    assert response.json() == {"status": "accepted"}
    [(_, [delete], _)] = records.calls
    assert isinstance(delete, Delete)


async def test_a_custom_domain_in_the_body_says_nothing_about_the_shop(
    client: httpx.AsyncClient,
) -> None:
    response = await post_shopify(client, CUSTOM_DOMAIN_ORDER)
    assert response.json() == {"status": "accepted"}


# A topic header is a claim too: a body must have the shape of its topic.


async def test_an_order_re_sent_as_an_erasure_is_ignored(
    client: httpx.AsyncClient, records: FakeRecords
) -> None:
    response = await post_shopify(client, SHOPIFY_ORDER, topic="customers/redact")
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "reason": "not_a_redact_request"}
    assert records.calls == []


@pytest.mark.parametrize("topic", ["order.deleted", "customer.deleted", "customer.updated"])
async def test_a_woocommerce_order_re_sent_under_another_topic_is_ignored(
    client: httpx.AsyncClient, records: FakeRecords, topic: str
) -> None:
    response = await client.post(
        "/webhooks/woocommerce/woo", content=WC_ORDER, headers=wc_headers(WC_ORDER, topic=topic)
    )
    assert response.status_code == 200
    assert response.json()["reason"] in ("not_a_deletion", "not_a_customer")
    assert records.calls == []


# Old deliveries (freshness.py): Shopify's retry window plus a margin.


def triggered(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def post_at(
    client: httpx.AsyncClient, body: bytes, triggered_at: float | None
) -> httpx.Response:
    headers = shopify_headers(body)
    if triggered_at is not None:
        headers["X-Shopify-Triggered-At"] = triggered(triggered_at)
    return await client.post("/webhooks/shopify/main-shop", content=body, headers=headers)


async def test_a_delivery_triggered_too_long_ago_is_not_applied(
    config: BridgeConfig, records: FakeRecords, mapper: SpyMapper
) -> None:
    later = Webhooks(config, records, mapper, clock=lambda: UPDATED_AT + 47 * HOUR)
    async with connect(later) as client:
        response = await post_at(client, SHOPIFY_ORDER, triggered_at=UPDATED_AT)
        assert response.json() == {"status": "accepted"}  # late, but Shopify could send it
    too_late = Webhooks(config, records, mapper, clock=lambda: UPDATED_AT + 49 * HOUR)
    async with connect(too_late) as client:
        response = await post_at(client, SHOPIFY_ORDER, triggered_at=UPDATED_AT)
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "reason": "too_old"}
    assert len(records.calls) == 1


async def test_an_old_body_with_a_fresh_header_is_not_applied(
    config: BridgeConfig, records: FakeRecords, mapper: SpyMapper
) -> None:
    now = UPDATED_AT + 30 * 24 * HOUR  # a body captured a month ago, replayed today
    async with connect(Webhooks(config, records, mapper, clock=lambda: now)) as client:
        response = await post_at(client, SHOPIFY_ORDER, triggered_at=now)
    assert response.json() == {"status": "ignored", "reason": "too_old"}
    assert records.calls == []


async def test_a_fresh_header_on_a_fresh_body_is_accepted(client: httpx.AsyncClient) -> None:
    response = await post_at(client, SHOPIFY_ORDER, triggered_at=NOW - 60)
    assert response.json() == {"status": "accepted"}


@pytest.mark.parametrize("value", ["yesterday", "", "2021-12-31T19:00:00", "9" * 50])
async def test_an_unreadable_trigger_time_is_not_a_reason_to_refuse(
    client: httpx.AsyncClient, value: str
) -> None:
    headers = {**shopify_headers(SHOPIFY_ORDER), "X-Shopify-Triggered-At": value}
    response = await client.post(
        "/webhooks/shopify/main-shop", content=SHOPIFY_ORDER, headers=headers
    )
    assert response.json() == {"status": "accepted"}


async def test_woocommerce_bodies_are_not_judged_by_their_age(
    config: BridgeConfig, records: FakeRecords, mapper: SpyMapper
) -> None:
    far = UPDATED_AT + 3650 * 24 * HOUR
    async with connect(Webhooks(config, records, mapper, clock=lambda: far)) as client:
        response = await client.post(
            "/webhooks/woocommerce/woo", content=WC_ORDER, headers=wc_headers(WC_ORDER)
        )
    assert response.json() == {"status": "accepted"}


# An unsigned caller cannot tell an unknown store from a known one (nor its platform).


async def test_unknown_store_is_answered_as_a_bad_signature(
    client: httpx.AsyncClient, records: FakeRecords
) -> None:
    unknown = await post_shopify(client, SHOPIFY_ORDER, store="no-such-shop")
    known = await post_shopify(client, SHOPIFY_ORDER, store="main-shop", secret=b"guess")
    assert (unknown.status_code, unknown.json()) == (known.status_code, known.json())
    assert unknown.status_code == 401
    assert records.calls == []


async def test_platform_not_the_stores_is_answered_as_a_bad_signature(
    client: httpx.AsyncClient, records: FakeRecords
) -> None:
    response = await client.post(
        "/webhooks/shopify/woo", content=WC_ORDER, headers=wc_headers(WC_ORDER)
    )
    assert (response.status_code, response.json()) == (401, {"error": "invalid signature"})
    response = await post_shopify(client, SHOPIFY_ORDER, store="woo")
    assert response.status_code == 401
    assert records.calls == []


async def test_a_ping_to_a_mistyped_url_fails_where_the_merchant_sees_it(
    client: httpx.AsyncClient,
) -> None:
    ping = b"webhook_id=1"
    assert (await client.post("/webhooks/woocommerce/woo", content=ping)).status_code == 200
    for store in ("no-such-shop", "main-shop"):
        response = await client.post(f"/webhooks/woocommerce/{store}", content=ping)
        assert (response.status_code, response.json()) == (401, {"error": "invalid signature"})


async def test_an_unknown_store_is_still_logged_as_one(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bridge.intake.webhooks"):
        await post_shopify(client, SHOPIFY_ORDER, store="no-such-shop")
        await post_shopify(client, SHOPIFY_ORDER, store="woo")
    labels = [r.__dict__["answer"] for r in caplog.records if r.name == "bridge.intake.webhooks"]
    assert labels == ["unknown_store", "wrong_platform"]


# 404


async def test_unknown_platform_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/webhooks/magento/main-shop", content=b"{}")
    assert response.status_code == 404


# 400


@pytest.mark.parametrize(
    "body", [b"[1,2]", b'"x"', b"42", b"null", b"{bad json", b"", b"\xff\xfe{}"]
)
async def test_signed_non_object_is_400(
    client: httpx.AsyncClient, records: FakeRecords, mapper: SpyMapper, body: bytes
) -> None:
    response = await post_shopify(client, body)
    assert response.status_code == 400
    assert response.json() == {"error": "body is not a JSON object"}
    assert records.calls == []
    assert mapper.calls == []


async def test_signed_non_object_woocommerce_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/webhooks/woocommerce/woo", content=b"[1,2]", headers=wc_headers(b"[1,2]")
    )
    assert response.status_code == 400


# 503 / 500


async def test_storage_unavailable_is_503(config: BridgeConfig, mapper: SpyMapper) -> None:
    records = FakeRecords(error=StorageUnavailable("Redis: ConnectionError"))
    async with connect(webhooks(config, records, mapper)) as client:
        response = await post_shopify(client, SHOPIFY_ORDER)
    assert response.status_code == 503
    assert response.json() == {"error": "storage unavailable, retry later"}
    assert len(records.calls) == 1


async def test_no_record_store_yet_is_503(config: BridgeConfig) -> None:
    async with connect(webhooks(config, None, map_webhook)) as client:
        response = await post_shopify(client, SHOPIFY_ORDER)
    assert response.status_code == 503


async def test_no_configuration_is_503(records: FakeRecords) -> None:
    async with connect(Webhooks(None, records)) as client:
        response = await post_shopify(client, SHOPIFY_ORDER)
    assert response.status_code == 503
    assert response.json() == {"error": "configuration not loaded"}


async def test_mapper_crash_is_500_not_200(config: BridgeConfig, records: FakeRecords) -> None:
    def broken(platform: str, topic: str, payload: object, ctx: StoreContext) -> list[Action]:
        raise RuntimeError("bug")

    async with connect(webhooks(config, records, broken)) as client:
        response = await post_shopify(client, SHOPIFY_ORDER)
    assert response.status_code == 500
    assert records.calls == []


async def test_unexpected_outcome_is_500(client: httpx.AsyncClient, records: FakeRecords) -> None:
    records.outcome = "surprise"
    response = await post_shopify(client, SHOPIFY_ORDER)
    assert response.status_code == 500


# the log record


async def test_one_log_record_per_webhook(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bridge.intake.webhooks"):
        await post_shopify(client, SHOPIFY_ORDER)
    [record] = [r for r in caplog.records if r.name == "bridge.intake.webhooks"]
    fields: dict[str, Any] = record.__dict__
    assert fields["store"] == "main-shop"
    assert fields["platform"] == "shopify"
    assert fields["topic"] == "orders/create"
    assert fields["delivery_id"] == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert fields["answer"] == "accepted"
    assert fields["status_code"] == 200
    assert fields["duration_ms"] >= 0
    assert record.levelno == logging.INFO


async def test_rejection_is_logged_with_why_but_not_the_secret(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bridge.intake.webhooks"):
        await post_shopify(client, SHOPIFY_ORDER, secret=b"wrong")
    [record] = [r for r in caplog.records if r.name == "bridge.intake.webhooks"]
    assert record.__dict__["answer"] == "invalid_signature"
    assert record.__dict__["reason"] == "no secret matches"
    assert record.levelno == logging.WARNING
    assert SHOPIFY_SECRET.decode() not in caplog.text
