"""GraphQL nodes derived from the shop's REST-shaped records (see `shop.py`).

Each function returns a dict in the GraphQL shape; nested connections are callables that
graphql-core's default resolver calls with the field's arguments. Timestamps become UTC
`DateTime`s (`2026-11-20T09:15:00Z`), ids gids, integers `UnsignedInt64` strings, statuses
enum names, tags lists, money amounts `MoneyBag`s.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from typing import Any

import orjson
from graphql import GraphQLError

from bridge.emulators.shopify.shop import ShopData, gid, parse_time

MAX_PAGE_SIZE = 250

FULFILLMENT_STATUSES = {
    None: "UNFULFILLED",
    "unfulfilled": "UNFULFILLED",
    "partial": "PARTIALLY_FULFILLED",
    "fulfilled": "FULFILLED",
    "restocked": "RESTOCKED",
}

Node = dict[str, Any]


def datetime_value(value: object) -> str | None:
    moment = parse_time(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def money(amount: object, currency: str) -> dict[str, Any]:
    return {"amount": str(amount if amount is not None else "0.0"), "currencyCode": currency}


def money_bag(record: Mapping[str, Any], name: str, currency: str) -> dict[str, Any] | None:
    """`<name>_set` of a REST record as a MoneyBag (from `<name>` when there is no set)."""
    sets = record.get(f"{name}_set")
    if isinstance(sets, dict):
        shop, shown = sets.get("shop_money") or {}, sets.get("presentment_money") or {}
        return {
            "shopMoney": money(shop.get("amount"), shop.get("currency_code") or currency),
            "presentmentMoney": money(shown.get("amount"), shown.get("currency_code") or currency),
        }
    if record.get(name) is None:
        return None
    return {
        "shopMoney": money(record[name], currency),
        "presentmentMoney": money(record[name], currency),
    }


def tags(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(tag) for tag in value]
    if isinstance(value, str):
        return [tag.strip() for tag in value.split(",") if tag.strip()]
    return []


def attributes(value: object) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else []
    return [
        {
            "key": str(item.get("name")),
            "value": None if item.get("value") is None else str(item["value"]),
        }
        for item in items
        if isinstance(item, dict)
    ]


def address(value: object) -> Node | None:
    if not isinstance(value, dict):
        return None
    ident = value.get("id") or abs(hash(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)))
    return {
        "id": gid("MailingAddress", ident),
        "firstName": value.get("first_name"),
        "lastName": value.get("last_name"),
        "name": value.get("name"),
        "company": value.get("company"),
        "address1": value.get("address1"),
        "address2": value.get("address2"),
        "city": value.get("city"),
        "province": value.get("province"),
        "provinceCode": value.get("province_code"),
        "country": value.get("country"),
        "countryCodeV2": value.get("country_code"),
        "zip": value.get("zip"),
        "phone": value.get("phone"),
    }


# -- connections ----------------------------------------------------------------------------


def encode_cursor(position: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(position))).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = orjson.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, orjson.JSONDecodeError):
        raise GraphQLError("Invalid cursor for current pagination sort.") from None
    if not isinstance(value, list):
        raise GraphQLError("Invalid cursor for current pagination sort.")
    return value


def page_size(args: Mapping[str, Any]) -> tuple[int, bool]:
    """(`first` or `last`, whether it was `last`); Shopify's errors when neither or too many."""
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    if first is not None and last is not None:
        raise GraphQLError("providing both first and last is not supported")
    size = first if first is not None else last
    assert isinstance(size, int)
    if size < 0 or size > MAX_PAGE_SIZE:
        raise GraphQLError(
            f"The maximum page size is {MAX_PAGE_SIZE}; got {size}."
        )  # approximate wording
    return size, last is not None


