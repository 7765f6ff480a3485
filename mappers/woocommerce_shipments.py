"""WooCommerce shipments: read from the order, since WooCommerce core has none.

WooCommerce's Shipment Tracking extension keeps one entry per parcel in the order meta
`_wc_shipment_tracking_items`; each becomes a Kanal shipment. Without any, a store with
`completed_means_shipped` treats a `completed` order as shipped, as peers do, and sends
one shipment without tracking. Shipments go out with the order upsert, after it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mappers import dates, kanal, payload
from mappers.actions import StoreContext, Upsert

TRACKING_META = "_wc_shipment_tracking_items"

# A tracked parcel has left the shop; so has a completed order on a completed_means_shipped
# store. The extension records no carrier progress, so nothing more is ever known.
SHIPPED = "in_transit"
COMPLETED_STATUS = "completed"


def tracking_items(order: dict[str, Any]) -> list[dict[str, Any]]:
    """The Shipment Tracking entries of an order (the last meta entry with the key wins)."""
    items: list[dict[str, Any]] = []
    for entry in payload.objs(order.get("meta_data")):
        if entry.get("key") == TRACKING_META:
            items = payload.objs(entry.get("value"))
    return items


def _shipped_at(value: object) -> str | None:
    """`date_shipped` (a unix timestamp, as a number or a digit string) in ISO 8601, UTC."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 11:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 10**11:
        return None
    return dates.iso(dates.EPOCH + timedelta(seconds=value))


def _shipment(order_id: str, item: dict[str, Any]) -> dict[str, Any] | None:
    number = kanal.cut(item.get("tracking_number"), kanal.NAME_MAX)
    tracking_id = kanal.cut(item.get("tracking_id"), kanal.EXTERNAL_ID_MAX)
    if tracking_id is None and number is None:
        return None
    metadata: dict[str, Any] = {"platform": "woocommerce"}
    shipped_at = _shipped_at(item.get("date_shipped"))
    if shipped_at is not None:
        metadata["date_shipped"] = shipped_at
    fields: dict[str, Any] = {
        "external_id": tracking_id or kanal.cut(f"{order_id}-{number}", kanal.EXTERNAL_ID_MAX),
        "order_external_id": order_id,
        "tracking_number": number,
        "tracking_url": kanal.url(item.get("custom_tracking_link")),
        "carrier": kanal.cut(item.get("custom_tracking_provider"), kanal.NAME_MAX)
        or kanal.cut(item.get("tracking_provider"), kanal.NAME_MAX),
        "status": SHIPPED,
        "metadata": metadata,
    }
    return {key: value for key, value in fields.items() if value is not None}


def shipments(
    order: dict[str, Any], order_id: str, status: str | None, version: int, ctx: StoreContext
) -> list[Upsert]:
    """The shipment upserts an order webhook carries, each after the order itself."""
    items = tracking_items(order)[: kanal.SHIPMENTS_MAX]
    bodies = [b for item in items if (b := _shipment(order_id, item))]
    if not bodies and ctx.completed_means_shipped and (status or "").lower() == COMPLETED_STATUS:
        bodies = [
            {
                "external_id": f"{order_id}-completed",
                "order_external_id": order_id,
                "status": SHIPPED,
                "metadata": {"platform": "woocommerce", "from_status": COMPLETED_STATUS},
            }
        ]
    return [
        Upsert("shipments", body["external_id"], version, body, after=("orders", order_id))
        for body in bodies
    ]
