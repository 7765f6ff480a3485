"""Backfill: what a shop already holds, read from its API into Kanal, behind the live traffic.

`kanal-bridge backfill STORE` counts first (`plan`), says what it will cost, then `start`s a
scan (bridge/platforms/scan.py) that the workers run one page at a time as a periodic platform
task (`run`): the records go to the record store's bulk lane, which uses only the Kanal calls
live webhooks leave free, a few pages ahead of what Kanal has taken. A worker killed mid-way,
or a restart of everything, resumes from the last page committed in `kb:backfill:{store}`
(fields in scan.py, plus those below); a page read twice costs nothing (Kanal "already
holds" it).

What is read, by default (`windows`):
- orders created or changed since `--since` (default BACKFILL_DAYS ago), until the backfill
  starts (later changes come by webhook and reconciliation);
- customers, all of them (those without a usable phone are skipped by the mapper);
- Shopify's open abandoned checkouts abandoned within CHECKOUT_RECOVERY_HOURS (no cart
  reminder for a cart abandoned weeks ago).
Shipments are never sent by a backfill: Kanal sends a shipping notification for each one.

Extra fields of `kb:backfill:{store}`:
    platform, resources (comma-separated), since (unix seconds, or "" for no bound)
    total:{r}      records counted before the start (what the estimate was made of)
    exact:{r}      "0" when the platform stopped counting (Shopify counts up to a limit)
    rate           the Kanal store's calls per minute when it started
    kanal_store_id
    timezone       the shop's time zone (Shopify), for the mapper
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import redis

from bridge import defaults
from bridge.config import BridgeConfig, StoreConfig
from bridge.errors import PlatformError
from bridge.ops.progress import backfill_key, duration, summary
from bridge.platforms import periodic, scan, shopify_queries
from bridge.platforms.sources import Count, Source, Window, source_for

log = logging.getLogger("bridge.platforms.backfill")

RESOURCES: dict[str, tuple[str, ...]] = {
    "shopify": ("orders", "customers", "checkouts"),
    "woocommerce": ("orders", "customers"),
}
PAGE_SIZES = {**shopify_queries.PAGE_SIZES, "trashed_orders": 100}


class BackfillRunning(Exception):
    """A backfill of this store is already running."""


@dataclass
class Plan:
    """What a backfill will read and what that costs."""

    store: str
    platform: str
    windows: list[Window]
    counts: dict[str, Count]
    rate: int  # the Kanal store's calls per minute
    since: datetime | None
    notes: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        """Kanal calls at most: one per record (a record without a phone costs none)."""
        return sum(count.records for count in self.counts.values())

    @property
    def seconds(self) -> float:
        return self.calls / self.rate * 60 if self.rate else 0.0

    def summary(self) -> str:
        """ "8,312 orders and 2,940 customers: about 3 h 25 min at 60 calls/min; live webhooks
        go first"."""
        parts = [
            f"{'at least ' if not count.exact else ''}{count.records:,} {_noun(resource, count)}"
            for resource, count in self.counts.items()
        ]
        what = _join(parts) or "nothing"
        if not self.calls:
            return f"{what}: nothing to send"
        return (
            f"{what}: about {duration(self.seconds)} at {self.rate} calls/min; "
            "live webhooks go first"
        )


def _noun(resource: str, count: Count) -> str:
    names = {"checkouts": "open abandoned checkouts"}
    name = names.get(resource, resource)
    return name[:-1] if count.records == 1 and name.endswith("s") else name


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def windows(
    store: StoreConfig,
    resources: Sequence[str],
    *,
    since: datetime | None,
    now: datetime,
) -> list[Window]:
    """What a backfill of `resources` reads, up to `now`."""
    found = []
    for resource in resources:
        if resource == "orders":
            found.append(Window("orders", since, now))
        elif resource == "customers":
            found.append(Window("customers", None, now))
        elif resource == "checkouts":
            oldest = now - recovery_window(store)
            found.append(Window("checkouts", oldest, now, open_only=True))
    return found


def recovery_window(store: StoreConfig) -> timedelta:
    """How far back an abandoned checkout may still get a reminder: abandoned (its last
    change plus `abandoned_after_minutes`) within CHECKOUT_RECOVERY_HOURS."""
    return timedelta(minutes=store.abandoned_after_minutes, hours=defaults.CHECKOUT_RECOVERY_HOURS)


