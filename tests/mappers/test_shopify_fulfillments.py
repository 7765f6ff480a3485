"""Shopify fulfillments and carrier events → shipments."""

from typing import Any

import pytest

from mappers import Ignored, Patch, StoreContext, Upsert, map_webhook
from mappers.shopify_fulfillments import SHIPMENT_STATUSES

CTX = StoreContext()


def fulfillment(**fields: Any) -> dict[str, Any]:
    base = {"id": 9, "order_id": 5, "status": "success", "updated_at": "2026-01-01T00:00:00Z"}
    return {**base, **fields}


@pytest.mark.parametrize(
    ("own", "carrier", "expected"),
    [
        ("success", None, "in_transit"),
        ("success", "label_printed", "pending"),
        ("success", "out_for_delivery", "in_transit"),
        ("success", "attempted_delivery", "failed"),
        ("success", "delivered", "delivered"),
        ("success", "something_new", "in_transit"),
        ("pending", "delivered", "pending"),
        ("cancelled", None, "failed"),
    ],
)
def test_status_table(own: str, carrier: str | None, expected: str) -> None:
    payload = fulfillment(status=own, shipment_status=carrier)
    [action] = map_webhook("shopify", "fulfillments/update", payload, CTX)
    assert isinstance(action, Upsert)
    assert action.body["status"] == expected
    assert action.after == ("orders", "5")


def test_tracking_comes_from_the_lists_when_the_single_fields_are_empty() -> None:
    payload = fulfillment(
        tracking_number=None, tracking_numbers=["", "AB1"], tracking_urls=["x", "https://t/AB1"]
    )
    [action] = map_webhook("shopify", "fulfillments/create", payload, CTX)
    assert isinstance(action, Upsert)
    assert action.body["tracking_number"] == "AB1"
    assert action.body["tracking_url"] == "https://t/AB1"


def test_an_event_patches_the_shipment_status() -> None:
    event = {
        "id": 1,
        "fulfillment_id": 9,
        "status": "delivered",
        "created_at": "2026-01-02T00:00:00Z",
    }
    assert map_webhook("shopify", "fulfillment_events/create", event, CTX) == [
        Patch("shipments", "9", 1767312000 * 10**6, {"status": "delivered"})
    ]
    event["status"] = "teleported"
    assert map_webhook("shopify", "fulfillment_events/create", event, CTX) == [
        Ignored("unknown_shipment_status")
    ]


def test_every_status_maps_to_a_kanal_status() -> None:
    assert set(SHIPMENT_STATUSES.values()) <= {"pending", "in_transit", "delivered", "failed"}
