"""Shopify customer webhooks and the mandatory compliance topics → Kanal customers.

Kanal's POST /customers replaces the whole customer and needs its phone, while Shopify
sends the purchasing figures on their own topic (`customers/purchasing_summary`, API
2025-01+). The figures are therefore a sticky overlay on the customer record: the bridge
merges them into every POST of that customer, and keeps them for a customer it has not
seen yet, so that its first upsert carries them (`bridge/delivery/records.py`, STICKY).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mappers import dates, kanal, payload, phone, shapes, shopify
from mappers.actions import Action, Delete, Ignored, Patch, StoreContext, Upsert

# Compliance topics that ask nothing of Kanal: verified, answered 200 and logged with this
# reason (the data request is the merchant's to answer; Kanal's data is erased per customer).
LOGGED_ONLY = {
    "customers/data_request": "data_request_logged",
    "shop/redact": "shop_redact_logged",
}

# A customer id as Shopify's GraphQL payloads write it.
_GID = re.compile(r"gid://shopify/Customer/([0-9]+)")


def _phone(customer: dict[str, Any], ctx: StoreContext) -> str | None:
    """`phone`, then the default address's, then every other address's, each with its
    address's country (the default address's for `phone`)."""
    default = payload.obj(customer.get("default_address"))
    candidates: list[tuple[str | None, str | None]] = []
    for raw, address in [
        (customer.get("phone"), default),
        (default.get("phone"), default),
        *(
            (a.get("phone"), a)
            for a in payload.objs(customer.get("addresses"), kanal.ADDRESSES_MAX)
        ),
    ]:
        country = address.get("country_code")
        candidates.append(
            (raw if isinstance(raw, str) else None, country if isinstance(country, str) else None)
        )
    return phone.to_e164(candidates, ctx.default_country)


def _name(customer: dict[str, Any], field: str) -> str | None:
    default = payload.obj(customer.get("default_address"))
    return kanal.cut(customer.get(field), kanal.NAME_MAX) or kanal.cut(
        default.get(field), kanal.NAME_MAX
    )


def map_customer(customer: dict[str, Any], ctx: StoreContext) -> list[Action]:
    """customers/create, customers/update → a customer upsert (the phone is required)."""
    external_id = payload.ident(customer.get("id"))
    if external_id is None:
        return [Ignored("no_id")]
    e164 = _phone(customer, ctx)
    if e164 is None:
        return [Ignored("no_phone")]
    fields: dict[str, Any] = {
        "external_id": external_id,
        "phone": e164,
        "first_name": _name(customer, "first_name"),
        "last_name": _name(customer, "last_name"),
        "email": kanal.email(customer.get("email")),
        "locale": kanal.cut(customer.get("locale"), kanal.LOCALE_MAX),
        "tags": shopify.split_tags(customer.get("tags")) or None,  # legacy payloads only
    }
    body = {key: value for key, value in fields.items() if value is not None}
    version = dates.version(dates.instant(customer.get("updated_at")))
    return [Upsert("customers", external_id, version, body)]


def _customer_id(value: object) -> str | None:
    if isinstance(value, str) and (match := _GID.fullmatch(value.strip())):
        return payload.ident(match.group(1))
    return payload.ident(value)


def map_purchasing_summary(summary: dict[str, Any], ctx: StoreContext) -> list[Action]:
    """customers/purchasing_summary → the customer's orders_count and lifetime_value (whole
    currency units, rounded half-up), merged into every POST of that customer."""
    external_id = _customer_id(summary.get("customerId"))
    if external_id is None:
        return [Ignored("no_id")]
    spent = payload.obj(summary.get("amountSpent")).get("amount")
    fields: dict[str, Any] = {
        "orders_count": payload.count(summary.get("numberOfOrders")),
        "lifetime_value": shopify.whole_units(spent),
    }
    figures = {key: value for key, value in fields.items() if value is not None}
    if not figures:
        return [Ignored("no_figures")]
    version = dates.version(dates.instant(summary.get("occurredAt")))
    return [Patch("customers", external_id, version, figures)]


def map_redact(request: dict[str, Any], ctx: StoreContext) -> list[Action]:
    """customers/redact (GDPR erasure) → DELETE of that customer in Kanal."""
    external_id = payload.ident(payload.obj(request.get("customer")).get("id"))
    if external_id is None:
        return [Ignored("no_id")]
    return [Delete("customers", external_id)]


def _logged(reason: str) -> Callable[[dict[str, Any], StoreContext], list[Action]]:
    def mapper(request: dict[str, Any], ctx: StoreContext) -> list[Action]:
        return [Ignored(reason)]

    return mapper


TOPICS: dict[str, Callable[[dict[str, Any], StoreContext], list[Action]]] = {
    "customers/create": map_customer,
    "customers/update": map_customer,
    "customers/purchasing_summary": map_purchasing_summary,
    "customers/redact": map_redact,
    **{topic: _logged(reason) for topic, reason in LOGGED_ONLY.items()},
}

CUSTOMER = shapes.shape(
    "not_a_customer",
    required=("id",),
    forbidden=(
        "line_items",
        "token",
        "cart_token",
        *shapes.SHOPIFY_ORDER_MARKS,
        *shapes.SHOPIFY_CHECKOUT_MARKS,
        *shapes.SHOPIFY_CHILD_MARKS,
        *shapes.SHOPIFY_COMPLIANCE_MARKS,
        *shapes.SHOPIFY_SUMMARY_MARKS,
    ),
)
PURCHASING_SUMMARY = shapes.shape(
    "not_a_purchasing_summary", required=("customerId",), forbidden=("id", "line_items")
)
# Compliance bodies name the shop and carry no resource id of their own; an erasure request
# (destructive: it becomes a DELETE in Kanal) is told apart by its orders_to_redact list.
REDACT = shapes.shape(
    "not_a_redact_request",
    required=("shop_domain", "shop_id", "customer", "orders_to_redact"),
    forbidden=("id", "line_items", "data_request", *shapes.SHOPIFY_ORDER_MARKS),
)
DATA_REQUEST = shapes.shape(
    "not_a_data_request",
    required=("shop_domain", "shop_id", "customer", "data_request"),
    forbidden=("id", "line_items", "orders_to_redact"),
)
SHOP_REDACT = shapes.shape(
    "not_a_shop_redact_request",
    required=("shop_domain", "shop_id"),
    forbidden=("id", "line_items", "customer"),
)
SHAPES = {
    "customers/create": CUSTOMER,
    "customers/update": CUSTOMER,
    "customers/purchasing_summary": PURCHASING_SUMMARY,
    "customers/redact": REDACT,
    "customers/data_request": DATA_REQUEST,
    "shop/redact": SHOP_REDACT,
}
