"""The watchdog: every store with API credentials is checked periodically and repaired.

A periodic task (bridge/platforms/periodic.py, every `[bridge] watchdog_every_minutes`, 0:
off; only with a public_url) runs `check` for one store in a worker: it does what
`kanal-bridge connect` does (bridge/platforms/connect.py) and records what it found. One
process runs it at a time however many workers there are (the platform queue's scheduler
lock), and one run per store at a time (the store's lock, shared with `connect`).

Each repair is one log line (store, platform, topic, kind: never a secret), counted in
`kanal_bridge_watchdog_repairs_total{store, platform, kind}`; each check in
`kanal_bridge_watchdog_checks_total{store, platform, outcome}`.

What it writes, for the status page and the alerts (bridge/ops/health.py), in
`kb:store:{store}`:
    subscriptions      JSON {topic: state} after the check's repairs, per wanted topic; a
                       state is active, disabled, paused, missing, wrong_address or
                       wrong_format (one the watchdog could not repair stays as found)
    watchdog_at        the last check that could read the shop (unix seconds)
    healthy_at         the last check (or connect) that found every subscription in line
    repair_at          the last check that repaired a deaf subscription (created,
    repair_kind        reactivated, readdressed, reformatted: comma-separated kinds), a
                       first connection aside
    watchdog_error     why the last check could not read the shop (absent after a good one)
    watchdog_error_at

and the windows during which a store was deaf, for reconciliation to fetch, in
`kb:deaf:{store}`: a sorted set, one member per window, scored by its end:

    {"start": 1780000000, "end": 1780004000, "topics": ["order.created"],
     "repairs": ["reactivated"]}

`start` is the last webhook received from the store or the last check that found it in line,
whichever is earlier, less DEAF_MARGIN (deliveries fail, and WooCommerce counts them toward
disabling, from the moment the bridge stops answering: the last webhook it received bounds
that moment); `end` is the repair. Reconciliation fetches what changed in each window in
full (`deaf_windows`), then drops it (`forget_window`). A store the bridge never heard from
and never found in line has no window: that is a first connection, which backfill covers.
Windows are kept DEAF_KEEP_SECONDS at most, DEAF_MAX per store.

What the watchdog cannot see: a delivery the platform dropped or that failed while the
subscription stayed active (WooCommerce never retries; Shopify gives up after 4 hours),
events a WooCommerce webhook coalesced, and Shopify subscriptions declared in the app's
configuration (shopify.app.toml), which the Admin API does not list. Reconciliation covers
the first two.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import redis
from redis.typing import EncodableT, FieldT

from bridge import defaults, metrics
from bridge.config import StoreConfig
from bridge.errors import PlatformError
from bridge.platforms import connect, periodic, subscriptions
from bridge.platforms.connect import StoreReport

log = logging.getLogger("bridge.platforms.watchdog")

DEAF_PREFIX = f"{defaults.KEY_PREFIX}:deaf:"
# A check that finds another run changing the store's subscriptions comes back this soon.
BUSY_RETRY = 30.0


def deaf_key(store: str) -> str:
    return DEAF_PREFIX + store


@dataclass(frozen=True)
class DeafWindow:
    """A time during which a store's shop was not delivering (some topics) to the bridge."""

    start: int  # unix seconds
    end: int
    topics: tuple[str, ...]
    repairs: tuple[str, ...]
    member: bytes  # as stored (to forget it)

    @classmethod
    def parse(cls, member: bytes) -> DeafWindow | None:
        try:
            data = json.loads(member)
            return cls(
                int(data["start"]),
                int(data["end"]),
                tuple(data.get("topics", ())),
                tuple(data.get("repairs", ())),
                member,
            )
        except (ValueError, KeyError, TypeError):
            return None


def deaf_windows(client: redis.Redis, store: str) -> list[DeafWindow]:
    """The deaf windows recorded for `store` and not yet forgotten, oldest end first."""
    raw: list[bytes] = client.zrange(deaf_key(store), 0, -1)  # type: ignore[assignment]
    return [window for window in map(DeafWindow.parse, raw) if window is not None]


def forget_window(client: redis.Redis, store: str, window: DeafWindow) -> None:
    """Drop a window once reconciliation has fetched it."""
    client.zrem(deaf_key(store), window.member)


