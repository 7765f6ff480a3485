"""Counters and histograms of the bridge, added up across every process through Redis.

Why Redis and not each process's memory: a deployment runs several web processes
(WEB_CONCURRENCY) on several dynos, and workers on other machines; Heroku's router sends a
scrape of /metrics to any one web dyno. So each process adds its counts to a small local
buffer (a dict update, no I/O on the request or push path), and a flusher writes the buffered
deltas to one Redis hash per metric family every `FLUSH_INTERVAL` seconds (HINCRBYFLOAT,
pipelined); any web process renders the sum of all of them. A process killed with SIGKILL
loses at most its last interval's counts; one that stops normally flushes on the way out.

Histogram buckets are kept per bucket (not cumulative) and summed at scrape time.
Label values are bounded: store keys come from the configuration, topics and reasons from
known sets (anything else is "other"); never an order id, phone number or delivery id.

The same buffer and flush keep what the status page needs per store (bridge/ops/health.py),
still without any I/O on the request or push path:
  kb:store:{store}        hash: `webhook_at`, `webhook_at:{family}`, `webhook_at:{topic}` (last
                          verified webhook, unix seconds) and `push_at` (last Kanal call answered
                          2xx); each flush writes the newest time it saw, so a value may lag the
                          truth by one flush interval when several processes write it
  kb:hour:{store}:{hour}  hash per store and hour (unix time // 3600) of counts: `webhooks`
                          (verified), `refused` (bad signature), `calls`, `pushes` (2xx),
                          `errors` (5xx or no answer: retried), `rejected` (4xx but 429),
                          `rate_limited` (429), `failed` (records that went to the failed
                          registry); kept HOURLY_TTL
  kb:procs                sorted set of the live processes (`{kind}:{host}:{pid}:{connections}`
                          scored by their last flush), for the Redis connection budget
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio

from bridge import defaults
from mappers import PLATFORMS

log = logging.getLogger("bridge.metrics")

# Seconds between two flushes of a process's buffer to Redis (the scrape's staleness bound).
FLUSH_INTERVAL = 5.0

KEY_PREFIX = f"{defaults.KEY_PREFIX}:metrics:"
SEPARATOR = "\t"  # between label values in a hash field (never inside a bounded label value)

_REASON = re.compile(r"^[a-z0-9_]{1,40}$")

STORE_KEY_PREFIX = f"{defaults.KEY_PREFIX}:store:"
HOUR_KEY_PREFIX = f"{defaults.KEY_PREFIX}:hour:"
PRESENCE_KEY = f"{defaults.KEY_PREFIX}:procs"
# The charts show 24 hours; the hour before them stays for the sliding "last hour" figures.
HOURLY_TTL = 26 * 3600
# A process missing from this many flushes is gone (crashed, scaled down, restarted).
PRESENCE_TTL = 12 * FLUSH_INTERVAL

# Topic families of the per-store "last webhook" times; compliance topics are their own.
FAMILIES_BY_TOPIC: dict[str, str] = {
    "orders/create": "orders",
    "orders/updated": "orders",
    "orders/paid": "orders",
    "orders/fulfilled": "orders",
    "orders/partially_fulfilled": "orders",
    "orders/cancelled": "orders",
    "order.created": "orders",
    "order.updated": "orders",
    "order.deleted": "orders",
    "order.restored": "orders",
    "checkouts/create": "checkouts",
    "checkouts/update": "checkouts",
    "checkouts/delete": "checkouts",
    "customers/create": "customers",
    "customers/update": "customers",
    "customers/purchasing_summary": "customers",
    "customer.created": "customers",
    "customer.updated": "customers",
    "customer.deleted": "customers",
    "fulfillments/create": "fulfillments",
    "fulfillments/update": "fulfillments",
    "fulfillment_events/create": "fulfillments",
    "customers/redact": "compliance",
    "customers/data_request": "compliance",
    "shop/redact": "compliance",
}
TOPIC_FAMILIES = ("orders", "checkouts", "customers", "fulfillments", "compliance")

# Webhook answers given after the signature was verified: the shop is talking to the bridge.
VERIFIED_ANSWERS = frozenset(
    {
        "accepted",
        "duplicate",
        "ignored",
        "not_an_object",
        "mapping_failed",
        "storage_unavailable",
        "unexpected_outcome",
    }
)


@dataclass(frozen=True)
class Family:
    """One metric family: its name, help text, labels, and histogram buckets if any."""

    name: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()

    @property
    def key(self) -> str:
        """The Redis hash holding this family's values."""
        return KEY_PREFIX + self.name

    @property
    def histogram(self) -> bool:
        return bool(self.buckets)


