"""Arrays passed through to Kanal are bounded (issue 11: 123,456 tags from one order were
POSTed), and so is the work one body can cause."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
from mapper_fixtures import FIXTURES, order_fixtures

from mappers import Ignored, StoreContext, Upsert, kanal, map_webhook, shopify_customers

CTX = StoreContext(default_country="US")


def _sendable_shopify_order() -> dict[str, Any]:
    [order] = [f.payload for f in order_fixtures() if f.platform == "shopify"][:1]
    return {**order, "phone": "+33612345678", "test": False}


def test_tags_and_line_items_sent_to_kanal_are_bounded() -> None:
    order = _sendable_shopify_order()
    order["tags"] = ",".join(f"tag{i}" for i in range(123_456))
    order["line_items"] = [order["line_items"][0]] * 5_000
    order["customer"] = {**order["customer"], "tags": [f"t{i}" for i in range(10_000)]}
    [upsert, *_] = map_webhook("shopify", "orders/create", order, CTX)
    assert isinstance(upsert, Upsert)
    assert len(upsert.body["tags"]) == kanal.TAGS_MAX == 250
    assert upsert.body["tags"][:2] == ["tag0", "tag1"]
    assert len(upsert.body["line_items"]) == kanal.LINE_ITEMS_MAX
    assert len(upsert.body["customer"]["tags"]) == kanal.TAGS_MAX


def test_a_woocommerce_order_sends_a_bounded_number_of_shipments() -> None:
    [order] = [f.payload for f in order_fixtures() if f.platform == "woocommerce"][:1]
    items = [{"tracking_number": f"JJ{i}", "tracking_provider": "dhl"} for i in range(1_000)]
    order = {
        **order,
        "billing": {**order["billing"], "phone": "+33612345678"},
        "line_items": order["line_items"] * 2_000,
        "meta_data": [{"key": "_wc_shipment_tracking_items", "value": items}],
    }
    actions = map_webhook("woocommerce", "order.updated", order, CTX)
    [upsert] = [a for a in actions if isinstance(a, Upsert) and a.resource == "orders"]
    shipments = [a for a in actions if isinstance(a, Upsert) and a.resource == "shipments"]
    assert len(shipments) == kanal.SHIPMENTS_MAX
    assert len(upsert.body["line_items"]) == kanal.LINE_ITEMS_MAX


def test_a_customer_with_thousands_of_addresses_is_read_from_the_first_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    customer = json.loads((FIXTURES / "shopify/gadget-2026-04-customers-create.json").read_text())
    addresses = [{"phone": f"not a phone {i}", "country_code": "FR"} for i in range(100_000)]
    customer = {**customer["response"], "phone": None, "addresses": addresses}
    tried: list[int] = []

    def spy(candidates: Iterable[tuple[str | None, str | None]], default: str | None) -> None:
        tried.append(len(list(candidates)))

    monkeypatch.setattr(shopify_customers.phone, "to_e164", spy)
    assert map_webhook("shopify", "customers/create", customer, CTX) == [Ignored("no_phone")]
    assert tried == [2 + kanal.ADDRESSES_MAX]