def check(context: periodic.Context, key: str) -> float | None:
    """The periodic task: check and repair one store's subscriptions, and record it."""
    store = context.config.stores[key]
    public_url = context.config.public_url()
    if public_url is None:
        return None  # the task is off without one; the configuration changed under us
    report = connect.connect_store(
        key, store, public_url, context.redis, quick=True, wait_for_lock=0
    )
    if report.plan is None and report.error and "another connect" in report.error:
        return BUSY_RETRY
    record(context.redis, key, store, report, by_watchdog=True)
    if report.plan is None:
        raise PlatformError(f"watchdog {key}: {report.error}")
    return None


def record(
    client: redis.Redis,
    key: str,
    store: StoreConfig,
    report: StoreReport,
    now: float | None = None,
    *,
    by_watchdog: bool,
) -> DeafWindow | None:
    """Write what a check (or `connect`) found and did: the store's fields, a deaf window
    when it repaired a deaf subscription, and (watchdog) its log lines and metrics."""
    now = time.time() if now is None else now
    state_key = metrics.store_key(key)
    if report.plan is None:
        if by_watchdog:
            client.hset(
                state_key,
                mapping={"watchdog_error": (report.error or "")[:500], "watchdog_error_at": now},
            )
            metrics.watchdog_check(key, store.platform, "failed")
            log.error(
                "watchdog could not check the store's subscriptions",
                extra={"store": key, "platform": store.platform, "error": report.error},
            )
        return None
    heard, healthy = client.hmget(state_key, "webhook_at", "healthy_at")
    repairs = report.repairs()
    window = None
    if repairs:
        window = _window(key, report, repairs, [heard, healthy], now)
    fields: dict[FieldT, EncodableT] = {
        "subscriptions": json.dumps(report.states_after()),
    }
    if all(state == "active" for state in report.plan.states.values()):
        fields["healthy_at"] = now
    if by_watchdog:
        fields["watchdog_at"] = now
        if window is not None:  # a repair (a first connection is not one)
            fields["repair_at"] = now
            fields["repair_kind"] = ", ".join(repairs)
    with client.pipeline() as pipe:
        pipe.hset(state_key, mapping=fields)
        if by_watchdog:
            pipe.hdel(state_key, "watchdog_error", "watchdog_error_at")
        if window is not None:
            pipe.zadd(deaf_key(key), {window.member: window.end})
            pipe.zremrangebyscore(deaf_key(key), "-inf", now - defaults.DEAF_KEEP_SECONDS)
            pipe.zremrangebyrank(deaf_key(key), 0, -defaults.DEAF_MAX - 1)
        pipe.execute()
    if by_watchdog:
        _report(key, store, report, first=bool(repairs) and window is None)
    return window


def _window(
    key: str,
    report: StoreReport,
    repairs: list[str],
    known: list[bytes | str | None],
    now: float,
) -> DeafWindow | None:
    times = [float(value) for value in known if value]
    topics = sorted(
        {
            outcome.change.topic
            for outcome in report.done
            if set(outcome.change.kinds) & subscriptions.DEAF_KINDS
        }
    )
    if not times:
        log.info(
            "first connection of the store: no deaf window (backfill fetches its history)",
            extra={"store": key, "topics": topics},
        )
        return None
    start, end = int(min(times)) - defaults.DEAF_MARGIN, int(now) + 1
    data = {"start": start, "end": end, "topics": topics, "repairs": repairs}
    member = json.dumps(data, separators=(",", ":")).encode()
    log.warning(
        "the store was deaf: reconciliation will fetch the window",
        extra={
            "store": key,
            "deaf_from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
            "deaf_until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end)),
            "topics": topics,
        },
    )
    return DeafWindow(start, end, tuple(topics), tuple(repairs), member)


def _report(key: str, store: StoreConfig, report: StoreReport, *, first: bool) -> None:
    """The watchdog's log lines (one per repair; one in all for a first connection) and
    metrics."""
    made: list[str] = []
    failed = False
    if first:
        log.info(
            "watchdog connected the store: its webhook subscriptions are made",
            extra={"store": key, "platform": store.platform, "changes": len(report.done)},
        )
    for outcome in report.outcomes:
        change = outcome.change
        extra = {
            "store": key,
            "platform": store.platform,
            "topic": change.topic,
            "was": change.was,
            "repair": ", ".join(change.kinds),
        }
        if outcome.done:
            made.extend(change.kinds)
            if not first:
                log.warning("watchdog repaired a webhook subscription", extra=extra)
        else:
            failed = True
            log.error(
                "watchdog could not repair a webhook subscription",
                extra={**extra, "error": outcome.error},
            )
    outcome_name = "failed" if failed else "repaired" if made else "ok"
    metrics.watchdog_check(key, store.platform, outcome_name, made)
