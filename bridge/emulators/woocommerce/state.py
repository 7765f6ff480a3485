"""What the emulated shop holds in memory: REST keys, webhooks, orders, customers, logs, faults.

Mutated only from the server's event loop (no locks needed).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Any

from bridge.emulators.woocommerce.clock import SiteClock
from bridge.emulators.woocommerce.shop import Record
from bridge.emulators.woocommerce.webhooks import Webhook

PERMISSIONS = ("read", "write", "read_write")
FAULT_KINDS = ("fail", "drop", "rest")

# First ids handed out: a shop's first user (id 1) is its administrator, so customers start at
# 2; orders start where a shop with some history would be.
FIRST_ORDER_ID = 1000
FIRST_CUSTOMER_ID = 2


@dataclass(slots=True)
class ApiKey:
    """A REST key (WooCommerce → Settings → Advanced → REST API) and what it may do."""

    consumer_key: str
    consumer_secret: str = field(repr=False)
    permissions: str = "read_write"
    user_id: int = 1
    # The key's user can manage WooCommerce (an administrator or shop manager). A key made
    # for another user authenticates, but every endpoint then answers 403.
    manager: bool = True

    def may(self, method: str) -> bool:
        """`WC_REST_Authentication::check_permissions`."""
        if method in ("GET", "HEAD"):
            return self.permissions in ("read", "read_write")
        return self.permissions in ("write", "read_write")

    def public(self) -> dict[str, Any]:
        return {
            "consumer_key": self.consumer_key,
            "permissions": self.permissions,
            "user_id": self.user_id,
            "manager": self.manager,
        }


@dataclass(slots=True)
class Fault:
    """Injected trouble for the next `count` matching events.

    fail   a delivery is counted as failed without being sent (the receiver unreachable)
    drop   a delivery is never made and nothing is counted (Action Scheduler lost it)
    rest   a REST request is answered `status` (with `body`, `retry_after`) instead
    """

    kind: str
    count: int = 1
    webhook_id: int | None = None
    topic: str | None = None
    status: int = 500
    method: str | None = None
    path_contains: str | None = None
    body: Any = None
    retry_after: int | None = None

    def matches_delivery(self, webhook: Webhook) -> bool:
        return (
            self.kind in ("fail", "drop")
            and (self.webhook_id is None or self.webhook_id == webhook.id)
            and (self.topic is None or self.topic == webhook.topic)
        )

    def matches_request(self, method: str, path: str) -> bool:
        return (
            self.kind == "rest"
            and (self.method is None or self.method == method)
            and (self.path_contains is None or self.path_contains in path)
        )

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Settings:
    """How the shop behaves; every value can be changed through the control API."""

    # Action Scheduler runs a delivery seconds to minutes after the event; the emulator waits
    # this long, during which a second event for the same webhook and object is dropped.
    delivery_delay: float = 0.2
    delivery_timeout: float = 60.0  # `WC_Webhook::deliver`: MINUTE_IN_SECONDS
    ping_timeout: float = 5.0  # WordPress's default for `wp_safe_remote_post`
    max_failures: int = 5  # filter `woocommerce_max_webhook_delivery_failures`
    latency_ms: int = 0  # added to every REST answer
    paused: bool = False  # Action Scheduler not running (WP-Cron off): actions wait


class ShopState:
    """Everything the shop knows."""

    def __init__(
        self,
        keys: list[ApiKey],
        *,
        site_url: str,
        clock: SiteClock,
        settings: Settings | None = None,
        log_limit: int | None = None,
    ) -> None:
        self.site_url = site_url.rstrip("/")
        self.clock = clock
        self.settings = settings or Settings()
        self.keys: dict[str, ApiKey] = {key.consumer_key: key for key in keys}
        self.webhooks: dict[int, Webhook] = {}
        self.orders: dict[int, Record] = {}
        self.customers: dict[int, Record] = {}
        self.faults: list[Fault] = []
        self.requests: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self.request_seq = 0
        self.delivery_seq = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.by_status: Counter[int] = Counter()
        self.outcomes: Counter[str] = Counter()  # deliveries by outcome, and coalesced events
        self._ids = {"webhook": 1, "order": FIRST_ORDER_ID, "customer": FIRST_CUSTOMER_ID}

    def next_id(self, kind: str, wanted: int | None = None) -> int:
        """A fresh id for a webhook, order or customer (or `wanted`, moving the counter on)."""
        value = wanted if wanted is not None else self._ids[kind]
        self._ids[kind] = max(self._ids[kind], value + 1)
        return value

    def take_fault(self, matches: Any) -> Fault | None:
        for fault in self.faults:
            if matches(fault):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def log_request(self, entry: dict[str, Any]) -> None:
        self.request_seq += 1
        self.requests.append({"seq": self.request_seq, **entry})
        self.by_status[int(entry["status"])] += 1

    def log_delivery(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.delivery_seq += 1
        logged = {"seq": self.delivery_seq, **entry}
        self.deliveries.append(logged)
        self.outcomes[str(entry["outcome"])] += 1
        return logged

    def reset(self) -> None:
        """Forget the shop's data, webhooks, logs and faults; keep keys and settings."""
        self.webhooks.clear()
        self.orders.clear()
        self.customers.clear()
        self.faults.clear()
        self.requests.clear()
        self.deliveries.clear()
        self.request_seq = self.delivery_seq = 0
        self.max_in_flight = self.in_flight
        self.by_status.clear()
        self.outcomes.clear()
        self._ids = {"webhook": 1, "order": FIRST_ORDER_ID, "customer": FIRST_CUSTOMER_ID}

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.request_seq,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "max_in_flight": self.max_in_flight,
            "deliveries": dict(sorted(self.outcomes.items())),
        }