_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_KANAL_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)

WEBHOOKS = Family(
    "kanal_bridge_webhooks",
    "Webhook deliveries received, by platform, store, topic and answer.",
    ("platform", "store", "topic", "answer"),
)
SIGNATURE_FAILURES = Family(
    "kanal_bridge_webhook_signature_failures",
    "Webhook deliveries refused with 401 (missing or wrong signature, another shop's domain).",
    ("platform", "store", "reason"),
)
IGNORED = Family(
    "kanal_bridge_webhooks_ignored",
    "Verified webhook deliveries with nothing to send, by reason (no_phone, test_order...).",
    ("platform", "store", "reason"),
)
WEBHOOK_SECONDS = Family(
    "kanal_bridge_webhook_seconds",
    "Time to answer a webhook delivery (verify, map, store).",
    ("platform",),
    _HTTP_BUCKETS,
)
KANAL_CALLS = Family(
    "kanal_bridge_kanal_calls",
    "Calls made to Kanal, by store, resource, method and HTTP status (0: no answer).",
    ("store", "resource", "method", "status"),
)
KANAL_SECONDS = Family(
    "kanal_bridge_kanal_call_seconds",
    "Duration of Kanal calls.",
    ("resource", "method"),
    _KANAL_BUCKETS,
)
PUSH_OUTCOMES = Family(
    "kanal_bridge_push_outcomes",
    "How push jobs ended: delivered, unchanged, newer_state, retry, failed, patch_not_found, "
    "held (probing a held Kanal store), parked (waiting for its release).",
    ("store", "outcome"),
)
RATE_LIMITED = Family(
    "kanal_bridge_rate_limited",
    "429 answers received from Kanal (the Kanal store is paused for Retry-After).",
    ("store",),
)
UNANSWERED_POSTS = Family(
    "kanal_bridge_unanswered_posts",
    "POSTs that got no answer (timeout, connection cut), by how they were resolved: landed "
    "(a PATCH probe found the record: no second POST), not_landed (the probe got 404: POSTed "
    "again), reposted (no probe possible: POSTed again).",
    ("store", "resource", "outcome"),
)
FETCHED = Family(
    "kanal_bridge_fetched_records",
    "Records fetched from a shop's API (backfill, reconciliation) offered to the record store, "
    "by lane (bulk, live) and outcome (scheduled: new to Kanal; merged; duplicate: already "
    "held; stale...).",
    ("store", "resource", "lane", "outcome"),
)
KANAL_HOLDS = Family(
    "kanal_bridge_kanal_holds",
    "Kanal stores held because Kanal refused them as a whole, by the bridge store refused "
    "first and reason: key_rejected (401, 403) or store_paused (404 on a POST).",
    ("store", "reason"),
)
BUDGET_WAITS = Family(
    "kanal_bridge_budget_waits",
    "Pushes rescheduled to their Kanal store's next call slot.",
    ("store",),
)
BUDGET_WAIT_SECONDS = Family(
    "kanal_bridge_budget_wait_seconds",
    "Seconds pushes were rescheduled ahead to wait for their Kanal store's budget.",
    ("store",),
)

