"""A body is read only as the kind its shape says: a genuine body re-sent under another topic
(the topic header is not signed) is refused before any mapper reads it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mapper_fixtures import FIXTURES, order_fixtures

from mappers import (
    PLATFORMS,
    SHAPES,
    Delete,
    Ignored,
    Patch,
    StoreContext,
    map_webhook,
)

CTX = StoreContext(default_country="US", checkouts_require_consent=False)


def _sample(path: str) -> dict[str, Any]:
    document = json.loads((FIXTURES / path).read_text())
    body = document.get("response", document)
    assert isinstance(body, dict)
    return body


# One genuine body of each kind the platforms send, with the topic it came under.
GENUINE: list[tuple[str, str, str, dict[str, Any]]] = [
    *(
        (
            f.name,
            f.platform,
            "orders/updated" if f.platform == "shopify" else "order.updated",
            f.payload,
        )
        for f in order_fixtures()
    ),
    (
        "checkout",
        "shopify",
        "checkouts/create",
        _sample("shopify/gadget-2026-04-checkouts-create.json"),
    ),
    (
        "checkout deleted",
        "shopify",
        "checkouts/delete",
        _sample("shopify/gadget-2026-04-checkouts-delete.json"),
    ),
    (
        "customer",
        "shopify",
        "customers/create",
        _sample("shopify/gadget-2026-04-customers-create.json"),
    ),
    (
        "purchasing summary",
        "shopify",
        "customers/purchasing_summary",
        _sample("shopify/gadget-2026-04-customers-purchasing-summary.json"),
    ),
    (
        "redact",
        "shopify",
        "customers/redact",
        _sample("shopify/gadget-metadata-2026-04-customers-redact.json"),
    ),
    (
        "data request",
        "shopify",
        "customers/data_request",
        _sample("shopify/gadget-2026-04-customers-data-request.json"),
    ),
    ("shop redact", "shopify", "shop/redact", _sample("shopify/gadget-2026-04-shop-redact.json")),
    (
        "fulfillment",
        "shopify",
        "fulfillments/update",
        _sample("shopify/gadget-2025-10-fulfillments-update.json"),
    ),
    (
        "fulfillment event",
        "shopify",
        "fulfillment_events/create",
        _sample("shopify/gadget-2025-01-fulfillment-events-create.json"),
    ),
    # Topics the bridge does not map, but whose bodies a shop signs with the same secret.
    (
        "refund",
        "shopify",
        "refunds/create",
        _sample("shopify/gadget-metadata-2026-04-refunds-create.json"),
    ),
    (
        "order edit",
        "shopify",
        "orders/edited",
        _sample("shopify/gadget-metadata-2026-04-orders-edited.json"),
    ),
    (
        "wc customer",
        "woocommerce",
        "customer.updated",
        _sample("woocommerce/docs-v3-retrieve-customer.json"),
    ),
    ("wc order trashed", "woocommerce", "order.deleted", {"id": 727}),
]

# Different topics whose bodies have the same shape: nothing signed tells them apart.
SAME_SHAPE = {frozenset({"order.deleted", "customer.deleted"})}


def test_every_topic_has_a_shape_and_every_shape_a_topic() -> None:
    for platform, topics in PLATFORMS.items():
        assert set(SHAPES[platform]) == set(topics), platform


@pytest.mark.parametrize(
    ("name", "platform", "topic", "body"), GENUINE, ids=[g[0] for g in GENUINE]
)
def test_a_genuine_body_fits_its_own_topic(
    name: str, platform: str, topic: str, body: dict[str, Any]
) -> None:
    if topic in SHAPES[platform]:
        assert SHAPES[platform][topic].fits(body), name


@pytest.mark.parametrize(
    ("name", "platform", "topic", "body"), GENUINE, ids=[g[0] for g in GENUINE]
)
def test_a_genuine_body_re_sent_under_another_kind_of_topic_is_refused(
    name: str, platform: str, topic: str, body: dict[str, Any]
) -> None:
    own = SHAPES[platform].get(topic)
    for other, shape in SHAPES[platform].items():
        if shape == own or frozenset({topic, other}) in SAME_SHAPE:
            continue
        assert map_webhook(platform, other, body, CTX) == [Ignored(shape.reason)], (name, other)


def test_an_order_re_sent_as_an_erasure_deletes_nothing() -> None:
    [order] = [f.payload for f in order_fixtures() if f.platform == "shopify"][:1]
    actions = map_webhook("shopify", "customers/redact", order, CTX)
    assert actions == [Ignored("not_a_redact_request")]
    assert not [a for a in actions if isinstance(a, Delete)]


def test_a_woocommerce_order_re_sent_as_a_deletion_changes_nothing() -> None:
    [order] = [f.payload for f in order_fixtures() if f.platform == "woocommerce"][:1]
    for topic in ("order.deleted", "customer.deleted"):
        actions = map_webhook("woocommerce", topic, order, CTX)
        assert actions == [Ignored("not_a_deletion")]
        assert not [a for a in actions if isinstance(a, Delete | Patch)]


@pytest.mark.parametrize(
    "body",
    [{"id": 7, "status": "trash"}, {"id": 7, "date_modified_gmt": "2026-01-01T00:00:00"}, {}],
)
def test_a_deletion_is_the_id_and_nothing_else(body: dict[str, Any]) -> None:
    for topic in ("order.deleted", "customer.deleted"):
        assert map_webhook("woocommerce", topic, body, CTX) == [Ignored("not_a_deletion")]


def test_an_erasure_request_needs_every_field_shopify_sends() -> None:
    redact = _sample("shopify/gadget-metadata-2026-04-customers-redact.json")
    assert isinstance(map_webhook("shopify", "customers/redact", redact, CTX)[0], Delete)
    for key in ("shop_domain", "shop_id", "customer", "orders_to_redact"):
        partial = {k: v for k, v in redact.items() if k != key}
        assert map_webhook("shopify", "customers/redact", partial, CTX) == [
            Ignored("not_a_redact_request")
        ], key
    with_items = {**redact, "line_items": []}
    assert map_webhook("shopify", "customers/redact", with_items, CTX) == [
        Ignored("not_a_redact_request")
    ]
