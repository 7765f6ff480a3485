"""Checkouts, shipments, customers and GDPR erasure end to end: real processes, Redis, emulator.

Stores (tests/e2e/harness.py): `checkout-shop` (Kanal store 10) sends abandoned checkouts at
once, `delayed-checkout-shop` (Kanal store 11) after 0.1 minute (6 s); both without the consent
requirement. All
of them feed Kanal store 7.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest
from harness import ROOT, SHOPIFY_DOMAIN, Bridge, Emulator, shopify_order, wait_until, woo_order

pytestmark = pytest.mark.e2e

LOCAL = ROOT / "tests" / "fixtures" / "shopify"
DELAY = 6.0  # delayed-checkout-shop: abandoned_after_minutes = 0.1
CHECKOUT_SHOP = 10  # the Kanal stores of checkout-shop and delayed-checkout-shop
DELAYED_SHOP = 11


def sample(path: Any) -> dict[str, Any]:
    body = json.loads(path.read_text())["response"]
    assert isinstance(body, dict)
    if "shop_domain" in body:  # compliance bodies name their shop: the test store's
        body["shop_domain"] = SHOPIFY_DOMAIN
    return body


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(epoch))


def checkout(token: str, updated: float, **fields: Any) -> dict[str, Any]:
    """Shopify's documented checkout with a token, a realistic phone and a last update."""
    body = sample(LOCAL / "gadget-2026-04-checkouts-create.json")
    # The recovery URL carries the checkout's key (its token, in this older style of URL).
    url = f"https://checkout.local/548380009/checkouts/{token}/recover?key=example-secret-token"
    body.update(
        token=token,
        abandoned_checkout_url=url,
        updated_at=iso(updated),
        phone="+1 502-555-0123",
        **fields,
    )
    return body


def order_from(token: str, order_id: int, version: int) -> dict[str, Any]:
    order = shopify_order(order_id, version)
    order["checkout_token"] = token
    return order


def held(emulator: Emulator, resource: str, store_id: int = 7) -> dict[str, Any]:
    records = emulator.records(store_id, resource)
    return {key: r["body"] for key, r in records.items() if not r["deleted"]}


def calls(
    emulator: Emulator, resource: str, key: str | None = None, store_id: int = 7
) -> list[dict[str, Any]]:
    found = []
    for request in emulator.requests(store_id):
        parts = request["path"].split("/")
        if resource in parts and (key is None or key in parts or _body_id(request) == key):
            found.append(request)
    return found


def _body_id(request: dict[str, Any]) -> Any:
    body = request.get("body")
    return body.get("external_id") if isinstance(body, dict) else None


def test_an_abandoned_checkout_reaches_kanal_once_its_delay_is_over(
    bridge: Bridge, emulator: Emulator
) -> None:
    started = time.time()
    answer = bridge.shopify(
        checkout("tok-abandoned", started), "checkouts/create", store="delayed-checkout-shop"
    )
    assert answer.json() == {"status": "accepted"}

    time.sleep(DELAY / 2)
    assert "tok-abandoned" not in held(emulator, "checkouts", DELAYED_SHOP)
    body = wait_until(
        lambda: held(emulator, "checkouts", DELAYED_SHOP).get("tok-abandoned"), DELAY + 15
    )
    assert time.time() - started >= DELAY - 1  # not before the delay (updated_at is whole seconds)
    assert body["abandoned_at"] == iso(int(started) + DELAY)
    assert body["customer"]["phone"] == "+15025550123"
    assert body["recovery_url"].startswith("https://checkout.local/")
    assert Decimal(str(body["total_price"])) == Decimal("421.88")


