"""Shopify GraphQL Admin API nodes → Kanal actions (what backfill and reconciliation read).

A node is rewritten into the shape Shopify's webhooks carry (snake_case, numeric ids, the
REST status vocabulary, comma-free tag lists, times in the shop's offset), then mapped by the
webhook mapper itself. So an order reaches Kanal with the same body whichever way it arrives,
and a record fetched after its webhook costs no call (same version, same digests): the
tables below are the whole difference between the two shapes.

Each `*_SELECTION` is the GraphQL selection of one node: exactly the fields the rewrite reads
(tests/mappers/test_shopify_graphql.py checks them against the emulator's schema). Fields
that webhooks no longer carry (a customer's tags, locale and marketing consent since API
2025-01) are not sent from the API either: a later webhook would replace them with nothing.

Not available from the Admin API, so not sent: the checkout an order came from (GraphQL has
no `checkout_token`; the order's checkout is recovered by the order's webhook), and a
checkout's `source_name`. Fulfillments are not fetched: they are shipments, and Kanal sends a
shipping notification for every shipment it receives.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mappers import dates, money, payload, shopify, shopify_checkouts, shopify_customers
from mappers.actions import Action, Ignored, StoreContext, Upsert

# OrderDisplayFinancialStatus → the webhook's financial_status. Unknown values are lowered
# and passed through, as the webhook mapper passes unknown statuses through.
FINANCIAL_STATUSES: dict[str, str] = {
    "PENDING": "pending",
    "AUTHORIZED": "authorized",
    "PARTIALLY_PAID": "partially_paid",
    "PAID": "paid",
    "PARTIALLY_REFUNDED": "partially_refunded",
    "REFUNDED": "refunded",
    "VOIDED": "voided",
    "EXPIRED": "expired",
}

# OrderDisplayFulfillmentStatus → the webhook's fulfillment_status. The webhook says null for
# every state in which nothing has shipped yet (the fulfillment-order states of GraphQL).
FULFILLMENT_STATUSES: dict[str, str | None] = {
    "UNFULFILLED": None,
    "PARTIALLY_FULFILLED": "partial",
    "FULFILLED": "fulfilled",
    "RESTOCKED": "restocked",
    "PENDING_FULFILLMENT": None,
    "OPEN": None,
    "IN_PROGRESS": None,
    "ON_HOLD": None,
    "SCHEDULED": None,
    "REQUEST_DECLINED": None,
}

# OrderCancelReason → the webhook's cancel_reason.
CANCEL_REASONS: dict[str, str] = {
    "CUSTOMER": "customer",
    "DECLINED": "declined",
    "FRAUD": "fraud",
    "INVENTORY": "inventory",
    "STAFF": "staff",
    "OTHER": "other",
}

# The marketing state that is consent (CustomerEmailAddressMarketingState,
# CustomerSmsMarketingState); every other state is not.
CONSENTED = "SUBSCRIBED"

# Line items fetched with each node; an order or checkout with more has the rest fetched
# page by page (bridge.platforms.sources) before it is mapped.
LINE_ITEMS_FIRST = 5

ADDRESS_SELECTION = "firstName lastName phone countryCodeV2"
_LINE_ITEM_COMMON = (
    "title quantity sku variantTitle product { legacyResourceId } variant { legacyResourceId }"
)
ORDER_LINE_ITEM_SELECTION = (
    f"{_LINE_ITEM_COMMON} name originalUnitPriceSet {{ shopMoney {{ amount }} }}"
)
CHECKOUT_LINE_ITEM_SELECTION = (
    f"{_LINE_ITEM_COMMON} originalUnitPriceSet {{ presentmentMoney {{ amount }} }}"
)
_BUYER = (
    "legacyResourceId firstName lastName defaultEmailAddress { emailAddress marketingState } "
    f"defaultPhoneNumber {{ phoneNumber marketingState }} defaultAddress {{ {ADDRESS_SELECTION} }}"
)
ORDER_SELECTION = f"""
  id legacyResourceId name number email phone test tags
  createdAt updatedAt processedAt cancelledAt cancelReason
  displayFinancialStatus displayFulfillmentStatus currencyCode
  totalPriceSet {{ shopMoney {{ amount }} }}
  customerLocale sourceName
  customAttributes {{ key value }}
  customer {{ legacyResourceId firstName lastName defaultEmailAddress {{ emailAddress }}
    defaultPhoneNumber {{ phoneNumber }} defaultAddress {{ {ADDRESS_SELECTION} }} }}
  billingAddress {{ {ADDRESS_SELECTION} }}
  shippingAddress {{ {ADDRESS_SELECTION} }}
  lineItems(first: {LINE_ITEMS_FIRST}) {{
    nodes {{ {ORDER_LINE_ITEM_SELECTION} }} pageInfo {{ hasNextPage endCursor }}
  }}
"""
CUSTOMER_SELECTION = f"""
  id legacyResourceId firstName lastName createdAt updatedAt
  defaultEmailAddress {{ emailAddress }} defaultPhoneNumber {{ phoneNumber }}
  defaultAddress {{ {ADDRESS_SELECTION} }}
  numberOfOrders amountSpent {{ amount }}
