"""Orders end to end: the real web and worker processes, a real Redis, the Kanal emulator."""

from __future__ import annotations

import re
import subprocess
from decimal import Decimal

import pytest
from harness import (
    BIN,
    Bridge,
    Emulator,
    shopify_bytes,
    shopify_order,
    sign,
    wait_until,
    woo_order,
)

pytestmark = pytest.mark.e2e

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def kanal_orders(emulator: Emulator, store_id: int) -> dict[str, dict]:
    return {key: record["body"] for key, record in emulator.records(store_id).items()}


def test_a_signed_shopify_order_reaches_kanal(bridge: Bridge, emulator: Emulator) -> None:
    order = shopify_order(820982911946154508, 1, financial="paid")
    answer = bridge.shopify(order, topic="orders/create")
    assert answer.status_code == 200
    assert answer.json() == {"status": "accepted"}

    held = wait_until(lambda: kanal_orders(emulator, 7).get("820982911946154508"), 15)
    assert held["external_id"] == "820982911946154508"
    assert Decimal(str(held["total_price"])) == Decimal(order["total_price"])
    assert held["currency"] == order["currency"]
    assert held["financial_status"] == "paid"
    assert held["customer"]["phone"] == "+16135550135"
    assert ISO_WITH_OFFSET.match(held["placed_at"])
    [call] = emulator.requests(7)
    assert call["method"] == "POST" and call["status"] in (200, 201)


def test_a_signed_woocommerce_order_reaches_kanal(bridge: Bridge, emulator: Emulator) -> None:
    answer = bridge.woocommerce(woo_order(727, 1, status="processing"), topic="order.created")
    assert answer.json() == {"status": "accepted"}

    held = wait_until(lambda: kanal_orders(emulator, 8).get("727"), 15)
    assert held["customer"]["phone"] == "+14155550132"
    assert ISO_WITH_OFFSET.match(held["placed_at"])


def test_a_wrong_or_missing_signature_gets_401_and_nothing_reaches_kanal(
    bridge: Bridge, emulator: Emulator
) -> None:
    order = shopify_order(5001, 1)
    assert bridge.shopify(order, secret="not-the-secret").status_code == 401
    body = shopify_bytes(order)
    unsigned = bridge.post(
        "/webhooks/shopify/shopify-shop", body, {"X-Shopify-Topic": "orders/create"}
    )
    assert unsigned.status_code == 401
    wrong_woo = bridge.woocommerce(woo_order(5002, 1), secret="wrong")
    assert wrong_woo.status_code == 401
    # Nothing stored, so nothing can ever be pushed.
    assert (bridge.record_status("5001"), bridge.record_status("5002")) == (None, None)
    assert bridge.drained()
    assert emulator.requests() == []


def test_the_previous_secret_still_verifies_during_rotation(
    bridge: Bridge, emulator: Emulator
) -> None:
    answer = bridge.shopify(shopify_order(5003, 1), secret="an-old-secret")
    assert answer.json() == {"status": "accepted"}