def test_the_order_placed_from_a_sent_checkout_marks_it_recovered(
    bridge: Bridge, emulator: Emulator
) -> None:
    bridge.shopify(
        checkout("tok-recovered", time.time()), "checkouts/create", store="checkout-shop"
    )
    wait_until(lambda: held(emulator, "checkouts", CHECKOUT_SHOP).get("tok-recovered"), 15)

    answer = bridge.shopify(
        order_from("tok-recovered", 6101, 1), "orders/create", store="checkout-shop"
    )
    assert answer.json() == {"status": "accepted"}
    body = wait_until(
        lambda: (
            (b := held(emulator, "checkouts", CHECKOUT_SHOP)["tok-recovered"]).get("status")
            == "recovered"
            and b
        ),
        15,
    )
    assert body["status"] == "recovered"
    patches = [
        c
        for c in calls(emulator, "checkouts", "tok-recovered", CHECKOUT_SHOP)
        if c["method"] == "PATCH"
    ]
    assert [p["body"] for p in patches] == [{"status": "recovered"}]
    wait_until(lambda: held(emulator, "orders", CHECKOUT_SHOP).get("6101"), 15)


SEQUENCES = {
    # the order arrives before Shopify's checkouts/create, then a late checkouts/update
    "order_first": ["order", "create", "update"],
    # the order arrives within the delay, then a checkouts/update without completed_at
    "order_then_update": ["create", "order", "update"],
    # no order webhook at all: checkouts/update with completed_at
    "completed_at": ["create", "completed"],
    # completed_at seen before the create (reordered)
    "completed_before_create": ["completed", "create", "update"],
}


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_a_checkout_completed_within_its_delay_never_reaches_kanal(
    bridge: Bridge, emulator: Emulator, name: str
) -> None:
    token = f"tok-{name}"
    now = time.time()
    webhooks = {
        "create": (checkout(token, now), "checkouts/create"),
        "update": (checkout(token, now + 1, total_price="500.00"), "checkouts/update"),
        "completed": (checkout(token, now + 2, completed_at=iso(now + 2)), "checkouts/update"),
        "order": (order_from(token, 6200 + len(name), 1), "orders/create"),
    }
    for step in SEQUENCES[name]:
        payload, topic = webhooks[step]
        assert bridge.shopify(payload, topic, store="delayed-checkout-shop").status_code == 200

    time.sleep(DELAY + 2)
    wait_until(bridge.drained, 30)
    time.sleep(1.5)
    assert calls(emulator, "checkouts", store_id=DELAYED_SHOP) == []
    assert token not in held(emulator, "checkouts", DELAYED_SHOP)


def test_a_checkout_without_marketing_consent_is_not_sent_where_consent_is_required(
    bridge: Bridge,
) -> None:
    answer = bridge.shopify(checkout("tok-consent", time.time()), "checkouts/create")
    assert answer.json() == {"status": "ignored", "reason": "no_marketing_consent"}


def test_a_fulfillment_with_tracking_becomes_a_shipment_linked_to_its_order(
    bridge: Bridge, emulator: Emulator
) -> None:
    fulfillment = sample(LOCAL / "gadget-2025-10-fulfillments-update.json")
    fulfillment.update(
        id=7301, order_id=6301, status="success", shipment_status=None, updated_at=iso(time.time())
    )
    # The fulfillment arrives first: its push waits for the order's.
    assert bridge.shopify(fulfillment, "fulfillments/create").json() == {"status": "accepted"}
    assert bridge.shopify(shopify_order(6301, 1), "orders/create").json() == {"status": "accepted"}

    shipment = wait_until(lambda: held(emulator, "shipments").get("7301"), 20)
    assert shipment["order_external_id"] == "6301"
    assert shipment["tracking_number"] == "1z827wk74630"
    assert shipment["carrier"] == "UPS"
    assert shipment["status"] == "in_transit"
    assert shipment["tracking_url"].startswith("https://www.ups.com/")
    methods = [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in emulator.requests(7)]
    assert methods.index(("POST", "orders")) < methods.index(("POST", "shipments")), methods

    event = sample(LOCAL / "gadget-2025-01-fulfillment-events-create.json")
    event.update(
        fulfillment_id=7301, order_id=6301, status="delivered", created_at=iso(time.time() + 1)
    )
    assert bridge.shopify(event, "fulfillment_events/create").json() == {"status": "accepted"}
    wait_until(lambda: held(emulator, "shipments")["7301"]["status"] == "delivered", 15)
    assert held(emulator, "shipments")["7301"]["tracking_number"] == "1z827wk74630"


