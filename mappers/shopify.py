"""Shopify order webhooks → Kanal orders.

Statuses stay in Shopify's own vocabulary (the tables below are the whole
translation). A cancelled order (`cancelled_at` set) is sent with
fulfillment_status "cancelled", whatever Shopify's fulfillment_status says, so
it never looks like a live unfulfilled order; `cancel_reason` goes in metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlsplit

from mappers import dates, kanal, money, payload, phone, shapes
from mappers.actions import Action, Ignored, Patch, StoreContext, Upsert

# financial_status: Shopify's vocabulary, sent as is. Absent/null: the field is left out.
# An unknown value is passed through (cut to Kanal's 64 characters): Kanal's field is free text.
FINANCIAL_STATUSES: dict[str, str] = {
    "pending": "pending",
    "authorized": "authorized",
    "partially_paid": "partially_paid",
    "paid": "paid",
    "partially_refunded": "partially_refunded",
    "refunded": "refunded",
    "voided": "voided",
    "expired": "expired",
}

# fulfillment_status: JSON null means nothing is fulfilled yet. Unknown values pass through.
FULFILLMENT_STATUSES: dict[str | None, str] = {
    None: "unfulfilled",
    "unfulfilled": "unfulfilled",
    "partial": "partial",
    "fulfilled": "fulfilled",
    "restocked": "restocked",
}

# Overrides fulfillment_status whenever `cancelled_at` is set.
CANCELLED = "cancelled"

# What an order tells Kanal about the checkout it was placed from (`checkout_token`,
# `cart_token`).
CHECKOUT_RECOVERED = "recovered"
CHECKOUT_FIELDS = ("checkout_token", "cart_token")

# Order timestamps tried for placed_at, in order; with none usable the order is ignored.
PLACED_AT_FIELDS = ("processed_at", "created_at", "updated_at")

# Phone candidates, in order: (path to the number, address giving its country).
# Numbers outside an address use the shipping, then billing, country as region.
PHONE_FIELDS: tuple[tuple[tuple[str, ...], tuple[str, ...] | None], ...] = (
    (("customer", "phone"), None),
    (("phone",), None),
    (("shipping_address", "phone"), ("shipping_address",)),
    (("billing_address", "phone"), ("billing_address",)),
    (("customer", "default_address", "phone"), ("customer", "default_address")),
)

NOTE_ATTRIBUTES_MAX = 20

# Where a signed body names its shop: compliance bodies carry `shop_domain`; orders and
# checkouts carry links whose host is the shop's myshopify.com domain, unless the shop has a
# custom domain (which says nothing about which shop it is).
SHOP_DOMAIN_FIELD = "shop_domain"
SHOP_LINK_FIELDS = ("order_status_url", "abandoned_checkout_url")
MYSHOPIFY = ".myshopify.com"


def at(data: dict[str, Any], path: tuple[str, ...]) -> object:
    value: object = data
    for key in path:
        value = payload.obj(value).get(key)
    return value


def _status(value: object, table: dict[str, str]) -> str | None:
    text = kanal.cut(value, kanal.STATUS_MAX)
    if text is None:
        return None
    return table.get(text.lower(), text)


def _fulfillment(order: dict[str, Any]) -> str:
    if kanal.clean(order.get("cancelled_at")) is not None:
        return CANCELLED
    text = kanal.cut(order.get("fulfillment_status"), kanal.STATUS_MAX)
    if text is None:
        return FULFILLMENT_STATUSES[None]
    return FULFILLMENT_STATUSES.get(text.lower(), text)


def _country(address: object) -> str | None:
    return kanal.clean(payload.obj(address).get("country_code"))


def buyer_phone(order: dict[str, Any], ctx: StoreContext) -> str | None:
    buyer_country = _country(order.get("shipping_address")) or _country(
        order.get("billing_address")
    )
    candidates: list[tuple[str | None, str | None]] = []
    for path, address in PHONE_FIELDS:
        raw = at(order, path)
        country = _country(at(order, address)) if address else buyer_country
        candidates.append((raw if isinstance(raw, str) else None, country))
    return phone.to_e164(candidates, ctx.default_country)


def split_tags(value: object) -> list[str]:
    """Shopify serialises tags as one comma-separated string; a list is taken too. At most
    TAGS_MAX are kept."""
    parts: list[object] = []
    if isinstance(value, str):
        parts.extend(value.split(","))
    elif isinstance(value, list):
        parts.extend(value)
    tags: dict[str, None] = {}  # ordered and de-duplicated
    for part in parts:
        tag = kanal.cut(part, kanal.NAME_MAX)
        if tag is not None:
            tags[tag] = None
            if len(tags) == kanal.TAGS_MAX:
                break
    return list(tags)


def _first(order: dict[str, Any], field: str) -> str | None:
    for source in (
        order.get("customer"),
        order.get("shipping_address"),
        order.get("billing_address"),
        at(order, ("customer", "default_address")),
    ):
        value = kanal.cut(payload.obj(source).get(field), kanal.NAME_MAX)
        if value is not None:
            return value
    return None


def buyer(order: dict[str, Any], e164: str) -> dict[str, Any]:
    customer = payload.obj(order.get("customer"))
    body: dict[str, Any] = {"phone": e164}
    fields: dict[str, Any] = {
        "external_id": payload.ident(customer.get("id")),
        "first_name": _first(order, "first_name"),
        "last_name": _first(order, "last_name"),
        "email": kanal.email(customer.get("email"))
        or kanal.email(order.get("email"))
        or kanal.email(order.get("contact_email")),
        "locale": kanal.cut(order.get("customer_locale"), kanal.LOCALE_MAX),
        "tags": split_tags(customer.get("tags")) or None,
        # Legacy payloads only (removed from order webhooks in API 2022-04): never invented.
        "orders_count": payload.count(customer.get("orders_count")),
        "lifetime_value": whole_units(customer.get("total_spent")),
    }
    body.update({key: value for key, value in fields.items() if value is not None})
    return body


def whole_units(value: object) -> int | None:
    """Kanal's lifetime_value is an integer: the amount rounded to whole currency units."""
    amount = money.to_amount(value)
    if amount is None:
        return None
    units = int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return payload.count(units)