"""
CHECKOUT_SELECTION = f"""
  id name abandonedCheckoutUrl createdAt updatedAt completedAt
  customer {{ {_BUYER} }}
  billingAddress {{ {ADDRESS_SELECTION} }}
  shippingAddress {{ {ADDRESS_SELECTION} }}
  totalPriceSet {{ shopMoney {{ currencyCode }} presentmentMoney {{ amount currencyCode }} }}
  lineItems(first: {LINE_ITEMS_FIRST}) {{
    nodes {{ {CHECKOUT_LINE_ITEM_SELECTION} }} pageInfo {{ hasNextPage endCursor }}
  }}
"""

_GID = re.compile(r"gid://shopify/[A-Za-z]+/([0-9]+)")
_CENTS = Decimal("0.01")

Node = dict[str, Any]


def _at(node: object, *path: str) -> Any:
    value: Any = node
    for key in path:
        value = payload.obj(value).get(key)
    return value


def _zone(ctx: StoreContext) -> ZoneInfo | None:
    if not ctx.timezone:
        return None
    try:
        return ZoneInfo(ctx.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_time(value: object, zone: ZoneInfo | None) -> str | None:
    """A GraphQL DateTime (UTC) as webhooks write it: in the shop's offset, whole seconds."""
    moment = dates.instant(value)
    if moment is None:
        return None
    if zone is not None:
        moment = moment.astimezone(zone)
    return moment.replace(microsecond=0).isoformat()


def amount(value: object) -> str | None:
    """A GraphQL Decimal amount as webhooks write it: at least two decimals ("10.0" → "10.00")."""
    number = money.to_decimal(value)
    if number is None:
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        number = number.quantize(_CENTS)
    return format(number, "f")


def _enum(value: object, table: dict[str, str]) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return table.get(value, value.lower())


def legacy_id(value: object) -> str | None:
    """A numeric id from a gid (`gid://shopify/Order/820982911946154508`) or a digit string."""
    if isinstance(value, str) and (match := _GID.fullmatch(value.strip())):
        return payload.ident(match.group(1))
    return payload.ident(value)


def _number(value: object) -> int | None:
    """An UnsignedInt64 (a JSON string) or Int as an int."""
    text = payload.ident(value)
    return int(text) if text is not None else None


def rest_address(node: object) -> dict[str, Any] | None:
    if not isinstance(node, dict):
        return None
    return {
        "first_name": node.get("firstName"),
        "last_name": node.get("lastName"),
        "phone": node.get("phone"),
        "country_code": node.get("countryCodeV2"),
    }


def _buyer(node: object) -> dict[str, Any] | None:
    """A customer as an order or checkout webhook embeds it."""
    if not isinstance(node, dict):
        return None
    return {
        "id": node.get("legacyResourceId"),
        "first_name": node.get("firstName"),
        "last_name": node.get("lastName"),
        "email": _at(node, "defaultEmailAddress", "emailAddress"),
        "phone": _at(node, "defaultPhoneNumber", "phoneNumber"),
        "default_address": rest_address(node.get("defaultAddress")),
    }


def _line_items(node: Node, money_field: str) -> list[dict[str, Any]]:
    items = []
    for item in payload.objs(_at(node, "lineItems", "nodes")):
        items.append(
            {
                "title": item.get("title"),
                "name": item.get("name"),
                "quantity": item.get("quantity"),
                "price": amount(_at(item, "originalUnitPriceSet", money_field, "amount")),
                "sku": item.get("sku"),
                "product_id": _at(item, "product", "legacyResourceId"),
                "variant_id": _at(item, "variant", "legacyResourceId"),
                "variant_title": item.get("variantTitle"),
            }
        )
    return items


def rest_order(node: Node, ctx: StoreContext) -> dict[str, Any]:
    """An Order node in the shape of an order webhook (the fields the mapper reads)."""
    zone = _zone(ctx)
    cancelled = local_time(node.get("cancelledAt"), zone)
    fulfillment = node.get("displayFulfillmentStatus")
    return {
        "id": node.get("legacyResourceId") or legacy_id(node.get("id")),
        "name": node.get("name"),
        "order_number": node.get("number"),
        "email": node.get("email"),
        "phone": node.get("phone"),
        "test": node.get("test"),
        "tags": node.get("tags"),
        "created_at": local_time(node.get("createdAt"), zone),
        "updated_at": local_time(node.get("updatedAt"), zone),
        "processed_at": local_time(node.get("processedAt"), zone),
        "cancelled_at": cancelled,
        "cancel_reason": _enum(node.get("cancelReason"), CANCEL_REASONS) if cancelled else None,
        "financial_status": _enum(node.get("displayFinancialStatus"), FINANCIAL_STATUSES),
        "fulfillment_status": FULFILLMENT_STATUSES.get(fulfillment, fulfillment.lower())
        if isinstance(fulfillment, str)
        else None,
        "currency": node.get("currencyCode"),
        "total_price": amount(_at(node, "totalPriceSet", "shopMoney", "amount")),
        "customer_locale": node.get("customerLocale"),
        "source_name": node.get("sourceName"),
        "note_attributes": [
            {"name": attribute.get("key"), "value": attribute.get("value")}
            for attribute in payload.objs(node.get("customAttributes"))
        ],
        "customer": _buyer(node.get("customer")),
        "billing_address": rest_address(node.get("billingAddress")),
        "shipping_address": rest_address(node.get("shippingAddress")),
        "line_items": _line_items(node, "shopMoney"),
    }


