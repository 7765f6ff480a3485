"""Shipments from WooCommerce orders: Shipment Tracking items, or a completed order."""

from typing import Any

from mappers import StoreContext, Upsert, map_webhook

ORDER: dict[str, Any] = {
    "id": 40,
    "status": "completed",
    "date_created_gmt": "2026-01-01T10:00:00",
    "date_modified_gmt": "2026-01-02T10:00:00",
    "total": "9.00",
    "billing": {"phone": "+33612345678"},
    "line_items": [],
}


def shipments(order: dict[str, Any], ctx: StoreContext) -> list[Upsert]:
    actions = map_webhook("woocommerce", "order.updated", order, ctx)
    return [a for a in actions if isinstance(a, Upsert) and a.resource == "shipments"]


def test_a_completed_order_ships_only_when_the_store_says_so() -> None:
    assert shipments(ORDER, StoreContext()) == []
    [shipment] = shipments(ORDER, StoreContext(completed_means_shipped=True))
    assert shipment.external_id == "40-completed"
    assert shipment.body["status"] == "in_transit"
    assert shipment.after == ("orders", "40")
    assert (
        shipments({**ORDER, "status": "processing"}, StoreContext(completed_means_shipped=True))
        == []
    )


def test_tracking_items_win_over_the_completed_status() -> None:
    items = [
        {"tracking_provider": "dhl", "tracking_number": "JJ1", "tracking_id": ""},
        {"tracking_provider": "dhl", "tracking_number": None, "tracking_id": None},
    ]
    order = {**ORDER, "meta_data": [{"key": "_wc_shipment_tracking_items", "value": items}]}
    [shipment] = shipments(order, StoreContext(completed_means_shipped=True))
    assert shipment.external_id == "40-JJ1"
    assert shipment.body["carrier"] == "dhl"


def test_an_order_not_sent_sends_no_shipment() -> None:
    order = {**ORDER, "billing": {"phone": ""}}
    assert (
        map_webhook(
            "woocommerce", "order.updated", order, StoreContext(completed_means_shipped=True)
        )
        != []
    )
    assert shipments(order, StoreContext(completed_means_shipped=True)) == []
