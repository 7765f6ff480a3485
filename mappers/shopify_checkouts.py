"""Shopify checkout webhooks → Kanal abandoned checkouts.

Shopify has no "abandoned" event. A checkout counts as abandoned when it is still
incomplete `abandoned_after_minutes` after its last update: the upsert is held until
then (`not_before`) and `abandoned_at` is that moment. A checkout that completes first
is never sent: `completed_at` set, or an order carrying its checkout's token
(`mappers.shopify`), finishes the record in the bridge, whatever order the webhooks
arrive in; one Kanal already holds is PATCHed to that status instead.

A checkout's external id is the token in its recovery URL (`…/checkouts/[ac/]TOKEN/recover`),
else its `token`. The recovery URL is what the webhooks and the Admin API's AbandonedCheckout
(which has no `token` field) both carry, so a checkout read from either is one record. In
Shopify's current checkouts that URL holds the `cart_token`; in older ones, the `token`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from mappers import dates, kanal, money, payload, phone, shapes, shopify
from mappers.actions import Action, Ignored, Patch, StoreContext, Upsert

# Kanal checkout statuses the bridge sends (PATCH), by what happened in the shop.
COMPLETED = "completed"  # completed_at set on the checkout itself
EXPIRED = "expired"  # checkouts/delete

# The buyer's consent, as Shopify records it on the checkout → metadata key. Either one
# counts as marketing consent when the store requires it (checkouts_require_consent).
CONSENT_FIELDS = {
    "buyer_accepts_marketing": "accepts_marketing",
    "buyer_accepts_sms_marketing": "accepts_sms_marketing",
}


_RECOVER = "recover"
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-=")


def recovery_token(url: object) -> str | None:
    """The token of a recovery URL: the path segment before `/recover`, in a path that has
    `checkouts` before it (`https://shop/548380009/checkouts/ac/Z2Nw…/recover?key=…`)."""
    if not isinstance(url, str) or len(url) > kanal.URL_MAX:
        return None
    try:
        parts = [part for part in urlsplit(url.strip()).path.split("/") if part]
    except ValueError:
        return None
    if len(parts) < 3 or parts[-1] != _RECOVER or "checkouts" not in parts[:-2]:
        return None
    token = parts[-2]
    if not 0 < len(token) <= kanal.EXTERNAL_ID_MAX or not set(token) <= _TOKEN_CHARS:
        return None
    return token


def checkout_key(checkout: dict[str, Any]) -> str | None:
    """The checkout's external id: its recovery URL's token, else its `token`."""
    return recovery_token(checkout.get("abandoned_checkout_url")) or kanal.cut(
        checkout.get("token"), kanal.EXTERNAL_ID_MAX
    )


def _phone(checkout: dict[str, Any], ctx: StoreContext) -> str | None:
    found = shopify.buyer_phone(checkout, ctx)
    if found is not None:
        return found
    sms = checkout.get("sms_marketing_phone")
    return phone.to_e164([(sms if isinstance(sms, str) else None, None)], ctx.default_country)


def _consent(checkout: dict[str, Any]) -> dict[str, bool]:
    return {key: payload.flag(checkout.get(field)) for field, key in CONSENT_FIELDS.items()}


def _metadata(checkout: dict[str, Any], consent: dict[str, bool]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "platform": "shopify",
        **consent,
        "checkout_name": kanal.cut(checkout.get("name"), kanal.NAME_MAX),
        "source_name": kanal.cut(checkout.get("source_name"), kanal.NAME_MAX),
        "presentment_currency": kanal.currency(checkout.get("presentment_currency")),
    }
    return {key: value for key, value in fields.items() if value is not None}


def map_checkout(checkout: dict[str, Any], ctx: StoreContext) -> list[Action]:
    """checkouts/create, checkouts/update → a held checkout upsert, a completion, or why not."""
    token = checkout_key(checkout)
    if token is None:
        return [Ignored("no_id")]
    if kanal.clean(checkout.get("completed_at")) is not None:
        return [Patch("checkouts", token, 0, {"status": COMPLETED})]
    updated = dates.instant(checkout.get("updated_at")) or dates.instant(checkout.get("created_at"))
    if updated is None:
        return [Ignored("no_date")]
    total = money.to_amount(checkout.get("total_price"))
    if total is None:
        return [Ignored("no_total")]
    total = kanal.total(total)
    if total is None:
        return [Ignored("total_out_of_range")]
    consent = _consent(checkout)
    if ctx.checkouts_require_consent and not any(consent.values()):
        return [Ignored("no_marketing_consent")]
    e164 = _phone(checkout, ctx)
    if e164 is None:
        return [Ignored("no_phone")]
    abandoned = updated + timedelta(minutes=ctx.abandoned_after_minutes)
    fields: dict[str, Any] = {
        "external_id": token,
        "abandoned_at": dates.iso(abandoned),
        "total_price": total,
        "currency": kanal.currency(checkout.get("currency")),
        "recovery_url": kanal.url(checkout.get("abandoned_checkout_url")),
        "customer": shopify.buyer(checkout, e164),
        "line_items": [shopify.line_item(item) for item in shopify.line_items(checkout)],
        "metadata": _metadata(checkout, consent),
    }
    body = {key: value for key, value in fields.items() if value is not None}
    not_before = (abandoned - dates.EPOCH).total_seconds()
    return [Upsert("checkouts", token, dates.version(updated), body, not_before=not_before)]


def map_deleted(checkout: dict[str, Any], ctx: StoreContext) -> list[Action]:
    """checkouts/delete → the checkout expired (only when the payload names its token)."""
    token = kanal.cut(checkout.get("token"), kanal.EXTERNAL_ID_MAX)
    if token is None:
        # Shopify's documented delete payload carries the numeric id and cart_token only,
        # not the token Kanal knows the checkout by.
        return [Ignored("no_checkout_token")]
    return [Patch("checkouts", token, 0, {"status": EXPIRED})]


TOPICS: dict[str, Callable[[dict[str, Any], StoreContext], list[Action]]] = {
    "checkouts/create": map_checkout,
    "checkouts/update": map_checkout,
    "checkouts/delete": map_deleted,
}

CHECKOUT = shapes.shape(
    "not_a_checkout",
    required=("token", "line_items"),
    forbidden=(
        *shapes.SHOPIFY_ORDER_MARKS,
        *shapes.SHOPIFY_COMPLIANCE_MARKS,
        *shapes.SHOPIFY_SUMMARY_MARKS,
        "fulfillment_id",
        "refund_line_items",
    ),
)
# Shopify documents the delete payload as the checkout's id and cart token (no line items).
DELETION = shapes.shape(
    "not_a_checkout_deletion",
    required=("id",),
    forbidden=(
        "line_items",
        *shapes.SHOPIFY_ORDER_MARKS,
        *shapes.SHOPIFY_CHECKOUT_MARKS,
        *shapes.SHOPIFY_CHILD_MARKS,
        *shapes.SHOPIFY_COMPLIANCE_MARKS,
        *shapes.SHOPIFY_SUMMARY_MARKS,
        *shapes.SHOPIFY_CUSTOMER_MARKS,
    ),
)
SHAPES = {"checkouts/create": CHECKOUT, "checkouts/update": CHECKOUT, "checkouts/delete": DELETION}