def rest_customer(node: Node, ctx: StoreContext) -> dict[str, Any]:
    """A Customer node in the shape of a customers/update webhook."""
    zone = _zone(ctx)
    address = rest_address(node.get("defaultAddress"))
    return {
        "id": node.get("legacyResourceId") or legacy_id(node.get("id")),
        "first_name": node.get("firstName"),
        "last_name": node.get("lastName"),
        "email": _at(node, "defaultEmailAddress", "emailAddress"),
        "phone": _at(node, "defaultPhoneNumber", "phoneNumber"),
        "created_at": local_time(node.get("createdAt"), zone),
        "updated_at": local_time(node.get("updatedAt"), zone),
        "default_address": address,
        "addresses": [address] if address else [],
    }


def rest_purchasing_summary(node: Node) -> dict[str, Any]:
    """A Customer node's order count and amount spent as customers/purchasing_summary
    carries them (the webhook that keeps them in Kanal)."""
    return {
        "customerId": node.get("id") or node.get("legacyResourceId"),
        "numberOfOrders": _number(node.get("numberOfOrders")),
        "amountSpent": {"amount": _at(node, "amountSpent", "amount")},
        "occurredAt": node.get("updatedAt"),
    }


def consent(customer: object) -> dict[str, bool]:
    """The buyer's marketing consent as a checkout webhook carries it, from the customer's
    e-mail and SMS marketing states."""
    return {
        "buyer_accepts_marketing": _at(customer, "defaultEmailAddress", "marketingState")
        == CONSENTED,
        "buyer_accepts_sms_marketing": _at(customer, "defaultPhoneNumber", "marketingState")
        == CONSENTED,
    }


def rest_checkout(node: Node, ctx: StoreContext) -> dict[str, Any]:
    """An AbandonedCheckout node in the shape of a checkouts/update webhook. Amounts are the
    buyer's (presentment) ones, as the webhook's `total_price`, in their own currency."""
    zone = _zone(ctx)
    customer = node.get("customer")
    agreed = consent(customer)
    shown = _at(node, "totalPriceSet", "presentmentMoney")
    return {
        "abandoned_checkout_url": node.get("abandonedCheckoutUrl"),
        "name": node.get("name"),
        "created_at": local_time(node.get("createdAt"), zone),
        "updated_at": local_time(node.get("updatedAt"), zone),
        "completed_at": local_time(node.get("completedAt"), zone),
        "currency": _at(shown, "currencyCode"),
        "presentment_currency": _at(shown, "currencyCode"),
        "total_price": amount(_at(shown, "amount")),
        **agreed,
        "sms_marketing_phone": _at(customer, "defaultPhoneNumber", "phoneNumber")
        if agreed["buyer_accepts_sms_marketing"]
        else None,
        "customer": _buyer(customer),
        "billing_address": rest_address(node.get("billingAddress")),
        "shipping_address": rest_address(node.get("shippingAddress")),
        "line_items": _line_items(node, "presentmentMoney"),
    }


def map_order(node: Node, ctx: StoreContext) -> list[Action]:
    """An Order node → the order upsert its webhook would give, or why not."""
    return shopify.map_order(rest_order(node, ctx), ctx)


def map_customer(node: Node, ctx: StoreContext) -> list[Action]:
    """A Customer node → the customer upsert its webhook would give, with its order count and
    amount spent (as customers/purchasing_summary gives them), or why not."""
    actions = shopify_customers.map_customer(rest_customer(node, ctx), ctx)
    if not any(isinstance(action, Upsert) for action in actions):
        return actions
    figures = shopify_customers.map_purchasing_summary(rest_purchasing_summary(node), ctx)
    return actions + [a for a in figures if not isinstance(a, Ignored)]


def map_checkout(node: Node, ctx: StoreContext) -> list[Action]:
    """An AbandonedCheckout node → the checkout upsert (or completion) its webhook would give,
    keyed by the token of its recovery URL, or why not."""
    rest = rest_checkout(node, ctx)
    if shopify_checkouts.recovery_token(rest["abandoned_checkout_url"]) is None:
        return [Ignored("no_checkout_token")]
    return shopify_checkouts.map_checkout(rest, ctx)


Mapper = Callable[[Node, StoreContext], list[Action]]

# resource → (the node's selection, its mapper)
RESOURCES: dict[str, tuple[str, Mapper]] = {
    "orders": (ORDER_SELECTION, map_order),
    "customers": (CUSTOMER_SELECTION, map_customer),
    "checkouts": (CHECKOUT_SELECTION, map_checkout),
}


def updated_at(node: Node) -> datetime | None:
    """When the node last changed (its `updatedAt`)."""
    return dates.instant(node.get("updatedAt"))