def test_the_woocommerce_ping_gets_exactly_200(bridge: Bridge) -> None:
    answer = bridge.post(
        "/webhooks/woocommerce/woo-shop",
        b"webhook_id=12",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200


def test_an_unknown_store_or_platform_is_answered_as_a_bad_signature(bridge: Bridge) -> None:
    order = shopify_order(5004, 1)
    unknown = bridge.shopify(order, store="no-such-shop")
    bad_signature = bridge.shopify(order, secret="not-the-secret")
    assert (unknown.status_code, unknown.json()) == (401, {"error": "invalid signature"})
    assert bad_signature.json() == unknown.json()
    body = shopify_bytes(order)
    wrong_platform = bridge.post(
        "/webhooks/woocommerce/shopify-shop",
        body,
        {
            "X-WC-Webhook-Signature": sign(body, "e2e-shopify-secret"),
            "X-WC-Webhook-Topic": "order.created",
        },
    )
    assert wrong_platform.status_code == 401


def test_a_delivery_from_another_shop_domain_is_refused(bridge: Bridge) -> None:
    answer = bridge.shopify(shopify_order(5005, 1), domain="someone-else.myshopify.com")
    assert answer.status_code == 401


def test_a_redelivered_webhook_is_a_duplicate(bridge: Bridge, emulator: Emulator) -> None:
    order = shopify_order(5006, 1)
    assert bridge.shopify(order, webhook_id="same-delivery").json() == {"status": "accepted"}
    assert bridge.shopify(order, webhook_id="same-delivery").json() == {"status": "duplicate"}
    wait_until(lambda: kanal_orders(emulator, 7).get("5006"), 15)
    wait_until(bridge.drained, 15)  # nothing left that could still be pushed
    assert len(emulator.requests(7)) == 1


def test_a_kanal_500_is_retried_until_delivered(bridge: Bridge, emulator: Emulator) -> None:
    emulator.fault(status=500, count=1, store_id=7)
    bridge.shopify(shopify_order(5007, 1))

    wait_until(lambda: kanal_orders(emulator, 7).get("5007"), 30)
    assert [r["status"] for r in emulator.requests(7)][:1] == [500]
    assert emulator.requests(7)[-1]["status"] in (200, 201)


def test_a_kanal_422_is_not_retried_and_sits_in_failed(bridge: Bridge, emulator: Emulator) -> None:
    emulator.fault(
        status=422,
        count=1,
        store_id=8,
        body={
            "message": "The customer.phone field is invalid.",
            "errors": {"customer.phone": ["The customer.phone field is invalid."]},
        },
    )
    bridge.woocommerce(woo_order(5008, 1))
    wait_until(lambda: bridge.record_status("5008") == "failed", 15)
    assert [r["status"] for r in emulator.requests(8)] == [422]

    listing = subprocess.run(
        [str(BIN / "kanal-bridge"), "failed", "list"],
        env=bridge.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "woo-shop:orders:5008" in listing
    assert "customer.phone" in listing


def test_an_ignored_topic_is_answered_and_not_sent(bridge: Bridge, emulator: Emulator) -> None:
    answer = bridge.shopify({"id": 5010, "title": "hat"}, topic="products/update")
    assert answer.json() == {"status": "ignored", "reason": "unsupported_topic"}
    # Nothing was stored, so nothing can ever be pushed for it...
    assert bridge.drained()
    assert list(bridge.redis.scan_iter("kb:rec:*:5010")) == []
    # ...and an order sent after it reaches Kanal alone.
    assert bridge.shopify(shopify_order(5011, 1)).json() == {"status": "accepted"}
    wait_until(lambda: kanal_orders(emulator, 7).get("5011"), 15)
    wait_until(bridge.drained, 15)
    assert [(r["method"], r["body"]["external_id"]) for r in emulator.requests()] == [
        ("POST", "5011")
    ]


def test_an_order_without_a_usable_phone_is_ignored(bridge: Bridge, emulator: Emulator) -> None:
    order = shopify_order(5009, 1, phone="")
    for place in ("customer", "shipping_address", "billing_address"):
        if isinstance(order.get(place), dict):
            order[place]["phone"] = None
            if isinstance(order[place].get("default_address"), dict):
                order[place]["default_address"]["phone"] = None
    answer = bridge.shopify(order)
    assert answer.json() == {"status": "ignored", "reason": "no_phone"}


def test_a_signed_body_that_is_not_an_object_gets_400(bridge: Bridge) -> None:
    body = b"[1, 2, 3]"
    answer = bridge.post(
        "/webhooks/shopify/shopify-shop",
        body,
        {
            "X-Shopify-Hmac-Sha256": sign(body, "e2e-shopify-secret"),
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Shop-Domain": "shopify-shop.myshopify.com",
        },
    )
    assert answer.status_code == 400


def test_a_body_over_the_limit_gets_413(bridge: Bridge) -> None:
    body = b"{" + b" " * (5 * 1024 * 1024 + 10) + b"}"
    answer = bridge.post(
        "/webhooks/shopify/shopify-shop",
        body,
        {
            "X-Shopify-Hmac-Sha256": sign(body, "e2e-shopify-secret"),
            "X-Shopify-Topic": "orders/create",
        },
    )
    assert answer.status_code == 413
