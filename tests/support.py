"""Helpers shared by test modules."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit


def redis_url_for(db: int) -> str:
    """The test Redis (REDIS_URL, as `make test` provides, else localhost) with database `db`."""
    base = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    return urlunsplit(base._replace(path=f"/{db}"))


# Shopify's documented sample order (tests/fixtures), last updated at this moment.
SHOPIFY_SAMPLE_UPDATED_AT = b"2021-12-31T19:00:00-05:00"
SHOPIFY_SAMPLE_SHOP = b"jsmith.myshopify.com"


def fresh_shopify_order(body: bytes, shop: str, moment: datetime | None = None) -> bytes:
    """Shopify's sample order bytes as a delivery of today would carry them: its dates moved
    to `moment` (default: now), and its order status link on `shop`'s domain. The bridge
    refuses Shopify deliveries older than its replay window, and bodies naming another shop."""
    stamp = (moment or datetime.now(UTC)).isoformat(timespec="seconds").encode()
    return body.replace(SHOPIFY_SAMPLE_UPDATED_AT, stamp).replace(
        SHOPIFY_SAMPLE_SHOP, shop.encode()
    )
