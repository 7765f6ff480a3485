"""Signed Shopify order webhooks built from Shopify's documented sample order.

The sample (12 KB as published, 3 line items) is given a valid phone, a distinct id and
`updated_at` per order, and is trimmed or grown (line items) to the sizes real orders have:
from ~2 KB (one item, no optional blocks) to ~30 KB (dozens of items).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from bench.common import ROOT

FIXTURE = (
    ROOT
    / "tests"
    / "fixtures"
    / "shopify"
    / "docs-sample-orders-create-customer-phone-on-addresses-only.json"
)

SECRET = "bench-shopify-secret"
SHOP_DOMAIN = "bench-shop.myshopify.com"
KANAL_KEY = "benchKanalKey0123456789ab"

# Line items per size class, and how often each class occurs in the ingest mix.
SIZES: dict[str, int] = {"3k": 1, "7k": 1, "13k": 8, "30k": 26}
MIX: tuple[str, ...] = ("3k", "7k", "7k", "7k", "13k", "13k", "30k")

# Blocks a lean order (a custom storefront, no discounts or duties) does not carry.
_LEAN_DROP = (
    "current_total_additional_fees_set",
    "original_total_additional_fees_set",
    "current_total_duties_set",
    "original_total_duties_set",
    "total_cash_rounding_payment_adjustment_set",
    "total_cash_rounding_refund_adjustment_set",
    "refunds",
    "shipping_lines",
    "fulfillments",
    "discount_applications",
    "discount_codes",
    "client_details",
    "payment_terms",
    "tax_lines",
    "current_subtotal_price_set",
    "current_total_discounts_set",
    "current_total_price_set",
    "current_total_tax_set",
    "total_discounts_set",
    "total_line_items_price_set",
    "total_shipping_price_set",
    "total_tax_set",
    "subtotal_price_set",
    "total_price_set",
    "billing_address",
    "note_attributes",
)


@cache
def _sample() -> dict[str, Any]:
    data = json.loads(FIXTURE.read_text())
    return dict(data.get("order", data))


def order(
    order_id: int,
    version: int,
    size: str = "7k",
    financial: str = "pending",
    fulfillment: str | None = None,
    tags: str = "",
) -> dict[str, Any]:
    """A Shopify order payload with a valid phone, an id and a version of ours."""
    body = copy.deepcopy(_sample())
    if size == "3k":
        for name in _LEAN_DROP:
            body.pop(name, None)
        body["customer"] = {
            k: body["customer"][k] for k in ("id", "email", "first_name", "last_name", "phone")
        }
    items = body["line_items"]
    body["line_items"] = [
        {**copy.deepcopy(items[i % len(items)]), "id": 100_000 + i} for i in range(SIZES[size])
    ]
    if size == "3k":
        for item in body["line_items"]:
            for name in (
                "price_set",
                "total_discount_set",
                "tax_lines",
                "duties",
                "discount_allocations",
                "properties",
                "attributed_staffs",
            ):
                item.pop(name, None)
    body.update(
        id=order_id,
        name=f"#{order_id}",
        order_number=order_id,
        test=False,
        cancelled_at=None,
        cancel_reason=None,
        financial_status=financial,
        fulfillment_status=fulfillment,
        tags=tags,
        phone="+1 613-555-0135",
        updated_at=timestamp(version),
        order_status_url=f"https://{SHOP_DOMAIN}/548380009/orders/{order_id}/authenticate?key=k",
    )
    return body


# The bridge refuses Shopify deliveries older than its replay window (README, Security):
# versions count from an hour before the run.
BASE_EPOCH = int(time.time()) - 3600


def timestamp(version: int) -> str:
    """An `updated_at` one second per version after the run's base epoch."""
    return time.strftime("%Y-%m-%dT%H:%M:%S-00:00", time.gmtime(BASE_EPOCH + version))


def encode(payload: dict[str, Any]) -> bytes:
    """Compact JSON with Shopify's `\\/` escapes, as Shopify sends it."""
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass(frozen=True, slots=True)
class Webhook:
    """One signed delivery, ready to send."""

    topic: str
    body: bytes
    webhook_id: str
    order_id: int

    def headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": self.topic,
            "X-Shopify-Hmac-Sha256": sign(self.body),
            "X-Shopify-Shop-Domain": SHOP_DOMAIN,
            "X-Shopify-API-Version": "2026-04",
            "X-Shopify-Webhook-Id": self.webhook_id,
        }


def webhook(topic: str, payload: dict[str, Any], webhook_id: str) -> Webhook:
    return Webhook(topic, encode(payload), webhook_id, int(payload["id"]))
