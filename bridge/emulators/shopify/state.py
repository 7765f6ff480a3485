"""What the Shopify emulator holds besides the shop's data: apps, tokens, subscriptions,
deliveries, faults and the request log (in memory, mutated only from the event loop)."""

from __future__ import annotations

import itertools
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bridge.emulators.shopify.cost import STANDARD_MAXIMUM, STANDARD_RESTORE_RATE, Bucket
from bridge.emulators.shopify.shop import ShopData

# Scopes a Dev Dashboard app gets when the emulator is told none: what the bridge needs.
DEFAULT_SCOPES = ("read_orders", "read_customers", "read_fulfillments")
TOKEN_TTL = 86399  # seconds: client-credentials tokens last a day (expires_in: 86399)
SUPPORTED_VERSIONS = ("2025-10", "2026-01", "2026-04", "2026-07", "2026-10", "unstable")


@dataclass(slots=True)
class App:
    """An app installed on the shop: a Dev Dashboard app (client id + secret, client
    credentials grant) and/or a legacy custom app's static Admin API token. The client secret
    signs the app's webhooks."""

    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    static_token: str | None = None
    token_ttl: float = TOKEN_TTL
    bucket_maximum: float = STANDARD_MAXIMUM
    restore_rate: float = STANDARD_RESTORE_RATE

    def as_json(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "scopes": list(self.scopes),
            "static_token": bool(self.static_token),
            "token_ttl": self.token_ttl,
            "bucket_maximum": self.bucket_maximum,
            "restore_rate": self.restore_rate,
        }


@dataclass(slots=True)
class Subscription:
    """A webhook subscription created through the Admin API (an app sees only its own)."""

    id: int
    app: str
    topic: str  # the GraphQL enum: ORDERS_CREATE
    uri: str
    format: str
    api_version: str
    created_at: str
    updated_at: str
    filter: str | None = None
    include_fields: list[str] = field(default_factory=list)
    failures: int = 0  # consecutive failed delivery attempts

    def as_json(self) -> dict[str, Any]:
        return {
            "id": f"gid://shopify/WebhookSubscription/{self.id}",
            "app": self.app,
            "topic": self.topic,
            "uri": self.uri,
            "format": self.format,
            "api_version": self.api_version,
            "consecutive_failures": self.failures,
        }


@dataclass(slots=True)
class Delivery:
    """One webhook for one subscription, and every attempt to deliver it."""

    id: int
    webhook_id: str
    event_id: str
    topic: str
    subscription_id: int
    app: str
    uri: str
    body: bytes
    triggered_at: str
    state: str = "pending"  # pending, delivered, failed (retries spent), dropped, abandoned
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "webhook_id": self.webhook_id,
            "event_id": self.event_id,
            "topic": self.topic,
            "subscription_id": f"gid://shopify/WebhookSubscription/{self.subscription_id}",
            "app": self.app,
            "uri": self.uri,
            "triggered_at": self.triggered_at,
            "state": self.state,
            "attempts": self.attempts,
            "body": self.body.decode(),
        }


@dataclass(slots=True)
class DeliveryFault:
    """Deliveries of `topic` (any, when unset) that go wrong: `drop` loses the next `count`
    deliveries (never attempted, as a webhook Shopify never sends); `fail` makes the next
    `count` attempts fail without being sent (as if the receiver had answered 500)."""

    kind: str
    count: int = 1
    topic: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.count, "topic": self.topic}


@dataclass(slots=True)
class Token:
    app: str
    expires_at: float | None  # monotonic clock; None for a static token


class ShopifyState:
    """Everything the emulator knows about its one shop."""

    def __init__(
        self,
        shop: ShopData,
        apps: Iterable[App] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
        supported_versions: tuple[str, ...] = SUPPORTED_VERSIONS,
        max_query_cost: int = 1000,
        time_scale: float = 1.0,
        delete_after_failures: int = 8,
        log_limit: int | None = 10_000,
    ) -> None:
        self.shop = shop
        self.clock = clock
        self.supported_versions = supported_versions
        self.max_query_cost = max_query_cost
        self.time_scale = time_scale
        self.delete_after_failures = delete_after_failures
        self.apps: dict[str, App] = {}
        self.tokens: dict[str, Token] = {}
        self.buckets: dict[str, Bucket] = {}
        self.subscriptions: dict[int, Subscription] = {}
        self.deliveries: deque[Delivery] = deque(maxlen=log_limit)
        self.faults: list[DeliveryFault] = []
        self.requests: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self.spent: dict[str, dict[str, float]] = {}
        self.deleted_subscriptions: list[dict[str, Any]] = []
        self._ids = itertools.count(1_000_001)
        self.seq = 0
        for app in apps:
            self.put_app(app)

    def next_id(self) -> int:
        return next(self._ids)

    def put_app(self, app: App) -> None:
        self.apps[app.client_id] = app
        self.buckets[app.client_id] = Bucket(app.bucket_maximum, app.restore_rate, clock=self.clock)
        self.spent.setdefault(
            app.client_id, {"requested": 0, "actual": 0, "queries": 0, "throttled": 0}
        )
        if app.static_token:
            self.tokens[app.static_token] = Token(app.client_id, None)

    def issue_token(self, app: App) -> str:
        token = "shpat_" + secrets.token_hex(16)
        self.tokens[token] = Token(app.client_id, self.clock() + app.token_ttl)
        return token

    def app_for_token(self, token: str | None) -> App | None:
        found = self.tokens.get(token or "")
        if found is None:
            return None
        if found.expires_at is not None and self.clock() >= found.expires_at:
            del self.tokens[token or ""]
            return None
        return self.apps.get(found.app)

    def expire_tokens(self) -> int:
        """Expire every issued (not static) token now; how many there were."""
        issued = [t for t, token in self.tokens.items() if token.expires_at is not None]
        for token in issued:
            del self.tokens[token]
        return len(issued)

    def log(self, entry: dict[str, Any]) -> None:
        self.seq += 1
        self.requests.append({"seq": self.seq, "at": time.time(), **entry})

    def take_fault(self, kind: str, topic: str) -> bool:
        """Whether a pending fault of `kind` applies to this delivery (drop) or attempt
        (fail) of `topic`; it is used up by one."""
        for fault in self.faults:
            if fault.kind == kind and fault.topic in (None, topic):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return True
        return False
