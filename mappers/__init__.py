"""Pure translation of platform payloads into Kanal actions: no I/O anywhere below here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mappers import shopify, woocommerce
from mappers.actions import Action, Delete, Ignored, Patch, Resource, StoreContext, Upsert

Mapper = Callable[[dict[str, Any], StoreContext], list[Action]]

PLATFORMS: dict[str, dict[str, Mapper]] = {
    "shopify": shopify.TOPICS,
    "woocommerce": woocommerce.TOPICS,
}


def map_webhook(platform: str, topic: str, payload: object, ctx: StoreContext) -> list[Action]:
    """The Kanal actions one verified webhook asks for; never raises on any JSON value."""
    mapper = PLATFORMS.get(platform, {}).get(topic)
    if mapper is None:
        return [Ignored("unsupported_topic")]
    if not isinstance(payload, dict) or "id" not in payload:
        return [Ignored("no_id")]
    return mapper(payload, ctx)


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
