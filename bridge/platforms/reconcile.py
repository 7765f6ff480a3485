"""Reconciliation: what the webhooks missed, read from the shop's API every few minutes.

Every store with API credentials is reconciled as a periodic platform task (`run`, every
`reconcile_every_minutes`; 0 turns it off): a pass is a scan (bridge/platforms/scan.py) of the
orders changed since the last pass's end less an overlap, up to a little before the pass
began, and of the windows the watchdog recorded as deaf (`kb:deaf:{store}`, fetched in full,
then forgotten). Shopify's open abandoned checkouts are read the same way (never those too
old for a reminder); WooCommerce's trash too (a trashed order is cancelled in Kanal), and its
customers once every `reconcile_customers_every_hours` (WooCommerce cannot filter customers by
date: every customer is read, those unchanged since the last look are dropped before the
record store sees them). Shopify customers are not reconciled: their `updatedAt` moves without
a webhook (purchasing figures come on their own topic), which would report healthy webhooks
as broken.

Records go through the record store like webhooks (the bulk lane): one Kanal already holds
at that version costs nothing. One it did not hold was missed by the webhooks: it is logged
(one line, no personal data), counted in `kanal_bridge_reconcile_found_total{store,
resource}`, and the pass's figures go to `kb:store:{store}`: `reconcile_at` (end of the last
pass), `reconcile_found` (records it found), `reconcile_found_total` (since the start).

`kb:reconcile:{store}` holds the running pass (scan fields) and, across passes:
    watermark      the end of the last complete pass's window (unix seconds)
    until          the end of the running pass's window
    deaf           JSON list of the deaf windows the running pass fetches
    customers_at   when the WooCommerce customers were last read
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis

from bridge import defaults, metrics
from bridge.config import BridgeConfig, StoreConfig
from bridge.errors import PlatformError
from bridge.ops.progress import totals
from bridge.platforms import scan
from bridge.platforms.backfill import PAGE_SIZES, recovery_window
from bridge.platforms.sources import Source, Window, shop_timezone, source_for
from bridge.platforms.watchdog import DeafWindow, deaf_key, deaf_windows

log = logging.getLogger("bridge.platforms.reconcile")

KEY_PREFIX = f"{defaults.KEY_PREFIX}:reconcile:"
KEPT = ("watermark", "customers_at", "timezone")


def reconcile_key(store: str) -> str:
    return KEY_PREFIX + store


def windows(
    store: StoreConfig,
    fields: Mapping[str, str],
    deaf: list[DeafWindow],
    now: float,
) -> tuple[list[Window], float, bool]:
    """A new pass's windows, the end of its regular window, and whether it reads WooCommerce's
    customers."""
    watermark = float(fields.get("watermark") or now - defaults.RECONCILE_FIRST_LOOKBACK_SECONDS)
    until = now - lag(store)
    spans = [(float(w.start), float(w.end + defaults.RECONCILE_OVERLAP_SECONDS)) for w in deaf]
    spans.append((watermark, until))
    resources = (
        ("orders", "checkouts") if store.platform == "shopify" else ("orders", "trashed_orders")
    )
    oldest_cart = now - recovery_window(store).total_seconds()
    found = []
    for start, end in spans:
        start -= defaults.RECONCILE_OVERLAP_SECONDS
        for resource in resources:
            if resource == "checkouts":
                if end > oldest_cart:
                    found.append(Window(resource, _at(max(start, oldest_cart)), _at(end), True))
            else:
                found.append(Window(resource, _at(start), _at(end)))
    customers = False
    hours = store.reconcile_customers_every_hours
    if store.platform == "woocommerce" and hours > 0:
        last = float(fields.get("customers_at") or 0)
        if now - last >= hours * 3600:
            since = _at(last - defaults.RECONCILE_OVERLAP_SECONDS) if last else None
            found.append(Window("customers", since, _at(until)))
            customers = True
    return found, until, customers


def lag(store: StoreConfig) -> float:
    """How long before a pass it stops looking: RECONCILE_LAG_SECONDS, or the store's interval
    when that is shorter (a store reconciled every few seconds wants what it misses soon)."""
    interval = store.reconcile_every_minutes * 60
    return (
        min(defaults.RECONCILE_LAG_SECONDS, interval)
        if interval > 0
        else defaults.RECONCILE_LAG_SECONDS
    )


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def begin(
    client: redis.Redis, key: str, store: StoreConfig, source: Source | None, now: float
) -> None:
    """Plan and record a new pass (keeping the watermark and the customers' last look)."""
    fields = scan.read(client, reconcile_key(key))
    deaf = deaf_windows(client, key)
    todo, until, customers = windows(store, fields, deaf, now)
    kept: scan.Fields = {name: fields[name] for name in KEPT if fields.get(name)}
    if "timezone" not in kept and source is not None:
        kept["timezone"] = shop_timezone(source) or ""
    if customers:
        kept["customers_at"] = repr(now)
    members = [w.member.decode() for w in deaf]
    new = scan.fresh(todo, now, until=repr(until), deaf=json.dumps(members))
    with client.pipeline() as pipe:
        pipe.delete(reconcile_key(key))
        pipe.hset(reconcile_key(key), mapping={**new, **kept})
        pipe.execute()


@dataclass
class Pass:
    """What a pass found: records Kanal did not hold, per resource."""

    store: str
    found: dict[str, int] = field(default_factory=dict)
    read: dict[str, int] = field(default_factory=dict)
    done: bool = False


def step(
    client: redis.Redis,
    config: BridgeConfig,
    key: str,
    sink: scan.Sink,
    *,
    source: Source | None = None,
    now: float | None = None,
) -> float | None:
    """One page of the store's pass (starting one when none runs); seconds until the next
    page, or None once the pass is over (the next pass is the task's interval away)."""
    now = time.time() if now is None else now
    store = config.stores[key]
    rate = config.rate_for(store.kanal_store_id)
    pending = sink.bulk_pending(store.kanal_store_id)
    wait = scan.wait_for_room(pending, scan.ahead(PAGE_SIZES["orders"], rate), rate)
    if wait:
        return wait
    with scan.shop_lock(client, key) as mine:
        if not mine:
            return defaults.SCAN_BUSY_RETRY
        fields = scan.read(client, reconcile_key(key))
        if source is None:
            source = source_for(
                key,
                store,
                timezone=fields.get("timezone") or None,
                in_job=True,
                share=defaults.RECONCILE_BUCKET_SHARE,
            )
        if fields.get("state") != scan.RUNNING:
            begin(client, key, store, source, now)
        try:
            page = scan.read_page(client, reconcile_key(key), key, source, sink, now=now)
        except PlatformError as exc:
            scan.note_error(client, reconcile_key(key), str(exc), now)
            raise
    if page is None or (page.done and not page.committed):
        return None  # another run is finishing this pass
    if page.committed:
        for resource, external_id in page.found:
            log.info(
                "reconciliation found %s %s of store %s: its webhook never arrived",
                resource,
                external_id,
                key,
            )
            metrics.reconcile_found(key, resource)
    if page.done and page.committed:
        finish(client, key, now)
        return None
    return 0.0


def finish(client: redis.Redis, key: str, now: float) -> Pass:
    """Close the pass: move the watermark, forget its deaf windows, write the store's figures."""
    fields = scan.read(client, reconcile_key(key))
    found = totals(fields, "queued")
    total = sum(found.values())
    with client.pipeline() as pipe:
        if fields.get("until"):
            pipe.hset(reconcile_key(key), "watermark", fields["until"])
        for member in json.loads(fields.get("deaf") or "[]"):
            pipe.zrem(deaf_key(key), member)
        pipe.hset(
            metrics.store_key(key),
            mapping={"reconcile_at": repr(now), "reconcile_found": total},
        )
        pipe.hincrby(metrics.store_key(key), "reconcile_found_total", total)
        pipe.execute()
    if total:
        log.warning(
            "reconciliation of %s found %d record(s) its webhooks had missed: %s",
            key,
            total,
            ", ".join(f"{n} {r}" for r, n in sorted(found.items()) if n),
        )
    return Pass(key, found, totals(fields, "fetched"), True)


def run_pass(
    client: redis.Redis,
    config: BridgeConfig,
    key: str,
    sink: scan.Sink,
    *,
    source: Source | None = None,
    sleep: float = 0.5,
    timeout: float = 3600.0,
) -> Pass:
    """One whole pass now, in this process (`kanal-bridge reconcile`): a pass already running
    (a worker's) is carried on to its end; a new one starts otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        wait = step(client, config, key, sink, source=source)
        if wait is None:
            break
        if wait:
            time.sleep(min(wait, sleep * 10))
    fields = scan.read(client, reconcile_key(key))
    return Pass(
        key,
        totals(fields, "queued"),
        totals(fields, "fetched"),
        fields.get("state") == scan.DONE,
    )
