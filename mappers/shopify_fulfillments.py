"""Shopify fulfillment webhooks → Kanal shipments.

A fulfillment is a shipment (external_id = the fulfillment id), linked to its order and
pushed only once Kanal holds that order's pending state (`after`). Kanal has no PATCH for
shipments: a carrier event (`fulfillment_events/create`) is an overlay the bridge merges
into the shipment it holds and POSTs whole again (`bridge/delivery/records.py`, POST_ONLY).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mappers import dates, kanal, payload, shapes
from mappers.actions import Action, Ignored, Patch, StoreContext, Upsert

# Carrier statuses (fulfillment `shipment_status`, fulfillment event `status`) → Kanal's
# shipment status. Label and confirmation states are pending; everything on the way is
# in_transit; a failed or attempted delivery is failed.
SHIPMENT_STATUSES: dict[str, str] = {
    "label_printed": "pending",
    "label_purchased": "pending",
    "confirmed": "pending",
    "carrier_picked_up": "in_transit",
    "in_transit": "in_transit",
    "out_for_delivery": "in_transit",
    "delayed": "in_transit",
    "ready_for_pickup": "in_transit",
    "picked_up": "delivered",
    "delivered": "delivered",
    "attempted_delivery": "failed",
    "failure": "failed",
}

# A fulfillment's own `status` decides when it is not a successful one; a successful
# fulfillment without carrier status (or with one not listed above) has shipped.
FULFILLMENT_STATUSES: dict[str, str] = {
    "pending": "pending",
    "open": "pending",
    "cancelled": "failed",
    "error": "failed",
    "failure": "failed",
}
SHIPPED = "in_transit"


def _status(fulfillment: dict[str, Any]) -> str:
    own = kanal.clean(fulfillment.get("status"))
    if own is not None and own.lower() in FULFILLMENT_STATUSES:
        return FULFILLMENT_STATUSES[own.lower()]
    carrier = kanal.clean(fulfillment.get("shipment_status"))
    return SHIPMENT_STATUSES.get((carrier or "").lower(), SHIPPED)


def _first(
    fulfillment: dict[str, Any], single: str, many: str, read: Callable[[object], str | None]
) -> str | None:
    """The first usable value of `single`, then of the list `many`."""
    listed = fulfillment.get(many)
    values = [fulfillment.get(single), *(listed if isinstance(listed, list) else [])]
    return next((value for value in map(read, values) if value is not None), None)


def _name(value: object) -> str | None:
    return kanal.cut(value, kanal.NAME_MAX)


def map_fulfillment(fulfillment: dict[str, Any], ctx: StoreContext) -> list[Action]:
    """fulfillments/create, fulfillments/update → a shipment upsert after its order."""
    external_id = payload.ident(fulfillment.get("id"))
    order_id = payload.ident(fulfillment.get("order_id"))
    if external_id is None or order_id is None:
        return [Ignored("no_id")]
    fields: dict[str, Any] = {
        "external_id": external_id,
        "order_external_id": order_id,
        "tracking_number": _first(fulfillment, "tracking_number", "tracking_numbers", _name),
        "tracking_url": _first(fulfillment, "tracking_url", "tracking_urls", kanal.url),
        "carrier": kanal.cut(fulfillment.get("tracking_company"), kanal.NAME_MAX),
        "status": _status(fulfillment),
        "metadata": _metadata(fulfillment),
    }
    body = {key: value for key, value in fields.items() if value is not None}
    version = dates.version(dates.instant(fulfillment.get("updated_at")))
    return [Upsert("shipments", external_id, version, body, after=("orders", order_id))]


def _metadata(fulfillment: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "platform": "shopify",
        "fulfillment_name": kanal.cut(fulfillment.get("name"), kanal.NAME_MAX),
        "shipment_status": kanal.cut(fulfillment.get("shipment_status"), kanal.STATUS_MAX),
    }
    return {key: value for key, value in fields.items() if value is not None}


def map_event(event: dict[str, Any], ctx: StoreContext) -> list[Action]:
    """fulfillment_events/create → the status of the shipment the bridge holds.

    Applied only to a shipment the bridge holds (a fulfillment webhook came first and its
    record has not expired); otherwise answered ignored/unknown_record, and the next
    fulfillments/update, which carries the same shipment_status, brings Kanal up to date.
    """
    fulfillment_id = payload.ident(event.get("fulfillment_id"))
    if fulfillment_id is None:
        return [Ignored("no_id")]
    text = kanal.clean(event.get("status"))
    status = SHIPMENT_STATUSES.get((text or "").lower())
    if status is None:
        return [Ignored("unknown_shipment_status")]
    moment = dates.instant(event.get("created_at")) or dates.instant(event.get("happened_at"))
    return [Patch("shipments", fulfillment_id, dates.version(moment), {"status": status})]


TOPICS: dict[str, Callable[[dict[str, Any], StoreContext], list[Action]]] = {
    "fulfillments/create": map_fulfillment,
    "fulfillments/update": map_fulfillment,
    "fulfillment_events/create": map_event,
}

FULFILLMENT = shapes.shape(
    "not_a_fulfillment",
    required=("id", "order_id"),
    forbidden=(
        "fulfillment_id",
        "refund_line_items",
        "transactions",
        *shapes.SHOPIFY_ORDER_MARKS,
        *shapes.SHOPIFY_COMPLIANCE_MARKS,
    ),
)
EVENT = shapes.shape(
    "not_a_fulfillment_event",
    required=("fulfillment_id", "status"),
    forbidden=(
        "line_items",
        "refund_line_items",
        *shapes.SHOPIFY_ORDER_MARKS,
        *shapes.SHOPIFY_COMPLIANCE_MARKS,
    ),
)
SHAPES = {
    "fulfillments/create": FULFILLMENT,
    "fulfillments/update": FULFILLMENT,
    "fulfillment_events/create": EVENT,
}
