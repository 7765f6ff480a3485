"""How old a delivery may be before it is refused as a replay (README, Security).

A captured genuine delivery stays validly signed forever. Shopify retries a delivery for 4
hours with its original payload, and warns that in rare cases webhooks arrive up to a day
late; so a Shopify delivery triggered (`X-Shopify-Triggered-At`, a header: a claim), or
whose signed body was last updated (`updated_at`, and the other dates the mappers turn into
versions), longer ago than `SHOPIFY_MAX_DELIVERY_AGE` is not a delivery Shopify would send:
it is answered `ignored/too_old` and changes nothing. Every Shopify topic the bridge maps is
sent because its resource just changed, so its body's date is the trigger time.

WooCommerce has no delivery timestamp, and its body is built when the delivery is sent
(Action Scheduler), from an order whose `date_modified_gmt` some events (a partial refund) do
not move: a genuine delivery can carry a body date of any age. WooCommerce replays are
answered by the versions the record store remembers instead (`stale_version`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from bridge import defaults
from mappers import Action, Patch, Upsert

_MICROSECONDS = 1_000_000


def triggered_at(headers: Mapping[str, str]) -> float | None:
    """Shopify's `X-Shopify-Triggered-At` in unix seconds, or None when absent or unreadable."""
    value = headers.get("x-shopify-triggered-at", "").strip()
    if not value or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def body_date(actions: Iterable[Action]) -> float | None:
    """The newest date the signed body carries (the actions' versions), in unix seconds."""
    versions = [a.version for a in actions if isinstance(a, Upsert | Patch) and a.version > 0]
    return max(versions) / _MICROSECONDS if versions else None


def too_old(
    platform: str,
    headers: Mapping[str, str],
    actions: Iterable[Action],
    now: float,
    max_age: float = defaults.SHOPIFY_MAX_DELIVERY_AGE,
) -> bool:
    """Whether a verified Shopify delivery is older than a genuine one can be."""
    if platform != "shopify":
        return False
    cutoff = now - max_age
    for moment in (triggered_at(headers), body_date(actions)):
        if moment is not None and moment < cutoff:
            return True
    return False