def line_item(item: dict[str, Any]) -> dict[str, Any]:
    price = money.to_amount(item.get("price"))
    if price is None:
        price = money.to_amount(at(item, ("price_set", "shop_money", "amount")))
    fields: dict[str, Any] = {
        "title": kanal.cut(item.get("title"), kanal.NAME_MAX)
        or kanal.cut(item.get("name"), kanal.NAME_MAX),
        "quantity": payload.count(item.get("quantity")),
        "price": price,
        "sku": kanal.cut(item.get("sku"), kanal.NAME_MAX),
        "product_id": payload.ident(item.get("product_id")),
        "variant_id": payload.ident(item.get("variant_id")),
        "variant_title": kanal.cut(item.get("variant_title"), kanal.NAME_MAX),
    }
    return {key: value for key, value in fields.items() if value is not None}


def line_items(order: dict[str, Any]) -> list[dict[str, Any]]:
    """The first LINE_ITEMS_MAX line items (Kanal's limit; real orders stay far below)."""
    return payload.objs(order.get("line_items"), kanal.LINE_ITEMS_MAX)


def _note_attributes(value: object) -> dict[str, str]:
    notes: dict[str, str] = {}
    for attribute in payload.objs(value)[:NOTE_ATTRIBUTES_MAX]:
        name = kanal.cut(attribute.get("name"), kanal.NAME_MAX)
        raw = attribute.get("value")
        text = kanal.cut(raw if isinstance(raw, str) else None, kanal.NAME_MAX)
        if name is not None and text is not None:
            notes[name] = text
    return notes


def _metadata(order: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "platform": "shopify",
        "order_name": kanal.cut(order.get("name"), kanal.NAME_MAX),
        "order_number": payload.ident(order.get("order_number")),
        "source_name": kanal.cut(order.get("source_name"), kanal.NAME_MAX),
        "test": payload.flag(order.get("test")),
        "cancel_reason": kanal.cut(order.get("cancel_reason"), kanal.NAME_MAX)
        if kanal.clean(order.get("cancelled_at"))
        else None,
        "note_attributes": _note_attributes(order.get("note_attributes")) or None,
    }
    return {key: value for key, value in fields.items() if value is not None}


