"""WooCommerce order webhooks → Kanal orders.

The webhook body is the REST v3 order. Money comes from the decimal-string
fields, never from the float line-item `price`. Dates come from the `_gmt`
fields, which are UTC written without an offset.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from typing import Any

from mappers import dates, kanal, money, payload, phone, shapes, woocommerce_shipments
from mappers.actions import Action, Ignored, Patch, StoreContext, Upsert

# status → (financial_status, fulfillment_status), in the vocabulary Shopify orders use.
# A financial_status of None is read from the payment date: "paid" when `date_paid_gmt` is
# set, else "pending" (cash-on-delivery orders are "processing" before any payment).
# Statuses not listed (plugins) are sent with UNKNOWN_STATUS.
STATUSES: dict[str, tuple[str | None, str]] = {
    "pending": ("pending", "unfulfilled"),
    "processing": (None, "unfulfilled"),
    "on-hold": ("pending", "unfulfilled"),
    "completed": ("paid", "fulfilled"),
    "cancelled": ("voided", "cancelled"),
    "refunded": ("refunded", "cancelled"),
    "failed": ("failed", "unfulfilled"),
    "trash": (None, "cancelled"),
    "ready-for-pickup": (None, "ready_for_pickup"),
}
UNKNOWN_STATUS: tuple[str | None, str] = (None, "unfulfilled")

# Not orders yet (block-checkout carts, admin drafts): nothing is sent.
DRAFT_STATUSES = frozenset({"checkout-draft", "draft", "auto-draft"})

# An order partly refunded while "paid" is sent as partially_refunded.
PARTIALLY_REFUNDED = "partially_refunded"

# Phone candidates, in order: (address, key of the number). `_shipping_phone` is where
# WooCommerce kept the shipping phone before `shipping.phone` existed.
PHONE_FIELDS = (("billing", "phone"), ("shipping", "phone"), ("shipping", "_shipping_phone"))

# WooPayments writes its mode on the order; "test" marks a test-mode payment.
TEST_MODE_META = "_wcpay_mode"


def _meta(order: dict[str, Any], key: str) -> object:
    for entry in payload.objs(order.get("meta_data")):
        if entry.get("key") == key:
            return entry.get("value")
    return None


def _status(order: dict[str, Any]) -> str | None:
    return kanal.cut(order.get("status"), kanal.STATUS_MAX)


def _statuses(order: dict[str, Any], status: str | None, refunded: Decimal) -> dict[str, str]:
    financial, fulfillment = STATUSES.get((status or "").lower(), UNKNOWN_STATUS)
    if financial is None:
        financial = "paid" if kanal.clean(order.get("date_paid_gmt")) else "pending"
    if financial == "paid" and refunded > 0:
        financial = PARTIALLY_REFUNDED
    return {"financial_status": financial, "fulfillment_status": fulfillment}


def _refunded(order: dict[str, Any]) -> Decimal:
    """Total refunded, as a positive amount (refund totals are negative strings)."""
    total = Decimal(0)
    for refund in payload.objs(order.get("refunds")):
        amount = money.to_decimal(refund.get("total"))
        if amount is not None:
            total += abs(amount)
    return total


def _phone(order: dict[str, Any], ctx: StoreContext) -> str | None:
    candidates: list[tuple[str | None, str | None]] = []
    for address, key in PHONE_FIELDS:
        part = payload.obj(order.get(address))
        raw = _meta(order, key) if key.startswith("_") else part.get(key)
        country = part.get("country")
        candidates.append(
            (raw if isinstance(raw, str) else None, country if isinstance(country, str) else None)
        )
    return phone.to_e164(candidates, ctx.default_country)


def _first(order: dict[str, Any], field: str) -> str | None:
    for address in ("billing", "shipping"):
        value = kanal.cut(payload.obj(order.get(address)).get(field), kanal.NAME_MAX)
        if value is not None:
            return value
    return None


def _customer(order: dict[str, Any], e164: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "phone": e164,
        "external_id": payload.ident(order.get("customer_id")),  # 0 = guest: no id
        "first_name": _first(order, "first_name"),
        "last_name": _first(order, "last_name"),
        "email": kanal.email(payload.obj(order.get("billing")).get("email")),
    }
    return {key: value for key, value in fields.items() if value is not None}


def _unit_price(item: dict[str, Any], taxes_included: bool) -> Decimal | None:
    """Pre-discount unit price from `subtotal` / quantity, with the tax when the shop's
    prices include it; rounded to the subtotal's own decimal places."""
    subtotal = money.to_amount(item.get("subtotal"))
    quantity = payload.count(item.get("quantity"))
    if subtotal is None or not quantity:
        return None
    exponent = subtotal.as_tuple().exponent
    if taxes_included:
        tax = money.to_amount(item.get("subtotal_tax"))
        if tax is not None:
            subtotal += tax
    if not isinstance(exponent, int):  # pragma: no cover - to_amount returns finite values
        return None
    with localcontext() as context:
        context.prec = 60
        try:
            unit = (subtotal / quantity).quantize(Decimal(1).scaleb(exponent), ROUND_HALF_EVEN)
        except InvalidOperation:
            return None
    return unit