def test_customers_redact_makes_a_delete_reach_kanal(bridge: Bridge, emulator: Emulator) -> None:
    request = sample(LOCAL / "gadget-metadata-2026-04-customers-redact.json")
    assert bridge.shopify(request, "customers/redact").json() == {"status": "accepted"}

    def deleted() -> list[dict[str, Any]]:
        return [r for r in calls(emulator, "customers", "191167") if r["method"] == "DELETE"]

    [call] = wait_until(deleted, 15)
    assert call["status"] == 204


def test_purchasing_figures_reach_kanal_with_the_customer(
    bridge: Bridge, emulator: Emulator
) -> None:
    summary = sample(LOCAL / "gadget-2026-04-customers-purchasing-summary.json")
    summary.update(
        customerId="gid://shopify/Customer/6401",
        numberOfOrders=3,
        amountSpent={"amount": "149.50", "currencyCode": "USD"},
        occurredAt=iso(time.time()),
    )
    assert bridge.shopify(summary, "customers/purchasing_summary").json() == {"status": "accepted"}
    customer = sample(LOCAL / "gadget-2026-04-customers-create.json")
    customer.update(id=6401, phone="+1 613-555-0135", updated_at=iso(time.time()))
    assert bridge.shopify(customer, "customers/create").json() == {"status": "accepted"}

    body = wait_until(lambda: held(emulator, "customers").get("6401"), 15)
    assert body["phone"] == "+16135550135"
    assert (body["orders_count"], body["lifetime_value"]) == (3, 150)


COMPLIANCE = {
    "customers/redact": LOCAL / "gadget-metadata-2026-04-customers-redact.json",
    "customers/data_request": LOCAL / "gadget-2026-04-customers-data-request.json",
    "shop/redact": LOCAL / "gadget-2026-04-shop-redact.json",
}


@pytest.mark.parametrize("topic", list(COMPLIANCE))
def test_compliance_topics_answer_401_on_a_bad_signature(
    bridge: Bridge, emulator: Emulator, topic: str
) -> None:
    body = sample(COMPLIANCE[topic])
    assert bridge.shopify(body, topic, secret="not-the-secret").status_code == 401
    answer = bridge.shopify(body, topic)
    assert answer.status_code == 200
    expected = {
        "customers/redact": {"status": "accepted"},
        "customers/data_request": {"status": "ignored", "reason": "data_request_logged"},
        "shop/redact": {"status": "ignored", "reason": "shop_redact_logged"},
    }
    assert answer.json() == expected[topic]


WOO_LOCAL = ROOT / "tests" / "fixtures" / "woocommerce"


def test_woocommerce_customers_are_upserted_then_erased(bridge: Bridge, emulator: Emulator) -> None:
    customer = json.loads((WOO_LOCAL / "docs-v3-retrieve-customer.json").read_text())
    customer["id"] = 6501
    customer["billing"]["phone"] = "(415) 555-0132"
    assert bridge.woocommerce(customer, "customer.created").json() == {"status": "accepted"}
    body = wait_until(lambda: held(emulator, "customers", 8).get("6501"), 15)
    assert (body["phone"], body["email"]) == ("+14155550132", "john.doe@example.com")

    assert bridge.woocommerce({"id": 6501}, "customer.deleted").json() == {"status": "accepted"}
    wait_until(lambda: emulator.records(8, "customers")["6501"]["deleted"], 15)


def test_woocommerce_tracking_items_become_shipments_after_their_order(
    bridge: Bridge, emulator: Emulator
) -> None:
    order = woo_order(6601, 1, status="completed")
    tracking = json.loads((WOO_LOCAL / "shipment-tracking-items.built.json").read_text())
    order["meta_data"] = [{"id": 1, "key": "_wc_shipment_tracking_items", "value": tracking}]
    assert bridge.woocommerce(order, "order.updated").json() == {"status": "accepted"}

    wait_until(lambda: len(held(emulator, "shipments", 8)) == 2, 15)
    held_shipments = held(emulator, "shipments", 8)
    assert {s["order_external_id"] for s in held_shipments.values()} == {"6601"}
    assert {s["tracking_number"] for s in held_shipments.values()} == {
        "9400111899223197428490",
        "6A12345678901",
    }
    methods = [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in emulator.requests(8)]
    assert methods.index(("POST", "orders")) < methods.index(("POST", "shipments")), methods