def shop_named_in(body: dict[str, Any]) -> str | None:
    """The myshopify.com domain a Shopify body names as its shop (lower case), or None."""
    named = body.get(SHOP_DOMAIN_FIELD)
    if isinstance(named, str) and named.strip():
        return named.strip().lower()
    for field in SHOP_LINK_FIELDS:
        link = body.get(field)
        if not isinstance(link, str) or len(link) > kanal.URL_MAX:
            continue
        try:
            host = urlsplit(link.strip()).hostname
        except ValueError:
            continue
        if host and host.endswith(MYSHOPIFY):
            return host
    return None


def map_order(order: dict[str, Any], ctx: StoreContext) -> list[Action]:
    """One Shopify order payload (any order topic) → an order upsert, or why not, and the
    checkout it was placed from marked recovered (even when the order itself is not sent)."""
    actions = _order(order, ctx)
    if actions != [Ignored("no_id")]:
        for token in checkout_tokens(order):
            actions.append(Patch("checkouts", token, 0, {"status": CHECKOUT_RECOVERED}))
    return actions


def checkout_tokens(order: dict[str, Any]) -> list[str]:
    """The keys the order's checkout may have in Kanal: a checkout is keyed by the token of its
    recovery URL (`mappers.shopify_checkouts`), which is the order's `cart_token` in Shopify's
    current checkouts and its `checkout_token` in older ones."""
    tokens = (kanal.cut(order.get(field), kanal.EXTERNAL_ID_MAX) for field in CHECKOUT_FIELDS)
    return list(dict.fromkeys(token for token in tokens if token is not None))


def _order(order: dict[str, Any], ctx: StoreContext) -> list[Action]:
    external_id = payload.ident(order.get("id"))
    if external_id is None:
        return [Ignored("no_id")]
    if ctx.skip_test_orders and payload.flag(order.get("test")):
        return [Ignored("test_order")]
    placed_at = next(
        (m for f in PLACED_AT_FIELDS if (m := dates.instant(order.get(f))) is not None), None
    )
    if placed_at is None:
        return [Ignored("no_date")]
    total = money.to_amount(order.get("total_price"))
    if total is None:
        total = money.to_amount(at(order, ("total_price_set", "shop_money", "amount")))
    if total is None:
        return [Ignored("no_total")]
    total = kanal.total(total)
    if total is None:
        return [Ignored("total_out_of_range")]
    e164 = buyer_phone(order, ctx)
    if e164 is None:
        return [Ignored("no_phone")]
    fields: dict[str, Any] = {
        "external_id": external_id,
        "placed_at": dates.iso(placed_at),
        "total_price": total,
        "currency": kanal.currency(order.get("currency")),
        "financial_status": _status(order.get("financial_status"), FINANCIAL_STATUSES),
        "fulfillment_status": _fulfillment(order),
        "customer": buyer(order, e164),
        "line_items": [line_item(item) for item in line_items(order)],
        "tags": split_tags(order.get("tags")),
        "metadata": _metadata(order),
    }
    body = {key: value for key, value in fields.items() if value is not None}
    version = dates.version(dates.instant(order.get("updated_at")))
    return [Upsert("orders", external_id, version, body)]


TOPICS: dict[str, Callable[[dict[str, Any], StoreContext], list[Action]]] = {
    "orders/create": map_order,
    "orders/updated": map_order,
    "orders/paid": map_order,
    "orders/fulfilled": map_order,
    "orders/partially_fulfilled": map_order,
    "orders/cancelled": map_order,
}

# Every order topic carries the whole REST order; no other kind of body has both a
# financial_status and line items.
ORDER = shapes.shape(
    "not_an_order",
    required=("id", "line_items", "financial_status"),
    forbidden=(
        *shapes.SHOPIFY_CHECKOUT_MARKS,
        *shapes.SHOPIFY_CHILD_MARKS,
        *shapes.SHOPIFY_COMPLIANCE_MARKS,
        *shapes.SHOPIFY_SUMMARY_MARKS,
    ),
)
SHAPES = {topic: ORDER for topic in TOPICS}
