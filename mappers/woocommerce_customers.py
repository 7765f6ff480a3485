"""WooCommerce customer webhooks → Kanal customers.

The body of `customer.created` / `customer.updated` is the REST v3 customer; the body of
`customer.deleted` (the WordPress user was deleted) is only its id, and becomes a DELETE
of that customer in Kanal (erasure).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mappers import dates, kanal, payload, phone, shapes
from mappers.actions import Action, Delete, Ignored, StoreContext, Upsert

# Phone candidates, in order: (address, key of the number); each uses its address's country.
PHONE_FIELDS = (("billing", "phone"), ("shipping", "phone"))


def _phone(customer: dict[str, Any], ctx: StoreContext) -> str | None:
    candidates: list[tuple[str | None, str | None]] = []
    for address, key in PHONE_FIELDS:
        part = payload.obj(customer.get(address))
        raw, country = part.get(key), part.get("country")
        candidates.append(
            (raw if isinstance(raw, str) else None, country if isinstance(country, str) else None)
        )
    return phone.to_e164(candidates, ctx.default_country)


def _name(customer: dict[str, Any], field: str) -> str | None:
    for source in (customer, customer.get("billing"), customer.get("shipping")):
        value = kanal.cut(payload.obj(source).get(field), kanal.NAME_MAX)
        if value is not None:
            return value
    return None


def map_customer(customer: dict[str, Any], ctx: StoreContext) -> list[Action]:
    """customer.created, customer.updated → a customer upsert (the phone is required)."""
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
        "email": kanal.email(customer.get("email"))
        or kanal.email(payload.obj(customer.get("billing")).get("email")),
    }
    body = {key: value for key, value in fields.items() if value is not None}
    modified = dates.instant(customer.get("date_modified_gmt"), naive_is_utc=True)
    created = dates.instant(customer.get("date_created_gmt"), naive_is_utc=True)
    return [Upsert("customers", external_id, dates.version(modified or created), body)]


def map_deleted(customer: dict[str, Any], ctx: StoreContext) -> list[Action]:
    """customer.deleted → DELETE of that customer in Kanal."""
    external_id = payload.ident(customer.get("id"))
    if external_id is None:
        return [Ignored("no_id")]
    return [Delete("customers", external_id)]


TOPICS: dict[str, Callable[[dict[str, Any], StoreContext], list[Action]]] = {
    "customer.created": map_customer,
    "customer.updated": map_customer,
    "customer.deleted": map_deleted,
}

CUSTOMER = shapes.shape(
    "not_a_customer",
    required=("id", "email"),
    forbidden=("status", *shapes.WOOCOMMERCE_ORDER_MARKS),
)
# As for orders, a deleted customer's body is only its id.
DELETION = shapes.shape("not_a_deletion", required=("id",), only=True)
SHAPES = {"customer.created": CUSTOMER, "customer.updated": CUSTOMER, "customer.deleted": DELETION}
