"""Shopify GraphQL nodes → Kanal actions: the selections are valid Admin API queries, the enum
tables cover Shopify's enums, the fixtures map to their reviewed goldens, and an order,
customer or checkout read from the API gives the body its webhook gives."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from graphql import GraphQLEnumType
from graphql_shop import new_shop, nodes, query, webhook
from mapper_fixtures import FIXTURES, as_json, golden

from bridge.emulators.kanal.validation import validate
from bridge.emulators.shopify.schema import parse_query, schema
from bridge.platforms import shopify_queries
from mappers import Ignored, Patch, StoreContext, Upsert, map_webhook, shopify
from mappers import shopify_graphql as graphql
from mappers.kanal import encode

CTX = StoreContext(default_country="FR")
SHOP = FIXTURES / "shopify"


def _enum(name: str) -> list[str]:
    found = schema().type_map[name]
    assert isinstance(found, GraphQLEnumType)
    return list(found.values)


# -- the documents -----------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["orders", "customers", "checkouts"])
def test_each_page_query_is_valid_against_the_admin_api_schema(resource: str) -> None:
    _, operation = parse_query(shopify_queries.page_query(resource))
    assert operation.name is not None


def test_the_line_item_queries_are_valid_too() -> None:
    parse_query(shopify_queries.ORDER_LINE_ITEMS)
    parse_query(shopify_queries.CHECKOUT_LINE_ITEMS)


def test_the_page_queries_select_the_mappers_own_selections() -> None:
    for resource, (selection, _) in graphql.RESOURCES.items():
        assert selection in shopify_queries.page_query(resource)


# -- the tables ------------------------------------------------------------------------------


def test_every_financial_status_maps_to_the_webhook_vocabulary() -> None:
    assert set(_enum("OrderDisplayFinancialStatus")) == set(graphql.FINANCIAL_STATUSES)
    assert set(graphql.FINANCIAL_STATUSES.values()) <= set(shopify.FINANCIAL_STATUSES)


def test_every_fulfillment_status_maps_to_the_webhook_vocabulary() -> None:
    assert set(_enum("OrderDisplayFulfillmentStatus")) == set(graphql.FULFILLMENT_STATUSES)
    assert set(graphql.FULFILLMENT_STATUSES.values()) <= set(shopify.FULFILLMENT_STATUSES)


def test_every_cancel_reason_is_the_webhooks_lower_cased() -> None:
    assert set(_enum("OrderCancelReason")) == set(graphql.CANCEL_REASONS)
    assert all(value == key.lower() for key, value in graphql.CANCEL_REASONS.items())


def test_an_unknown_status_is_passed_through_lower_cased() -> None:
    node = _fixture("graphql-order-paris.json")
    node["displayFinancialStatus"] = "SOMETHING_NEW"
    node["displayFulfillmentStatus"] = "AWAITING_PICKUP"
    [upsert] = graphql.map_order(node, CTX)
    assert isinstance(upsert, Upsert)
    assert upsert.body["financial_status"] == "something_new"
    assert upsert.body["fulfillment_status"] == "awaiting_pickup"


# -- goldens --------------------------------------------------------------------------------


def _fixture(name: str) -> dict[str, Any]:
    node = json.loads((SHOP / name).read_text())
    assert isinstance(node, dict)
    return node


def _set(path: tuple[str, ...], value: object) -> Callable[[dict[str, Any]], None]:
    def edit(node: dict[str, Any]) -> None:
        target = node
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


@dataclass(frozen=True)
class Case:
    name: str
    fixture: str
    mapper: Callable[[dict[str, Any], StoreContext], list[Any]]
    edits: tuple[Callable[[dict[str, Any]], None], ...] = ()
    ctx: StoreContext = CTX

    def node(self) -> dict[str, Any]:
        node = copy.deepcopy(_fixture(self.fixture))
        for edit in self.edits:
            edit(node)
        return node


CASES = [
    Case("graphql-order-docs-sample", "graphql-order-docs-sample.json", graphql.map_order),
    Case(
        "graphql-order-docs-sample.valid-phone",
        "graphql-order-docs-sample.json",
        graphql.map_order,
        (_set(("shippingAddress", "phone"), "(502) 555-0123"),),
    ),
    Case(
        "graphql-order-paris",
        "graphql-order-paris.json",
        graphql.map_order,
        ctx=StoreContext(default_country="FR", timezone="Europe/Paris"),
    ),
    Case("graphql-customer-gadget", "graphql-customer-gadget.json", graphql.map_customer),
    Case(
        "graphql-customer-gadget.valid-phone",
        "graphql-customer-gadget.json",
        graphql.map_customer,
        (_set(("defaultAddress", "phone"), "613-555-0135"),),
    ),
    Case(
        "graphql-checkout-gadget",
        "graphql-checkout-gadget.json",
        graphql.map_checkout,
        ctx=StoreContext(default_country="US", abandoned_after_minutes=15),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_graphql_fixture_maps_to_its_reviewed_golden(case: Case) -> None:
    actions = case.mapper(case.node(), case.ctx)
    actual = as_json(actions)
    assert actual == golden(case.name, actual)
    for action in actions:
        if isinstance(action, Upsert):
            body = json.loads(encode(action.body))
            assert validate(action.resource, body) == {}


def test_times_are_written_in_the_shops_offset_as_webhooks_write_them() -> None:
    node = _fixture("graphql-order-paris.json")
    [upsert] = graphql.map_order(node, StoreContext(timezone="Europe/Paris"))
    assert isinstance(upsert, Upsert)
    assert upsert.body["placed_at"] == "2026-11-20T10:15:00+01:00"
    [in_utc] = graphql.map_order(node, StoreContext(timezone="Not/AZone"))
    assert isinstance(in_utc, Upsert)
    assert in_utc.body["placed_at"] == "2026-11-20T09:15:00+00:00"
    assert in_utc.version == upsert.version  # the same instant


def test_amounts_get_the_two_decimals_webhooks_write() -> None:
    node = _fixture("graphql-order-paris.json")
    node["totalPriceSet"]["shopMoney"]["amount"] = "10.0"  # how Shopify's Decimal writes it
    node["lineItems"]["nodes"][0]["originalUnitPriceSet"]["shopMoney"]["amount"] = "5"
    [upsert] = graphql.map_order(node, CTX)
    assert isinstance(upsert, Upsert)
    assert encode({"t": upsert.body["total_price"]}) == b'{"t":10.00}'
    assert encode({"p": upsert.body["line_items"][0]["price"]}) == b'{"p":5.00}'


def test_a_checkout_without_a_recovery_token_is_not_sent() -> None:
    node = _fixture("graphql-checkout-gadget.json")
    node["abandonedCheckoutUrl"] = "https://shop.example/cart"
    assert graphql.map_checkout(node, CTX) == [Ignored("no_checkout_token")]


def test_consent_comes_from_the_customers_marketing_states() -> None:
    node = _fixture("graphql-checkout-gadget.json")
    strict = StoreContext(default_country="US")
    [upsert] = graphql.map_checkout(node, strict)
    assert isinstance(upsert, Upsert)
    assert upsert.body["metadata"]["accepts_sms_marketing"] is True
    assert upsert.body["metadata"]["accepts_marketing"] is False
    node["customer"]["defaultPhoneNumber"]["marketingState"] = "UNSUBSCRIBED"
    assert graphql.map_checkout(node, strict) == [Ignored("no_marketing_consent")]
    node["customer"] = None
    assert graphql.map_checkout(node, strict) == [Ignored("no_marketing_consent")]


def test_a_customer_without_a_phone_gets_no_figures() -> None:
    assert graphql.map_customer(_fixture("graphql-customer-gadget.json"), CTX) == [
        Ignored("no_phone")
    ]


# -- the same record, both ways --------------------------------------------------------------

PARIS = {"country_code": "FR", "first_name": "Camille", "last_name": "Martin"}


def _upserts(actions: list[Any]) -> list[Upsert]:
    return [action for action in actions if isinstance(action, Upsert)]


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"financial_status": "partially_refunded", "fulfillment_status": "partial"},
        {"financial_status": "refunded", "fulfillment_status": "fulfilled", "tags": "b, a"},
        {
            "cancelled_at": "2026-11-21T08:00:00+01:00",
            "cancel_reason": "customer",
            "financial_status": "voided",
        },
        {"financial_status": "authorized", "note_attributes": [{"name": "gift", "value": "yes"}]},
        {"financial_status": "pending", "test": True, "phone": "+33 6 98 76 54 32"},
        {"customer": {"id": 77, "phone": None, "email": None, "first_name": "Jo"}},
    ],
    ids=["paid", "partial", "refunded", "cancelled", "note", "pending", "no-customer-phone"],
)
def test_an_order_gives_the_same_body_as_a_webhook_and_as_a_graphql_node(
    changes: dict[str, Any],
) -> None:
    state = new_shop(utc_offset_minutes=60)
    ctx = StoreContext(default_country="FR", timezone=state.shop.iana_timezone())
    order = state.shop.create_order({"shipping_address": PARIS})
    if changes:
        order, _ = state.shop.update_order(order["id"], changes)
    from_webhook = _upserts(map_webhook("shopify", "orders/updated", webhook(order), ctx))
    [node] = nodes(state, "orders")
    from_api = _upserts(graphql.map_order(node, ctx))
    assert from_webhook and from_api == from_webhook


def test_a_customer_gives_the_same_body_and_figures_both_ways() -> None:
    state = new_shop(utc_offset_minutes=-300)
    ctx = StoreContext(default_country="US", timezone=state.shop.iana_timezone())
    customer = state.shop.create_customer(
        {
            "first_name": "Ada",
            "last_name": "Byron",
            "email": "ada@example.com",
            "phone": "+1 502-555-0188",
            "default_address": {"phone": "502 555 0100", "country_code": "US"},
            "_orders_count": 4,
            "_amount_spent": "1234.5",
        }
    )
    from_webhook = map_webhook("shopify", "customers/update", webhook(customer), ctx)
    [node] = nodes(state, "customers")
    upsert, figures = graphql.map_customer(node, ctx)
    assert [upsert] == from_webhook
    summary = {
        "customerId": customer["admin_graphql_api_id"],
        "numberOfOrders": 4,
        "amountSpent": {"amount": "1234.50", "currencyCode": "USD"},
        "occurredAt": node["updatedAt"],
    }
    assert [figures] == map_webhook("shopify", "customers/purchasing_summary", summary, ctx)
    assert isinstance(figures, Patch) and figures.fields["lifetime_value"] == 1235


@pytest.mark.parametrize("completed", [False, True])
def test_a_checkout_gives_the_same_body_both_ways(completed: bool) -> None:
    state = new_shop(utc_offset_minutes=60)
    ctx = StoreContext(default_country="FR", timezone=state.shop.iana_timezone())
    buyer = state.shop.create_customer(
        {
            "first_name": "Camille",
            "email": "camille@example.com",
            "phone": "+33612345678",
            "_email_marketing_state": "SUBSCRIBED",
        }
    )
    checkout = state.shop.create_checkout(
        {
            "customer_id": buyer["id"],
            "email": "camille@example.com",
            "phone": "+33612345678",
            "buyer_accepts_marketing": True,
            "name": "#1042",
            # Not on the Admin API's AbandonedCheckout: left out of the comparison.
            "source_name": None,
            "customer_locale": None,
            "shipping_address": {"country_code": "FR", "first_name": "Camille"},
        }
    )
    if completed:
        checkout = state.shop.update_checkout(
            checkout["id"], {"completed_at": state.shop.stamp(checkout["updated_at"])}
        )
    body = {k: v for k, v in webhook(checkout).items() if k != "id"}
    from_webhook = map_webhook("shopify", "checkouts/update", body, ctx)
    [node] = nodes(state, "checkouts")
    from_api = graphql.map_checkout(node, ctx)
    assert from_api == from_webhook
    assert from_api[0].external_id == checkout["cart_token"]  # the recovery URL's token


def test_line_items_past_the_first_page_are_read_by_the_follow_up_query() -> None:
    state = new_shop()
    items = [
        {"title": f"Item {n}", "quantity": 1, "price": "1.00", "product_id": 1000 + n}
        for n in range(7)
    ]
    order = state.shop.create_order({"line_items": items})
    [node] = nodes(state, "orders")
    assert len(node["lineItems"]["nodes"]) == graphql.LINE_ITEMS_FIRST
    assert node["lineItems"]["pageInfo"]["hasNextPage"]
    after = node["lineItems"]["pageInfo"]["endCursor"]
    rest = query(state, shopify_queries.ORDER_LINE_ITEMS, {"id": node["id"], "after": after})
    node["lineItems"]["nodes"] += rest["order"]["lineItems"]["nodes"]
    from_webhook = _upserts(map_webhook("shopify", "orders/updated", webhook(order), CTX))
    assert _upserts(graphql.map_order(node, CTX)) == from_webhook
    assert len(from_webhook[0].body["line_items"]) == 7


def test_docs_mapping_lists_the_graphql_status_tables() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "mapping.md").read_text()
    for source, target in graphql.FINANCIAL_STATUSES.items():
        assert f"| `{source}` | `{target}` |" in doc
    for key, value in graphql.FULFILLMENT_STATUSES.items():
        assert f"| `{key}` | `{'null' if value is None else value}` |" in doc
