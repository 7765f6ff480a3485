"""The page queries' requested cost, by the emulator's cost rules (Shopify's): what the
comments in bridge/platforms/shopify_queries.py and the README say."""

from __future__ import annotations

import pytest

from bridge.emulators.shopify.cost import MAX_QUERY_COST, QueryCost
from bridge.emulators.shopify.schema import parse_query, schema
from bridge.platforms import shopify_queries


def requested(document: str, variables: dict[str, object]) -> int:
    _, operation = parse_query(document)
    return QueryCost(schema(), {}, variables).requested(operation)


@pytest.mark.parametrize(
    ("resource", "cost"), [("orders", 742), ("customers", 752), ("checkouts", 742)]
)
def test_a_default_page_asks_under_800_of_the_1000_points_a_query_may_cost(
    resource: str, cost: int
) -> None:
    first = shopify_queries.PAGE_SIZES[resource]
    assert requested(shopify_queries.page_query(resource), {"first": first}) == cost
    assert cost < 800 < MAX_QUERY_COST


def test_the_rest_of_the_line_items_asks_about_500_points() -> None:
    assert requested(shopify_queries.ORDER_LINE_ITEMS, {}) == 503
    assert requested(shopify_queries.CHECKOUT_LINE_ITEMS, {}) == 505