WATCHDOG_CHECKS = Family(
    "kanal_bridge_watchdog_checks",
    "Watchdog checks of a store's webhook subscriptions: ok, repaired, or failed (shop "
    "unreachable, credentials refused, a repair refused).",
    ("store", "platform", "outcome"),
)
WATCHDOG_REPAIRS = Family(
    "kanal_bridge_watchdog_repairs",
    "Subscription repairs made by the watchdog, by kind: created (was missing), reactivated "
    "(disabled or paused), readdressed, reformatted, secret, removed (duplicate or unwanted).",
    ("store", "platform", "kind"),
)
RECONCILE_FOUND = Family(
    "kanal_bridge_reconcile_found",
    "Records reconciliation read from a shop's API that Kanal did not hold at that version: "
    "their webhook never arrived (a store where this keeps growing has broken webhooks).",
    ("store", "resource"),
)

FAMILIES: tuple[Family, ...] = (
    WEBHOOKS,
    SIGNATURE_FAILURES,
    IGNORED,
    WEBHOOK_SECONDS,
    KANAL_CALLS,
    KANAL_SECONDS,
    PUSH_OUTCOMES,
    RATE_LIMITED,
    UNANSWERED_POSTS,
    FETCHED,
    KANAL_HOLDS,
    BUDGET_WAITS,
    BUDGET_WAIT_SECONDS,
    WATCHDOG_CHECKS,
    WATCHDOG_REPAIRS,
    RECONCILE_FOUND,
)


def bucket_field(labels: Sequence[str], index: int) -> str:
    """Hash field of one histogram bucket (`index` == len(buckets) is +Inf)."""
    return SEPARATOR.join([*labels, f"b{index}"])


def sum_field(labels: Sequence[str]) -> str:
    """Hash field of a histogram's sum of observations."""
    return SEPARATOR.join([*labels, "sum"])


def counter_field(labels: Sequence[str]) -> str:
    """Hash field of one counter series."""
    return SEPARATOR.join(labels)


def store_key(store: str) -> str:
    """The hash of one bridge store's state (last webhook, last push; watchdog and
    reconciliation write theirs there too)."""
    return STORE_KEY_PREFIX + store


def hour_key(store: str, hour: int) -> str:
    """The hash of one store's counts during one hour (`hour` = unix time // 3600)."""
    return f"{HOUR_KEY_PREFIX}{store}:{hour}"


