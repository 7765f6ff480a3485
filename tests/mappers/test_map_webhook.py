from typing import Any

import pytest

import mappers
from mappers import Ignored, Patch, StoreContext, Upsert, map_webhook

CTX = StoreContext(default_country="FR")
SHOPIFY_ORDER: dict[str, Any] = {
    "id": 1,
    "created_at": "2025-03-01T10:00:00+01:00",
    "total_price": "1.00",
    "financial_status": "paid",
    "line_items": [],
    "phone": "+33612345678",
}
WOO_ORDER: dict[str, Any] = {
    "id": 1,
    "date_created_gmt": "2025-03-01T10:00:00",
    "total": "1.00",
    "line_items": [],
    "billing": {"phone": "+33612345678"},
}


def test_exports_are_sorted_and_include_the_dispatcher() -> None:
    # Sorted as ruff's RUF022 sorts them: constants, then classes, then functions.
    def kind(name: str) -> int:
        return 0 if name.isupper() else 1 if name[0].isupper() else 2

    assert mappers.__all__ == sorted(mappers.__all__, key=lambda name: (kind(name), name))
    assert "map_webhook" in mappers.__all__


def test_order_topics_are_routed_per_platform() -> None:
    assert isinstance(map_webhook("shopify", "orders/paid", SHOPIFY_ORDER, CTX)[0], Upsert)
    assert isinstance(map_webhook("woocommerce", "order.created", WOO_ORDER, CTX)[0], Upsert)
    assert isinstance(map_webhook("woocommerce", "order.deleted", {"id": 1}, CTX)[0], Patch)


@pytest.mark.parametrize(
    ("platform", "topic"),
    [
        ("shopify", "orders/edited"),
        ("shopify", "orders/delete"),
        ("shopify", "refunds/create"),
        ("shopify", "order.created"),
        ("woocommerce", "orders/create"),
        ("woocommerce", "product.updated"),
        ("woocommerce", "action.woocommerce_new_order"),
        ("magento", "orders/create"),
        ("shopify", ""),
    ],
)
def test_other_topics_are_ignored_as_unsupported(platform: str, topic: str) -> None:
    assert map_webhook(platform, topic, SHOPIFY_ORDER, CTX) == [Ignored("unsupported_topic")]


@pytest.mark.parametrize("payload", [None, [], [SHOPIFY_ORDER], "order", 42])
def test_payloads_that_are_not_objects_are_ignored(payload: object) -> None:
    for platform, topic in [("shopify", "orders/create"), ("woocommerce", "order.deleted")]:
        assert map_webhook(platform, topic, payload, CTX) == [Ignored("no_id")]


@pytest.mark.parametrize("payload", [{"id": None}, {"id": {"nested": 1}}, {"id": "x"}])
def test_bodies_of_the_right_shape_without_a_usable_id_are_ignored(payload: object) -> None:
    assert map_webhook("woocommerce", "order.deleted", payload, CTX) == [Ignored("no_id")]
    order = {**SHOPIFY_ORDER, **payload}  # type: ignore[dict-item]
    assert map_webhook("shopify", "orders/create", order, CTX) == [Ignored("no_id")]


def test_an_error_delivered_instead_of_the_resource_is_named() -> None:
    error = {"code": "woocommerce_rest_cannot_view", "message": "…", "data": {"status": 401}}
    for topic in ("order.updated", "order.deleted", "customer.updated"):
        assert map_webhook("woocommerce", topic, error, CTX) == [Ignored("woocommerce_error_body")]
    assert map_webhook("shopify", "orders/create", {}, CTX) == [Ignored("not_an_order")]
