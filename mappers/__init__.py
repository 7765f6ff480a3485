"""Pure translation of platform payloads into Kanal actions: no I/O anywhere below here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mappers import (
    shopify,
    shopify_checkouts,
    shopify_customers,
    shopify_fulfillments,
    woocommerce,
    woocommerce_customers,
)
from mappers.actions import Action, Delete, Ignored, Patch, Resource, StoreContext, Upsert
from mappers.shapes import Shape

Mapper = Callable[[dict[str, Any], StoreContext], list[Action]]

PLATFORMS: dict[str, dict[str, Mapper]] = {
    "shopify": {
        **shopify.TOPICS,
        **shopify_checkouts.TOPICS,
        **shopify_customers.TOPICS,
        **shopify_fulfillments.TOPICS,
    },
    "woocommerce": {**woocommerce.TOPICS, **woocommerce_customers.TOPICS},
}

# The shape each topic's body must have (mappers/shapes.py): the topic header is not signed.
SHAPES: dict[str, dict[str, Shape]] = {
    "shopify": {
        **shopify.SHAPES,
        **shopify_checkouts.SHAPES,
        **shopify_customers.SHAPES,
        **shopify_fulfillments.SHAPES,
    },
    "woocommerce": {**woocommerce.SHAPES, **woocommerce_customers.SHAPES},
}
SHAPE_REASONS = frozenset(s.reason for topics in SHAPES.values() for s in topics.values())
# What WooCommerce delivers instead of the resource when the webhook's user lost its rights
# (`{"code": "woocommerce_rest_cannot_view", "message": ..., "data": {"status": 401}}`).
WOOCOMMERCE_ERROR = "woocommerce_error_body"


def map_webhook(platform: str, topic: str, payload: object, ctx: StoreContext) -> list[Action]:
    """The Kanal actions one verified webhook asks for; never raises on any JSON value.

    A body whose shape does not fit its topic is refused (`Ignored("not_an_order")`, ...)
    before any mapper reads it."""
    mapper = PLATFORMS.get(platform, {}).get(topic)
    if mapper is None:
        return [Ignored("unsupported_topic")]
    if not isinstance(payload, dict):
        return [Ignored("no_id")]
    shape = SHAPES[platform][topic]
    if not shape.fits(payload):
        if platform == "woocommerce" and {"code", "message"} <= payload.keys():
            return [Ignored(WOOCOMMERCE_ERROR)]
        return [Ignored(shape.reason)]
    return mapper(payload, ctx)  # each mapper reads its own id (compliance topics have none)


__all__ = [
    "Action",
    "Delete",
    "Ignored",
    "Patch",
    "Resource",
    "StoreContext",
    "Upsert",
    "map_webhook",
]