@dataclass
class Buffer:
    """Deltas not yet written to Redis: {hash key: {field: amount}}, and the newest times seen
    ({hash key: {field: unix time}}); safe across threads."""

    deltas: dict[str, dict[str, float]] = field(default_factory=dict)
    latest: dict[str, dict[str, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, family: Family, field_name: str, amount: float = 1.0) -> None:
        self.add_to(family.key, field_name, amount)

    def add_to(self, key: str, field_name: str, amount: float = 1.0) -> None:
        """Add `amount` to one field of any hash."""
        with self.lock:
            fields = self.deltas.setdefault(key, {})
            fields[field_name] = fields.get(field_name, 0.0) + amount

    def seen(self, key: str, at: float, *field_names: str) -> None:
        """Remember `at` as the newest time of each field (older times are dropped)."""
        with self.lock:
            fields = self.latest.setdefault(key, {})
            for name in field_names:
                if at > fields.get(name, 0.0):
                    fields[name] = at

    def inc(self, family: Family, *labels: str, amount: float = 1.0) -> None:
        """Add `amount` to a counter series."""
        self.add(family, counter_field(labels), amount)

    def observe(self, family: Family, seconds: float, *labels: str) -> None:
        """Count one observation in a histogram."""
        index = bisect.bisect_left(family.buckets, seconds)
        self.add(family, bucket_field(labels, index))
        self.add(family, sum_field(labels), seconds)

    def take(self) -> dict[str, dict[str, float]]:
        """Every buffered delta, leaving the deltas empty."""
        with self.lock:
            taken, self.deltas = self.deltas, {}
        return taken

    def take_latest(self) -> dict[str, dict[str, float]]:
        """Every buffered newest time, leaving them empty."""
        with self.lock:
            taken, self.latest = self.latest, {}
        return taken

    def restore(
        self,
        taken: dict[str, dict[str, float]],
        latest: dict[str, dict[str, float]] | None = None,
    ) -> None:
        """Put back what a flush could not write."""
        for key, fields in taken.items():
            for name, amount in fields.items():
                self.add_to(key, name, amount)
        for key, fields in (latest or {}).items():
            for name, at in fields.items():
                self.seen(key, at, name)


BUFFER = Buffer()

# This process in the presence set (None: not announced, e.g. a CLI command).
_presence: str | None = None


def announce(kind: str, connections: int) -> None:
    """Make each flush of this process say it is alive, and how many Redis connections it may
    open at most (the capacity check adds them up)."""
    global _presence
    host = os.environ.get("DYNO") or socket.gethostname()
    _presence = f"{kind}:{host}:{os.getpid()}:{connections}"


def _queue(
    pipe: Any, taken: dict[str, dict[str, float]], latest: dict[str, dict[str, float]]
) -> None:
    """Queue a flush's commands on a sync or asyncio pipeline (their methods are the same)."""
    for key, fields in taken.items():
        for name, amount in fields.items():
            pipe.hincrbyfloat(key, name, amount)
        if key.startswith(HOUR_KEY_PREFIX):
            pipe.expire(key, HOURLY_TTL)
    for key, times in latest.items():
        pipe.hset(key, mapping={name: repr(at) for name, at in times.items()})
    if _presence is not None:
        now = time.time()
        pipe.zadd(PRESENCE_KEY, {_presence: now})
        pipe.zremrangebyscore(PRESENCE_KEY, "-inf", now - PRESENCE_TTL)


def flush(client: redis.Redis, buffer: Buffer = BUFFER) -> None:
    """Write the buffered deltas and times to Redis (kept for the next flush if Redis fails)."""
    taken, latest = buffer.take(), buffer.take_latest()
    if not taken and not latest and _presence is None:
        return
    try:
        with client.pipeline(transaction=False) as pipe:
            _queue(pipe, taken, latest)
            pipe.execute()
    except redis.RedisError:
        buffer.restore(taken, latest)
        raise


async def aflush(client: redis.asyncio.Redis, buffer: Buffer = BUFFER) -> None:
    """`flush` for the asyncio client of the web process."""
    taken, latest = buffer.take(), buffer.take_latest()
    if not taken and not latest and _presence is None:
        return
    try:
        async with client.pipeline(transaction=False) as pipe:
            _queue(pipe, taken, latest)
            await pipe.execute()
    except (redis.RedisError, OSError):
        buffer.restore(taken, latest)
        raise


class Flusher(threading.Thread):
    """A daemon thread flushing the buffer every `interval` seconds (the worker's)."""

    def __init__(self, client: redis.Redis, interval: float = FLUSH_INTERVAL) -> None:
        super().__init__(name="metrics-flusher", daemon=True)
        self._client = client
        self._interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self._interval):
            _quietly(self._client)

    def stop(self) -> None:
        """Stop the thread and flush what is left."""
        self._stopped.set()
        if self.is_alive():
            self.join(self._interval + 5)
        _quietly(self._client)


def _quietly(client: redis.Redis) -> None:
    try:
        flush(client)
    except redis.RedisError as exc:
        log.warning("metrics not flushed to Redis: %s", exc.__class__.__name__)


