"""What a mapper returns: the actions a webhook asks of Kanal, or why there are none."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Resource = Literal["orders", "checkouts", "customers", "shipments"]


@dataclass(frozen=True, slots=True)
class StoreContext:
    """What a mapper may know about the store a payload came from (no secrets, no I/O)."""

    default_country: str | None = None
    skip_test_orders: bool = False
    abandoned_after_minutes: float = 15
    checkouts_require_consent: bool = True
    completed_means_shipped: bool = False
    # The shop's IANA time zone (Shopify's `shop.ianaTimezone`), when known: the Admin API
    # writes UTC times that webhooks write in the shop's offset (mappers.shopify_graphql).
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class Upsert:
    """Kanal must hold `body` as the record's complete state (POST, or PATCH when only
    status fields changed since the last delivery).

    `version` is the source's own version (updated_at) in microseconds since the epoch; an
    upsert with an older version than the one held never replaces it. `not_before` (unix
    seconds) holds the push back (abandoned checkouts); `after` names a record Kanal must
    hold first (a shipment's order).
    """

    resource: Resource
    external_id: str
    version: int
    body: dict[str, Any]
    not_before: float = 0.0
    after: tuple[Resource, str] | None = None


@dataclass(frozen=True, slots=True)
class Patch:
    """Change some of the PATCH-able fields of a record Kanal may already hold.

    Applied to the held state (pending or delivered); a record the bridge has never seen is
    left alone. `version` 0 means "after whatever is held".
    """

    resource: Resource
    external_id: str
    version: int
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delete:
    """Erase the record from Kanal (GDPR: customers only)."""

    resource: Resource
    external_id: str
    version: int = 0


@dataclass(frozen=True, slots=True)
class Ignored:
    """Verified, but nothing to send; `reason` is a short snake_case label (also a metric label)."""

    reason: str


Action = Upsert | Patch | Delete | Ignored