def _variant_title(item: dict[str, Any]) -> str | None:
    """Variation attributes ("black / M") from the item's visible meta, for variations only."""
    if payload.ident(item.get("variation_id")) is None:
        return None
    values: list[str] = []
    for entry in payload.objs(item.get("meta_data")):
        key = entry.get("key")
        value = entry.get("display_value", entry.get("value"))
        if isinstance(key, str) and not key.startswith("_"):
            text = kanal.clean(html.unescape(value) if isinstance(value, str) else None)
            if text is not None:
                values.append(text)
                if sum(map(len, values)) > kanal.NAME_MAX:  # the rest would be cut anyway
                    break
    return kanal.cut(" / ".join(values), kanal.NAME_MAX)


def _line_item(item: dict[str, Any], taxes_included: bool) -> dict[str, Any]:
    name = item.get("name")
    fields: dict[str, Any] = {
        "title": kanal.cut(html.unescape(name) if isinstance(name, str) else None, kanal.NAME_MAX),
        "quantity": payload.count(item.get("quantity")),
        "price": _unit_price(item, taxes_included),
        "sku": kanal.cut(item.get("sku"), kanal.NAME_MAX),
        "product_id": payload.ident(item.get("product_id")),
        "variant_id": payload.ident(item.get("variation_id")),
        "variant_title": _variant_title(item),
    }
    return {key: value for key, value in fields.items() if value is not None}


def _metadata(order: dict[str, Any], status: str | None, refunded: Decimal) -> dict[str, Any]:
    number = order.get("number")
    fields: dict[str, Any] = {
        "platform": "woocommerce",
        "order_number": kanal.cut(number, kanal.NAME_MAX) or payload.ident(number),
        "created_via": kanal.cut(order.get("created_via"), kanal.NAME_MAX),
        "status": status,
        "test": _is_test(order),
        "refunded_total": refunded if refunded > 0 else None,
    }
    return {key: value for key, value in fields.items() if value is not None}


def _is_test(order: dict[str, Any]) -> bool:
    return _meta(order, TEST_MODE_META) == "test"


def map_order(order: dict[str, Any], ctx: StoreContext) -> list[Action]:
    """One WooCommerce order payload → an order upsert and its shipments, or why not."""
    external_id = payload.ident(order.get("id"))
    if external_id is None:
        return [Ignored("no_id")]
    status = _status(order)
    if status is not None and status.lower() in DRAFT_STATUSES:
        return [Ignored("draft")]
    if ctx.skip_test_orders and _is_test(order):
        return [Ignored("test_order")]
    placed_at = dates.instant(order.get("date_created_gmt"), naive_is_utc=True)
    modified = dates.instant(order.get("date_modified_gmt"), naive_is_utc=True)
    placed_at = placed_at or modified
    if placed_at is None:
        return [Ignored("no_date")]
    total = money.to_amount(order.get("total"))
    if total is None:
        return [Ignored("no_total")]
    total = kanal.total(total)
    if total is None:
        return [Ignored("total_out_of_range")]
    e164 = _phone(order, ctx)
    if e164 is None:
        return [Ignored("no_phone")]
    refunded = _refunded(order)
    taxes_included = payload.flag(order.get("prices_include_tax"))
    fields: dict[str, Any] = {
        "external_id": external_id,
        "placed_at": dates.iso(placed_at),
        "total_price": total,
        "currency": kanal.currency(order.get("currency")),
        **_statuses(order, status, refunded),
        "customer": _customer(order, e164),
        "line_items": [
            _line_item(item, taxes_included)
            for item in payload.objs(order.get("line_items"), kanal.LINE_ITEMS_MAX)
        ],
        "metadata": _metadata(order, status, refunded),
    }
    body = {key: value for key, value in fields.items() if value is not None}
    version = dates.version(modified)
    shipments = woocommerce_shipments.shipments(order, external_id, status, version, ctx)
    return [Upsert("orders", external_id, version, body), *shipments]


def map_trashed(order: dict[str, Any], ctx: StoreContext) -> list[Action]:
    """`order.deleted` (the order went to the trash; the body is only its id) → a status patch."""
    external_id = payload.ident(order.get("id"))
    if external_id is None:
        return [Ignored("no_id")]
    financial, fulfillment = STATUSES["trash"]
    fields = {"fulfillment_status": fulfillment}
    if financial is not None:
        fields["financial_status"] = financial
    return [Patch("orders", external_id, version=0, fields=fields)]


TOPICS: dict[str, Callable[[dict[str, Any], StoreContext], list[Action]]] = {
    "order.created": map_order,
    "order.updated": map_order,
    "order.restored": map_order,
    "order.deleted": map_trashed,
}

ORDER = shapes.shape(
    "not_an_order",
    required=("id", "line_items"),
    forbidden=shapes.WOOCOMMERCE_CUSTOMER_MARKS,
)
# WooCommerce sends only the id of a trashed order (`WC_Webhook::build_payload`).
DELETION = shapes.shape("not_a_deletion", required=("id",), only=True)
SHAPES = {
    "order.created": ORDER,
    "order.updated": ORDER,
    "order.restored": ORDER,
    "order.deleted": DELETION,
}