async def flush_forever(client: redis.asyncio.Redis, interval: float = FLUSH_INTERVAL) -> None:
    """The web process's flusher task: flush every `interval` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval)
        try:
            await aflush(client)
        except (redis.RedisError, OSError) as exc:
            log.warning("metrics not flushed to Redis: %s", exc.__class__.__name__)


def _reason(reason: str | None) -> str:
    return reason if reason and _REASON.match(reason) else "other"


# What the web process records (one call per webhook, from bridge.intake.webhooks._log).


def webhook(
    platform: str,
    store: str | None,
    topic: str | None,
    answer: str,
    reason: str | None,
    seconds: float,
) -> None:
    """Count one webhook delivery (`store` None: not a configured store)."""
    known = store is not None
    store = store or "unknown"
    topic = "none" if topic is None else topic if topic in PLATFORMS.get(platform, {}) else "other"
    BUFFER.inc(WEBHOOKS, platform, store, topic, answer)
    BUFFER.observe(WEBHOOK_SECONDS, seconds, platform)
    if answer in ("invalid_signature", "wrong_shop"):
        why = "wrong_shop" if answer == "wrong_shop" else _signature_reason(reason)
        BUFFER.inc(SIGNATURE_FAILURES, platform, store, why)
        if known:
            BUFFER.add_to(hour_key(store, int(time.time() // 3600)), "refused")
    elif answer == "ignored":
        BUFFER.inc(IGNORED, platform, store, _reason(reason))
    if known and answer in VERIFIED_ANSWERS and reason != "ping":
        now = time.time()
        fields = ["webhook_at"]
        if topic in FAMILIES_BY_TOPIC:
            fields += [f"webhook_at:{FAMILIES_BY_TOPIC[topic]}", f"webhook_at:{topic}"]
        BUFFER.seen(store_key(store), now, *fields)
        BUFFER.add_to(hour_key(store, int(now // 3600)), "webhooks")


def _signature_reason(detail: str | None) -> str:
    text = detail or ""
    if "missing" in text:
        return "missing"
    if "malformed" in text:
        return "malformed"
    return "mismatch"


# What the worker records (from bridge.delivery.push).


def kanal_call(store: str, resource: str, method: str, status: int | None, seconds: float) -> None:
    """Count one Kanal call and its duration (`status` None or 0: no HTTP answer)."""
    BUFFER.inc(KANAL_CALLS, store, resource, method, str(status or 0))
    BUFFER.observe(KANAL_SECONDS, seconds, resource, method)
    now = time.time()
    hour = hour_key(store, int(now // 3600))
    BUFFER.add_to(hour, "calls")
    if status and 200 <= status < 300:
        BUFFER.seen(store_key(store), now, "push_at")
        BUFFER.add_to(hour, "pushes")
    elif status and 400 <= status < 500:
        if status != 429:  # counted by rate_limited()
            BUFFER.add_to(hour, "rejected")
    else:
        BUFFER.add_to(hour, "errors")


def push_outcome(store: str, outcome: str) -> None:
    """Count how a push job ended."""
    BUFFER.inc(PUSH_OUTCOMES, store, outcome)
    if outcome == "failed":
        BUFFER.add_to(hour_key(store, int(time.time() // 3600)), "failed")


def budget_wait(store: str, seconds: float) -> None:
    """Count a push rescheduled to its Kanal store's next slot."""
    BUFFER.inc(BUDGET_WAITS, store)
    BUFFER.inc(BUDGET_WAIT_SECONDS, store, amount=seconds)


def rate_limited(store: str) -> None:
    """Count a 429 from Kanal."""
    BUFFER.inc(RATE_LIMITED, store)
    BUFFER.add_to(hour_key(store, int(time.time() // 3600)), "rate_limited")


def unanswered_post(store: str, resource: str, outcome: str) -> None:
    """Count how a POST that got no answer was resolved (landed, not_landed, reposted)."""
    BUFFER.inc(UNANSWERED_POSTS, store, resource, outcome)


def fetched(store: str, resource: str, lane: str, outcome: str) -> None:
    """Count one record fetched from a shop's API, by how the record store took it."""
    BUFFER.inc(FETCHED, store, resource, lane, _reason(outcome))


def kanal_held(store: str, reason: str) -> None:
    """Count a Kanal store held after Kanal refused `store`'s push as a whole."""
    BUFFER.inc(KANAL_HOLDS, store, _reason(reason))


# What the watchdog records (from bridge.platforms.watchdog, in the worker).


def watchdog_check(store: str, platform: str, outcome: str, repairs: Sequence[str] = ()) -> None:
    """Count one watchdog check of a store, and each repair it made (by kind)."""
    BUFFER.inc(WATCHDOG_CHECKS, store, platform, _reason(outcome))
    for kind in repairs:
        BUFFER.inc(WATCHDOG_REPAIRS, store, platform, _reason(kind))


def reconcile_found(store: str, resource: str) -> None:
    """Count one record reconciliation found that webhooks had not delivered."""
    BUFFER.inc(RECONCILE_FOUND, store, resource)
