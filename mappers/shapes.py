"""What a body must look like to be read as its topic says.

Shopify and WooCommerce sign the body only: the topic header is a claim. A genuine body
re-sent under another topic (an order posted as `customers/redact`) must therefore be
refused by its shape, before any mapper reads it. Each topic names the shape of its body in
its mapper module (`SHAPES`, beside `TOPICS`): keys a body must carry, keys that only other
kinds of body carry, and for the bodies that are only an id (WooCommerce's deletions), that
nothing else is there. The destructive topics (erasures, deletions) get the strictest shapes.

Topics that share a shape share a mapper (`orders/create` and `orders/paid` map the same way),
so a body re-sent under a sibling topic changes nothing. The one pair of different topics
with the same shape is WooCommerce's `order.deleted` / `customer.deleted`: both bodies are
`{"id": N}`, and nothing signed tells them apart (README, Security).

Why the bridge does not also remember which topic each body digest was first seen under: the
shapes already tell every pair of kinds apart (tests/mappers/test_shapes.py re-sends every
sample body under every other topic), and for the one pair they cannot, a memory would refuse
genuine deliveries (`{"id": 5}` is both order 5 trashed and customer 5 deleted), while costing
a Redis write per webhook on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Shape:
    """The keys a body of one kind has (`required`), and keys that give away another kind
    (`forbidden`); `only`: the required keys are the whole body."""

    reason: str  # the Ignored reason when a body does not fit
    required: frozenset[str]
    forbidden: frozenset[str] = frozenset()
    only: bool = False

    def fits(self, body: dict[str, Any]) -> bool:
        """Whether `body` can be of this kind."""
        if self.only:
            return body.keys() == self.required
        return self.required <= body.keys() and self.forbidden.isdisjoint(body.keys())


def shape(
    reason: str, required: Iterable[str], forbidden: Iterable[str] = (), *, only: bool = False
) -> Shape:
    """A Shape from plain iterables."""
    return Shape(reason, frozenset(required), frozenset(forbidden), only)


# Keys that mark each kind of Shopify body (REST payloads, compliance and GraphQL-shaped
# topics), so that a shape can forbid the others' marks.
SHOPIFY_ORDER_MARKS = ("financial_status", "order_number")
SHOPIFY_CHECKOUT_MARKS = ("abandoned_checkout_url",)
SHOPIFY_CHILD_MARKS = ("order_id", "fulfillment_id", "refund_line_items")  # fulfillments, refunds
SHOPIFY_COMPLIANCE_MARKS = ("shop_domain", "orders_to_redact", "data_request")
SHOPIFY_SUMMARY_MARKS = ("customerId",)
SHOPIFY_CUSTOMER_MARKS = ("addresses", "verified_email")

# WooCommerce REST v3 bodies: orders carry an order key, customers a username and a role.
WOOCOMMERCE_ORDER_MARKS = ("order_key", "line_items")
WOOCOMMERCE_CUSTOMER_MARKS = ("username", "role")
