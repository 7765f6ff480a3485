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


def map_webhook(platform: str, topic: str, payload: object, ctx: StoreContext) -> list[Action]:
    """The Kanal actions one verified webhook asks for; never raises on any JSON value."""
    mapper = PLATFORMS.get(platform, {}).get(topic)
    if mapper is None:
        return [Ignored("unsupported_topic")]
    if not isinstance(payload, dict):
        return [Ignored("no_id")]
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