def connection(
    items: Sequence[Any],
    args: Mapping[str, Any],
    *,
    position: Callable[[Any], list[Any]],
    node: Callable[[Any], Node],
) -> Node:
    """A Relay connection over `items` (already filtered and in sort order): `after`/`before`
    are keyset cursors (the sort position of an item), so a page stays right while records
    change between two requests."""
    size, from_end = page_size(args)
    positions = [position(item) for item in items]
    window = list(range(len(items)))
    if args.get("after"):
        after = decode_cursor(args["after"])
        window = [i for i in window if _after(positions[i], after, args)]
    if args.get("before"):
        before = decode_cursor(args["before"])
        window = [i for i in window if _after(before, positions[i], args)]
    chosen = window[-size:] if from_end else window[:size]
    if size == 0:
        chosen = []
    edges = [{"cursor": encode_cursor(positions[i]), "node": node(items[i])} for i in chosen]
    has_next = (
        bool(chosen) and chosen[-1] != window[-1] if not from_end else bool(args.get("before"))
    )
    has_previous = bool(chosen) and chosen[0] != window[0] if from_end else bool(args.get("after"))
    return {
        "edges": edges,
        "nodes": [edge["node"] for edge in edges],
        "pageInfo": {
            "hasNextPage": bool(has_next),
            "hasPreviousPage": bool(has_previous),
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def _after(position: list[Any], cursor: list[Any], args: Mapping[str, Any]) -> bool:
    """Whether `position` comes after `cursor` in the connection's order."""
    try:
        later = bool(tuple(position) > tuple(cursor))
    except TypeError:
        raise GraphQLError("Invalid cursor for current pagination sort.") from None
    return later != bool(args.get("reverse")) if tuple(position) != tuple(cursor) else False


def _inner(items: Sequence[Any], node: Callable[[Any], Node]) -> Callable[..., Node]:
    """A nested connection (line items) in the record's own order, paged by position."""

    def resolve(info: Any, **args: Any) -> Node:
        ordered = list(enumerate(items))
        if args.get("reverse"):
            ordered.reverse()
        return connection(
            ordered,
            {**args, "reverse": False},
            position=lambda pair: [pair[0] if not args.get("reverse") else -pair[0]],
            node=lambda pair: node(pair[1]),
        )

    return resolve


# -- records --------------------------------------------------------------------------------


def product(item: Mapping[str, Any]) -> Node | None:
    ident = item.get("product_id")
    if ident is None:
        return None
    return {
        "id": gid("Product", ident),
        "legacyResourceId": str(ident),
        "title": item.get("title") or "",
        "handle": str(item.get("title") or "").lower().replace(" ", "-"),
        "vendor": item.get("vendor") or "",
    }


def variant(item: Mapping[str, Any], currency: str) -> Node | None:
    ident = item.get("variant_id")
    if ident is None:
        return None
    return {
        "id": gid("ProductVariant", ident),
        "legacyResourceId": str(ident),
        "title": item.get("variant_title") or "Default Title",
        "displayName": f"{item.get('title')} - {item.get('variant_title') or 'Default Title'}",
        "sku": item.get("sku"),
        "price": str(item.get("price") or "0.00"),
    }


def line_item(item: Mapping[str, Any], currency: str) -> Node:
    quantity = int(item.get("quantity") or 0)
    unit = money_bag(item, "price", currency) or {
        "shopMoney": money("0.00", currency),
        "presentmentMoney": money("0.00", currency),
    }
    total = str(_decimal(item.get("price")) * quantity)
    return {
        "id": item.get("admin_graphql_api_id") or gid("LineItem", str(item.get("id"))),
        "title": item.get("title") or "",
        "name": item.get("name") or item.get("title") or "",
        "quantity": quantity,
        "currentQuantity": int(item.get("current_quantity", quantity) or 0),
        "sku": item.get("sku"),
        "variantTitle": item.get("variant_title"),
        "vendor": item.get("vendor"),
        "originalUnitPriceSet": unit,
        "discountedUnitPriceSet": unit,
        "originalTotalSet": {
            "shopMoney": money(total, currency),
            "presentmentMoney": money(total, currency),
        },
        "originalTotalPriceSet": {
            "shopMoney": money(total, currency),
            "presentmentMoney": money(total, currency),
        },
        "customAttributes": attributes(item.get("properties")),
        "product": product(item),
        "variant": variant(item, currency),
    }


def _decimal(value: object) -> Any:
    from decimal import Decimal, InvalidOperation

    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def fulfillment(record: Mapping[str, Any]) -> Node:
    numbers = record.get("tracking_numbers") or (
        [record["tracking_number"]] if record.get("tracking_number") else []
    )
    urls = record.get("tracking_urls") or (
        [record["tracking_url"]] if record.get("tracking_url") else []
    )
    tracking = [
        {
            "company": record.get("tracking_company"),
            "number": number,
            "url": urls[i] if i < len(urls) else None,
        }
        for i, number in enumerate(numbers)
    ]
    status = str(record.get("status") or "success").upper()
    shipment = record.get("shipment_status")

    def tracking_info(info: Any, first: int | None = None) -> list[dict[str, Any]]:
        return tracking[:first] if first is not None else tracking

    return {
        "id": record.get("admin_graphql_api_id") or gid("Fulfillment", record["id"]),
        "legacyResourceId": str(record["id"]),
        "name": record.get("name") or "",
        "status": status,
        "displayStatus": str(shipment).upper()
        if shipment
        else ("FULFILLED" if status == "SUCCESS" else None),
        "createdAt": datetime_value(record.get("created_at")),
        "updatedAt": datetime_value(record.get("updated_at")),
        "trackingInfo": tracking_info,
    }


def customer(record: Mapping[str, Any], shop: ShopData) -> Node:
    email = record.get("email")
    phone = record.get("phone")
    first, last = record.get("first_name"), record.get("last_name")
    display = " ".join(part for part in (first, last) if part) or email or phone or ""
    currency = record.get("currency") or shop.currency
    return {
        "id": record.get("admin_graphql_api_id") or gid("Customer", record["id"]),
        "legacyResourceId": str(record["id"]),
        "firstName": first,
        "lastName": last,
        "displayName": display,
        "locale": record.get("_locale") or "en",
        "note": record.get("note"),
        "state": str(record.get("state") or "enabled").upper(),
        "tags": tags(record.get("_tags") if "_tags" in record else record.get("tags")),
        "verifiedEmail": bool(record.get("verified_email")),
        "createdAt": datetime_value(record.get("created_at")),
        "updatedAt": datetime_value(record.get("updated_at")),
        "numberOfOrders": str(record.get("_orders_count") or 0),
        "amountSpent": money(record.get("_amount_spent") or "0.0", currency),
        "defaultAddress": address(record.get("default_address")),
        "defaultEmailAddress": {
            "emailAddress": email,
            "marketingState": record.get("_email_marketing_state") or "NOT_SUBSCRIBED",
            "marketingUpdatedAt": None,
        }
        if email
        else None,
        "defaultPhoneNumber": {
            "phoneNumber": phone,
            "marketingState": record.get("_sms_marketing_state") or "NOT_SUBSCRIBED",
            "marketingUpdatedAt": None,
        }
        if phone
        else None,
    }


def _linked_customer(embedded: object, shop: ShopData) -> Node | None:
    if not isinstance(embedded, dict) or embedded.get("id") is None:
        return None
    record = shop.customers.get(int(embedded["id"]), embedded)
    return customer(record, shop)


def order(record: Mapping[str, Any], shop: ShopData) -> Node:
    currency = record.get("currency") or shop.currency
    shown = record.get("presentment_currency") or currency
    items = [line_item(item, currency) for item in record.get("line_items") or []]
    fulfillments = [fulfillment(f) for f in record.get("fulfillments") or []]

    def fulfillment_list(
        info: Any, first: int | None = None, query: str | None = None
    ) -> list[Node]:
        return fulfillments[:first] if first is not None else fulfillments

    cancel_reason = record.get("cancel_reason")
    financial = record.get("financial_status")
    return {
        "id": record.get("admin_graphql_api_id") or gid("Order", record["id"]),
        "legacyResourceId": str(record["id"]),
        "name": record.get("name") or "",
        # GraphQL's `number` is the one in the name (#1001): REST's order_number, not its
        # `number` (1, 2, ...; shopify.dev, Order.number).
        "number": int(record.get("order_number") or record.get("number") or 0),
        "email": record.get("email") or None,
        "phone": record.get("phone"),
        "note": record.get("note"),
        "test": bool(record.get("test")),
        "confirmed": bool(record.get("confirmed", True)),
        "closed": record.get("closed_at") is not None,
        "tags": tags(record.get("tags")),
        "createdAt": datetime_value(record.get("created_at")),
        "updatedAt": datetime_value(record.get("updated_at")),
        "processedAt": datetime_value(record.get("processed_at") or record.get("created_at")),
        "closedAt": datetime_value(record.get("closed_at")),
        "cancelledAt": datetime_value(record.get("cancelled_at")),
        "cancelReason": str(cancel_reason).upper() if cancel_reason else None,
        "displayFinancialStatus": str(financial).upper() if financial else None,
        "displayFulfillmentStatus": FULFILLMENT_STATUSES.get(
            record.get("fulfillment_status"), "UNFULFILLED"
        ),
        "currencyCode": currency,
        "presentmentCurrencyCode": shown,
        "totalPriceSet": money_bag(record, "total_price", currency),
        "subtotalPriceSet": money_bag(record, "subtotal_price", currency),
        "totalTaxSet": money_bag(record, "total_tax", currency),
        "totalDiscountsSet": money_bag(record, "total_discounts", currency),
        "currentTotalPriceSet": money_bag(record, "current_total_price", currency)
        or money_bag(record, "total_price", currency),
        "customerLocale": record.get("customer_locale"),
        "sourceName": record.get("source_name"),
        "customAttributes": attributes(record.get("note_attributes")),
        "customer": _linked_customer(record.get("customer"), shop),
        "billingAddress": address(record.get("billing_address")),
        "shippingAddress": address(record.get("shipping_address")),
        "lineItems": _inner(items, lambda item: item),
        "fulfillments": fulfillment_list,
    }


def checkout(record: Mapping[str, Any], shop: ShopData) -> Node:
    currency = record.get("currency") or shop.currency
    items = [line_item(item, currency) for item in record.get("line_items") or []]
    total = money_bag(record, "total_price", currency)
    subtotal = money_bag(record, "subtotal_price", currency) or total
    codes = record.get("discount_codes") or []
    return {
        "id": gid("AbandonedCheckout", record["id"]),
        "name": record.get("name") or "",
        "abandonedCheckoutUrl": record.get("abandoned_checkout_url"),
        "note": record.get("note") or "",
        "createdAt": datetime_value(record.get("created_at")),
        "updatedAt": datetime_value(record.get("updated_at")),
        "completedAt": datetime_value(record.get("completed_at")),
        "taxesIncluded": bool(record.get("taxes_included")),
        "discountCodes": [str(c.get("code") if isinstance(c, dict) else c) for c in codes],
        "customAttributes": attributes(record.get("note_attributes")),
        "customer": _linked_customer(record.get("customer"), shop),
        "billingAddress": address(record.get("billing_address")),
        "shippingAddress": address(record.get("shipping_address")),
        "subtotalPriceSet": subtotal,
        "totalPriceSet": total,
        "lineItems": _inner(items, lambda item: item),
    }
