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
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

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
    KANAL_HOLDS,
    BUDGET_WAITS,
    BUDGET_WAIT_SECONDS,
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


@dataclass
class Buffer:
    """Deltas not yet written to Redis: {hash key: {field: amount}}; safe across threads."""

    deltas: dict[str, dict[str, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, family: Family, field_name: str, amount: float = 1.0) -> None:
        with self.lock:
            fields = self.deltas.setdefault(family.key, {})
            fields[field_name] = fields.get(field_name, 0.0) + amount

    def inc(self, family: Family, *labels: str, amount: float = 1.0) -> None:
        """Add `amount` to a counter series."""
        self.add(family, counter_field(labels), amount)

    def observe(self, family: Family, seconds: float, *labels: str) -> None:
        """Count one observation in a histogram."""
        index = bisect.bisect_left(family.buckets, seconds)
        self.add(family, bucket_field(labels, index))
        self.add(family, sum_field(labels), seconds)

    def take(self) -> dict[str, dict[str, float]]:
        """Everything buffered, leaving the buffer empty."""
        with self.lock:
            taken, self.deltas = self.deltas, {}
        return taken

    def restore(self, taken: dict[str, dict[str, float]]) -> None:
        """Put back deltas a flush could not write."""
        for key, fields in taken.items():
            with self.lock:
                mine = self.deltas.setdefault(key, {})
                for name, amount in fields.items():
                    mine[name] = mine.get(name, 0.0) + amount


BUFFER = Buffer()


def flush(client: redis.Redis, buffer: Buffer = BUFFER) -> None:
    """Write the buffered deltas to Redis (kept for the next flush if Redis fails)."""
    taken = buffer.take()
    if not taken:
        return
    try:
        with client.pipeline(transaction=False) as pipe:
            for key, fields in taken.items():
                for name, amount in fields.items():
                    pipe.hincrbyfloat(key, name, amount)
            pipe.execute()
    except redis.RedisError:
        buffer.restore(taken)
        raise


async def aflush(client: redis.asyncio.Redis, buffer: Buffer = BUFFER) -> None:
    """`flush` for the asyncio client of the web process."""
    taken = buffer.take()
    if not taken:
        return
    try:
        async with client.pipeline(transaction=False) as pipe:
            for key, fields in taken.items():
                for name, amount in fields.items():
                    pipe.hincrbyfloat(key, name, amount)
            await pipe.execute()
    except (redis.RedisError, OSError):
        buffer.restore(taken)
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
    store = store or "unknown"
    topic = "none" if topic is None else topic if topic in PLATFORMS.get(platform, {}) else "other"
    BUFFER.inc(WEBHOOKS, platform, store, topic, answer)
    BUFFER.observe(WEBHOOK_SECONDS, seconds, platform)
    if answer in ("invalid_signature", "wrong_shop"):
        why = "wrong_shop" if answer == "wrong_shop" else _signature_reason(reason)
        BUFFER.inc(SIGNATURE_FAILURES, platform, store, why)
    elif answer == "ignored":
        BUFFER.inc(IGNORED, platform, store, _reason(reason))


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


def push_outcome(store: str, outcome: str) -> None:
    """Count how a push job ended."""
    BUFFER.inc(PUSH_OUTCOMES, store, outcome)


def budget_wait(store: str, seconds: float) -> None:
    """Count a push rescheduled to its Kanal store's next slot."""
    BUFFER.inc(BUDGET_WAITS, store)
    BUFFER.inc(BUDGET_WAIT_SECONDS, store, amount=seconds)


def rate_limited(store: str) -> None:
    """Count a 429 from Kanal."""
    BUFFER.inc(RATE_LIMITED, store)


def unanswered_post(store: str, resource: str, outcome: str) -> None:
    """Count how a POST that got no answer was resolved (landed, not_landed, reposted)."""
    BUFFER.inc(UNANSWERED_POSTS, store, resource, outcome)


def kanal_held(store: str, reason: str) -> None:
    """Count a Kanal store held after Kanal refused `store`'s push as a whole."""
    BUFFER.inc(KANAL_HOLDS, store, _reason(reason))