def plan(
    key: str,
    store: StoreConfig,
    config: BridgeConfig,
    source: Source,
    *,
    resources: Sequence[str] | None = None,
    since: datetime | None = None,
    now: datetime | None = None,
) -> Plan:
    """Count what a backfill would read (one small request per resource)."""
    now = now or datetime.now(UTC)
    wanted = list(resources or RESOURCES[store.platform])
    unknown = [r for r in wanted if r not in RESOURCES[store.platform]]
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)}: not a resource a {store.platform} backfill reads "
            f"(one of {', '.join(RESOURCES[store.platform])})"
        )
    if since is None:
        since = now - timedelta(days=defaults.BACKFILL_DAYS)
    scan_windows = windows(store, wanted, since=since, now=now)
    counts = {window.resource: source.count(window) for window in scan_windows}
    notes = []
    visible = now - timedelta(days=defaults.SHOPIFY_VISIBLE_ORDER_DAYS)
    if store.platform == "shopify" and "orders" in wanted and since < visible:
        notes.append(
            f"Shopify shows apps only the last {defaults.SHOPIFY_VISIBLE_ORDER_DAYS} days of "
            "orders unless the app has the read_all_orders scope: orders placed before "
            f"{visible:%Y-%m-%d} are read only with it (README: Backfill and reconciliation)."
        )
    rate = config.rate_for(store.kanal_store_id)
    return Plan(key, store.platform, scan_windows, counts, rate, since, notes)


def start(
    client: redis.Redis,
    store: StoreConfig,
    found: Plan,
    *,
    timezone: str | None = None,
    now: float | None = None,
) -> None:
    """Begin the backfill `found` describes; raises BackfillRunning if one is running."""
    now = time.time() if now is None else now
    key = backfill_key(found.store)
    fields = scan.fresh(
        found.windows,
        now,
        platform=found.platform,
        resources=",".join(found.counts),
        since=repr(found.since.timestamp()) if found.since else "",
        rate=found.rate,
        kanal_store_id=store.kanal_store_id,
        timezone=timezone or "",
        **{f"total:{r}": count.records for r, count in found.counts.items()},
        **{f"exact:{r}": int(count.exact) for r, count in found.counts.items()},
    )

    def replace(pipe: redis.client.Pipeline) -> None:
        if pipe.hget(key, "state") == scan.RUNNING.encode():
            raise BackfillRunning(f"a backfill of {found.store} is already running")
        pipe.multi()
        pipe.delete(key)
        pipe.hset(key, mapping=fields)
        pipe.zadd(periodic.DUE_KEY, {periodic.task_id("backfill", found.store): now})

    client.transaction(replace, key)
    log.info("backfill of %s started: %s", found.store, found.summary())


def cancel(client: redis.Redis, store: str, now: float | None = None) -> bool:
    """Stop reading pages (records already handed to the bulk lane still go to Kanal);
    False when no backfill was running."""
    key = backfill_key(store)

    def stop(pipe: redis.client.Pipeline) -> None:
        if pipe.hget(key, "state") != scan.RUNNING.encode():
            raise _NotRunning
        pipe.multi()
        pipe.hset(key, mapping={"state": scan.CANCELLED, "finished_at": repr(now or time.time())})

    try:
        client.transaction(stop, key)
    except _NotRunning:
        return False
    log.info("backfill of %s cancelled", store)
    return True


class _NotRunning(Exception):
    pass


def step(
    client: redis.Redis,
    config: BridgeConfig,
    key: str,
    sink: scan.Sink,
    *,
    source: Source | None = None,
    now: float | None = None,
) -> float | None:
    """One page of `key`'s running backfill; seconds until the next (None: nothing to run)."""
    fields = scan.read(client, backfill_key(key))
    if fields.get("state") != scan.RUNNING:
        return None
    store = config.stores[key]
    rate = config.rate_for(store.kanal_store_id)
    pending = sink.bulk_pending(store.kanal_store_id)
    client.hset(backfill_key(key), "waiting", pending)
    resource = _current(fields)
    wait = scan.wait_for_room(pending, scan.ahead(PAGE_SIZES.get(resource, 100), rate), rate)
    if wait:
        return wait
    with scan.shop_lock(client, key) as mine:
        if not mine:
            return defaults.SCAN_BUSY_RETRY
        if source is None:
            source = source_for(
                key,
                store,
                timezone=fields.get("timezone") or None,
                in_job=True,
                share=defaults.BACKFILL_BUCKET_SHARE,
            )
        try:
            page = scan.read_page(
                client, backfill_key(key), key, source, sink, drop_shipments=True, now=now
            )
        except PlatformError as exc:
            scan.note_error(client, backfill_key(key), str(exc), now)
            raise
    if page is None:
        return None
    if page.done:
        log.info("backfill of %s finished: %s", key, summary(scan.read(client, backfill_key(key))))
        return None
    return 0.0


def _current(fields: Mapping[str, str]) -> str:
    todo = scan.windows(fields)
    index = int(fields.get("window") or 0)
    return todo[index].resource if index < len(todo) else ""


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`--since`: a date (2026-01-31, midnight UTC), a date-time with an offset, or a
    number of days (30d)."""
    now = now or datetime.now(UTC)
    value = text.strip()
    if value.endswith("d") and value[:-1].isdigit():
        return now - timedelta(days=int(value[:-1]))
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since {text!r}: give a date (2026-01-31), a date and time with an offset, "
            "or a number of days (30d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment > now:
        raise ValueError(f"--since {text!r} is in the future")
    return moment


def estimate_lines(found: Plan) -> list[str]:
    """What the command prints before starting."""
    return [found.summary(), *found.notes]
