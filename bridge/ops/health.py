"""Per-store health: what each store is doing, and one state from the rules written here.

Read at status time, in two pipelined round trips, from what Redis already holds: the pending
index and the records' keys, RQ's failed registry, each Kanal store's pace hash (429 pause;
the delivery workstream's hold of a rejected store: `held_reason`, `held_since`, `probe_at`),
and the small counters the metrics flush keeps (`kb:store:{store}`, `kb:hour:{store}:{hour}`,
bridge/metrics.py). The watchdog and reconciliation write their own fields into
`kb:store:{store}` (`subscriptions`, `watchdog_at`, `watchdog_error`, `repair_at`,
`repair_kind`, `reconcile_at`, `reconcile_found`, `reconcile_found_total`); a field not written
is "not available", never an error. Nothing here holds personal data: stores, counts, times,
topics and job ids.

States, worst first (a store takes the worst state among its conditions):

  failing   records are not reaching Kanal, or the shop has stopped talking to the bridge:
            - the oldest pending record waited longer than `oldest_pending_minutes`
              (not while paused: the pause is the cause, and is said);
            - more than `failed_per_hour` records failed in the last hour;
            - a platform webhook subscription is not active (disabled, paused, missing or
              pointing elsewhere) and the watchdog has not repaired it;
            - no webhook arrived for `quiet_hours` (only where the store sets it).
  paused    Kanal refuses the store: its API key is rejected (401/403) or the store is paused
            or unknown in Kanal (404 on a POST). Nothing is lost: records stay pending and go
            out by themselves once Kanal accepts them again. (Below failing: a failing
            condition risks losing events, a pause does not.)
  degraded  working, with something to look at:
            - records wait in the failed registry (`kanal-bridge failed list`);
            - Kanal answered errors (5xx, no answer) or 429 in the last hour (retried);
            - the Kanal store used 90 % or more of its call budget in the last hour;
            - the watchdog repaired a subscription in the last 24 hours;
            - the watchdog cannot read the shop's subscriptions (credentials refused, shop
              unreachable): it says why;
            - the last reconciliation pass found at least `reconcile_found` records that
              webhooks had missed.
  ok        none of these.

Conditions marked `alert` are the ones bridge/ops/alerts.py reports when they start and clear.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import redis
import redis.asyncio
from rq.registry import FailedJobRegistry
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from bridge import defaults, metrics
from bridge.config import AlertThresholds, BridgeConfig
from bridge.delivery import jobs
from bridge.delivery.limiter import pace_key
from bridge.delivery.records import PENDING_KEY
from bridge.ops import capacity

State = Literal["ok", "degraded", "failing", "paused"]
STATES: tuple[State, ...] = ("failing", "paused", "degraded", "ok")  # worst first
SEVERITY: dict[State, int] = {"ok": 0, "degraded": 1, "paused": 2, "failing": 3}

FAILED_KEY: str = FailedJobRegistry(queue=jobs._QUEUE).key
WORKERS_KEY: str = WORKERS_BY_QUEUE_KEY % defaults.QUEUE_NAME

# The charts and the hourly figures cover this many hours, the current one last.
HOURS = 24
# Share of the Kanal store's hourly budget above which a store is degraded.
BUDGET_WARN = 0.9
# A watchdog repair keeps the store degraded this long: an operator's daily look sees it.
RECENT_REPAIR_SECONDS = 24 * 3600
# Failed jobs linked from a store's row.
FAILED_LINKS = 5

# What the delivery workstream's `held_reason` codes mean, for people.
HELD_REASONS = {
    "key_rejected": "Kanal rejects the store's API key (401/403)",
    "store_paused": "the store is paused or unknown in Kanal (404 on POST)",
}


@dataclass(frozen=True)
class Condition:
    """One thing wrong (or worth a look) with a store."""

    name: str
    state: State
    summary: str  # for the page, the terminal and the alert: no personal data
    alert: bool = False


@dataclass
class Hourly:
    """Counts per hour, oldest first; `hours` are unix hour numbers (time // 3600)."""

    hours: list[int]
    webhooks: list[int]
    pushes: list[int]
    failures: list[int]  # Kanal errors, refusals and 429s, plus records that failed


@dataclass
class StoreHealth:
    """Everything the status page, `kanal-bridge status` and the alerts know about a store.

    Times are unix seconds; None means "not available" (never happened, or not recorded by
    the part of the bridge that writes it)."""

    store: str
    platform: str
    kanal_store_id: int
    state: State = "ok"
    conditions: list[Condition] = field(default_factory=list)
    webhook_at: float | None = None
    webhook_at_by_family: dict[str, float | None] = field(default_factory=dict)
    push_at: float | None = None
    pending: int = 0
    oldest_pending_seconds: float = 0.0
    failed: int = 0
    failed_jobs: list[str] = field(default_factory=list)
    calls_last_hour: float = 0.0
    kanal_calls_last_hour: float = 0.0  # every bridge store of the same Kanal store
    budget_per_hour: int = 0
    errors_last_hour: float = 0.0
    rate_limited_last_hour: float = 0.0
    failed_last_hour: float = 0.0
    rate_limit_pause_seconds: float = 0.0
    held_reason: str | None = None
    held_since: float | None = None
    probe_at: float | None = None
    api_access: bool = False
    subscriptions: dict[str, str] | None = None
    watchdog_at: float | None = None
    watchdog_error: str | None = None  # why the last check could not read the shop
    repair_at: float | None = None
    repair_kind: str | None = None
    reconcile_at: float | None = None
    reconcile_found: int | None = None
    reconcile_found_total: int | None = None
    backfill: dict[str, str] | None = None
    quiet_since: float | None = None
    hourly: Hourly | None = None


@dataclass
class Deployment:
    """What concerns every store: Redis, the workers, the queue."""

    redis: capacity.RedisUsage | None
    workers: int
    queued: int
    scheduled: int
    warnings: list[str]


@dataclass
class Health:
    """One reading of every store, worst first, and of the deployment."""

    generated_at: float
    stores: list[StoreHealth]
    deployment: Deployment

    def counts(self) -> dict[State, int]:
        found = {state: 0 for state in STATES}
        for store in self.stores:
            found[store.state] += 1
        return found

    def as_json(self) -> dict[str, Any]:
        """/status.json: the same figures, with each condition spelled out."""
        deployment = asdict(self.deployment)
        if self.deployment.redis is not None:
            deployment["redis"]["budget"] = self.deployment.redis.budget
        return {
            "generated_at": round(self.generated_at, 3),
            "states": self.counts(),
            "deployment": deployment,
            "stores": [asdict(store) for store in self.stores],
        }


# The rules.


def conditions(
    store: StoreHealth,
    thresholds: AlertThresholds,
    quiet_hours: float | None,
    now: float,
) -> list[Condition]:
    """Every condition a store is in, from its figures (the rules of the module docstring)."""
    found: list[Condition] = []
    if store.held_reason:
        why = HELD_REASONS.get(store.held_reason, f"Kanal refuses the store ({store.held_reason})")
        found.append(
            Condition(
                "kanal_rejected",
                "paused",
                f"{why}: records wait, and go out by themselves once Kanal accepts them",
                alert=True,
            )
        )
    limit = thresholds.oldest_pending_minutes * 60
    if store.oldest_pending_seconds > limit and not store.held_reason:
        found.append(
            Condition(
                "oldest_pending",
                "failing",
                f"the oldest pending record has waited {duration(store.oldest_pending_seconds)}"
                f" (alert above {duration(limit)})",
                alert=True,
            )
        )
    if store.failed_last_hour > thresholds.failed_per_hour:
        found.append(
            Condition(
                "failed_per_hour",
                "failing",
                f"{store.failed_last_hour:.0f} records failed in the last hour (alert above "
                f"{thresholds.failed_per_hour})",
                alert=True,
            )
        )
    broken = {
        topic: state for topic, state in (store.subscriptions or {}).items() if state != "active"
    }
    if broken:
        listed = ", ".join(f"{topic} {state}" for topic, state in sorted(broken.items()))
        found.append(
            Condition(
                "subscriptions",
                "failing",
                f"{store.platform} webhook subscriptions not active: {listed}",
                alert=True,
            )
        )
    if quiet_hours is not None:
        since = store.webhook_at or store.quiet_since
        if since is not None and now - since > quiet_hours * 3600:
            found.append(
                Condition(
                    "quiet",
                    "failing",
                    f"no webhook for {duration(now - since)} (alert after "
                    f"{duration(quiet_hours * 3600)})",
                    alert=True,
                )
            )
    if store.failed:
        found.append(
            Condition(
                "failed_records",
                "degraded",
                f"{store.failed} failed record(s) wait in the failed registry",
            )
        )
    if store.errors_last_hour or store.rate_limited_last_hour or store.rate_limit_pause_seconds:
        parts = []
        if store.errors_last_hour:
            parts.append(f"{store.errors_last_hour:.0f} error(s) or timeout(s)")
        if store.rate_limited_last_hour:
            parts.append(f"{store.rate_limited_last_hour:.0f} answer(s) 429")
        if store.rate_limit_pause_seconds:
            parts.append(f"paused {store.rate_limit_pause_seconds:.0f} s for Retry-After")
        found.append(
            Condition(
                "kanal_errors",
                "degraded",
                f"Kanal in the last hour: {', '.join(parts) or '429'} (retried)",
            )
        )
    if store.budget_per_hour and store.kanal_calls_last_hour >= BUDGET_WARN * (
        store.budget_per_hour
    ):
        found.append(
            Condition(
                "budget",
                "degraded",
                f"Kanal store {store.kanal_store_id} used {store.kanal_calls_last_hour:.0f} of "
                f"its {store.budget_per_hour} calls in the last hour: pushes may queue up",
            )
        )
    if store.repair_at is not None and now - store.repair_at < RECENT_REPAIR_SECONDS:
        kind = f" ({store.repair_kind})" if store.repair_kind else ""
        found.append(
            Condition(
                "repaired",
                "degraded",
                f"the watchdog repaired a webhook subscription{kind} {ago(now - store.repair_at)}"
                "; reconciliation fetches what the shop sent meanwhile",
            )
        )
    if store.watchdog_error:
        found.append(
            Condition(
                "watchdog_error",
                "degraded",
                f"the watchdog cannot check the {store.platform} subscriptions: "
                f"{store.watchdog_error[:200]}",
            )
        )
    if store.reconcile_found is not None and store.reconcile_found >= thresholds.reconcile_found:
        found.append(
            Condition(
                "reconcile_found",
                "degraded",
                f"the last reconciliation pass found {store.reconcile_found} record(s) that "
                "webhooks had missed: the shop's webhooks may be failing",
                alert=True,
            )
        )
    return found


def state_of(found: Iterable[Condition]) -> State:
    """The worst state among the conditions ("ok" when there are none)."""
    return max((c.state for c in found), key=SEVERITY.__getitem__, default="ok")


# Condition names of capacity.warnings(), by how each warning starts.
_REDIS_WARNINGS = (
    ("Redis memory", "redis_memory"),
    ("Redis maxmemory-policy", "redis_policy"),
    ("Redis connections", "redis_connections"),
    ("Redis allows", "redis_budget"),
)


def deployment_conditions(deployment: Deployment) -> list[Condition]:
    """Conditions of the whole deployment the alerts watch too: Redis nearly full, no worker."""
    found = [
        Condition(name, "failing", warning, alert=True)
        for warning in deployment.warnings
        for start, name in _REDIS_WARNINGS
        if warning.startswith(start)
    ]
    if deployment.workers == 0:
        found.append(
            Condition(
                "no_worker",
                "failing",
                "no worker is running: nothing reaches Kanal (records are kept)",
                alert=True,
            )
        )
    return found


# Reading.


def read(
    client: redis.Redis, config: BridgeConfig, now: float | None = None, hours: int = HOURS
) -> Health:
    """Every store's health, with a blocking client (CLI, alert thread). `hours` of hourly
    counts are read (2 suffice for the conditions; the charts want HOURS)."""
    rounds = _rounds(config, time.time() if now is None else now, hours)
    queue = next(rounds)
    while True:
        with client.pipeline(transaction=False) as pipe:
            queue(pipe)
            results = pipe.execute()
        try:
            queue = rounds.send(results)
        except StopIteration as done:
            health: Health = done.value
            return health


async def aread(
    client: redis.asyncio.Redis, config: BridgeConfig, now: float | None = None
) -> Health:
    """`read` with the web process's asyncio client."""
    rounds = _rounds(config, time.time() if now is None else now, HOURS)
    queue = next(rounds)
    while True:
        async with client.pipeline(transaction=False) as pipe:
            queue(pipe)
            results = await pipe.execute()
        try:
            queue = rounds.send(results)
        except StopIteration as done:
            health: Health = done.value
            return health


Round = Any  # a function queueing one round of commands on a sync or asyncio pipeline


def _rounds(
    config: BridgeConfig, now: float, span: int = HOURS
) -> Generator[Round, list[Any], Health]:
    """The reads, as rounds of pipelined commands: each yield hands over a function that
    queues a round, and receives its results."""
    stores = sorted(config.stores)
    kanal_ids = sorted({s.kanal_store_id for s in config.stores.values()})
    current = int(now // 3600)
    hours = list(range(current - max(span, 2) + 1, current + 1))

    def first(pipe: Any) -> None:
        for store in stores:
            pipe.hgetall(metrics.store_key(store))
            pipe.hgetall(f"{defaults.KEY_PREFIX}:backfill:{store}")
            for hour in hours:
                pipe.hgetall(metrics.hour_key(store, hour))
        for kanal_id in kanal_ids:
            pipe.hgetall(pace_key(kanal_id))
        pipe.zrange(PENDING_KEY, 0, -1, withscores=True)
        pipe.zrange(FAILED_KEY, 0, -1, withscores=True)
        pipe.scard(WORKERS_KEY)
        pipe.llen(jobs.QUEUE_KEY)
        pipe.zcard(jobs.SCHEDULED_KEY)
        capacity.queue_reads(pipe, now)

    results = iter((yield first))
    state: dict[str, dict[str, str]] = {}
    backfill: dict[str, dict[str, str]] = {}
    hourly: dict[str, list[dict[str, float]]] = {}
    for store in stores:
        state[store] = _text(next(results))
        backfill[store] = _text(next(results))
        hourly[store] = [{k: float(v) for k, v in _text(next(results)).items()} for _ in hours]
    pace = {kanal_id: _text(next(results)) for kanal_id in kanal_ids}
    pending = next(results)
    failed_ids = [(job.decode(), score) for job, score in next(results)]
    workers, queued, scheduled = next(results), next(results), next(results)
    usage = capacity.parse(next(results), next(results), next(results))

    def second(pipe: Any) -> None:
        for job_id, _ in failed_ids:
            pipe.hget(jobs.job_key(job_id), "description")

    descriptions = (yield second) if failed_ids else []

    owner = _owners(config)
    found = {store: _blank(config, store) for store in stores}
    for key, score in pending:
        store = owner(key.decode())
        if store in found:
            health = found[store]
            health.pending += 1
            if health.pending == 1:  # scores ascend: the first is the oldest
                health.oldest_pending_seconds = max(now - float(score), 0.0)
    for (job_id, _), description in sorted(
        zip(failed_ids, descriptions, strict=True), key=lambda pair: -pair[0][1]
    ):
        text = description.decode() if isinstance(description, bytes) else ""
        store = owner(f"{defaults.KEY_PREFIX}:rec:" + text.removeprefix("push "))
        if store in found:
            found[store].failed += 1
            if len(found[store].failed_jobs) < FAILED_LINKS:
                found[store].failed_jobs.append(job_id)

    fraction = (now % 3600) / 3600  # of the current hour gone by
    for store in stores:
        health = found[store]
        _fill(health, state[store], backfill[store], pace[health.kanal_store_id], now)
        counts = hourly[store]
        health.hourly = Hourly(
            hours=hours,
            webhooks=[int(c.get("webhooks", 0)) for c in counts],
            pushes=[int(c.get("pushes", 0)) for c in counts],
            failures=[
                int(sum(c.get(k, 0) for k in ("errors", "rejected", "rate_limited", "failed")))
                for c in counts
            ],
        )

        def last_hour(name: str, counts: list[dict[str, float]] = counts) -> float:
            # Sliding 60 minutes: this hour so far, and the part of the last one still inside.
            return counts[-1].get(name, 0) + counts[-2].get(name, 0) * (1 - fraction)

        health.calls_last_hour = last_hour("calls")
        health.errors_last_hour = last_hour("errors")
        health.rate_limited_last_hour = last_hour("rate_limited")
        health.failed_last_hour = last_hour("failed")
    for store in stores:
        health = found[store]
        sharing = [h for h in found.values() if h.kanal_store_id == health.kanal_store_id]
        health.kanal_calls_last_hour = sum(h.calls_last_hour for h in sharing)
        own = config.stores[store]
        health.conditions = conditions(health, own.thresholds(config.alerts), own.quiet_hours, now)
        health.state = state_of(health.conditions)
    ordered = sorted(found.values(), key=lambda h: (-SEVERITY[h.state], h.store))
    deployment = Deployment(
        redis=usage,
        workers=int(workers),
        queued=int(queued),
        scheduled=int(scheduled),
        warnings=capacity.warnings(usage),
    )
    return Health(generated_at=now, stores=ordered, deployment=deployment)


def _blank(config: BridgeConfig, store: str) -> StoreHealth:
    own = config.stores[store]
    return StoreHealth(
        store=store,
        platform=own.platform,
        kanal_store_id=own.kanal_store_id,
        budget_per_hour=config.rate_for(own.kanal_store_id) * 60,
        api_access=own.has_api_access,
    )


def _fill(
    health: StoreHealth,
    state: Mapping[str, str],
    backfill: Mapping[str, str],
    pace: Mapping[str, str],
    now: float,
) -> None:
    """Copy what the writers recorded into the store's figures."""
    health.webhook_at = _float(state.get("webhook_at"))
    health.webhook_at_by_family = {
        family: _float(state.get(f"webhook_at:{family}")) for family in metrics.TOPIC_FAMILIES
    }
    health.push_at = _float(state.get("push_at"))
    health.quiet_since = _float(state.get("watched_at"))
    health.watchdog_at = _float(state.get("watchdog_at"))
    health.watchdog_error = state.get("watchdog_error") or None
    health.repair_at = _float(state.get("repair_at"))
    health.repair_kind = state.get("repair_kind") or None
    health.reconcile_at = _float(state.get("reconcile_at"))
    health.reconcile_found = _int(state.get("reconcile_found"))
    health.reconcile_found_total = _int(state.get("reconcile_found_total"))
    health.subscriptions = _subscriptions(state.get("subscriptions"))
    health.backfill = dict(backfill) or None
    health.rate_limit_pause_seconds = max((_float(pace.get("paused")) or 0.0) - now, 0.0)
    health.held_reason = pace.get("held_reason") or None
    health.held_since = _float(pace.get("held_since"))
    health.probe_at = _float(pace.get("probe_at"))


def _owners(config: BridgeConfig) -> Any:
    """A function naming the bridge store a record key belongs to (None: no configured one).

    Record keys are `kb:rec:{kanal_store_id}:{resource}:{external_id}`, the external id
    carrying the store's `external_id_prefix` (required and distinct when several stores
    feed one Kanal store). Keys of the earlier layout, and push jobs' descriptions
    (`push {store}:{resource}:{id}`), name the bridge store instead: a configured store key
    is taken as such first (a store key made of digits only that equals another store's
    Kanal store id would be ambiguous)."""
    by_kanal: dict[int, list[tuple[str, str]]] = {}
    for key, store in config.stores.items():
        by_kanal.setdefault(store.kanal_store_id, []).append((store.external_id_prefix, key))
    for candidates in by_kanal.values():
        candidates.sort(key=lambda pair: -len(pair[0]))  # the longest prefix first

    def owner(key: str) -> str | None:
        parts = key.split(":", 4)
        if len(parts) != 5:
            return None
        holder, external_id = parts[2], parts[4]
        if holder in config.stores:
            return holder
        candidates = by_kanal.get(int(holder)) if holder.isdigit() else None
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0][1]
        return next((k for prefix, k in candidates if external_id.startswith(prefix)), None)

    return owner


def _subscriptions(raw: str | None) -> dict[str, str] | None:
    if not raw:
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    return {str(topic): str(state) for topic, state in parsed.items()}


def _text(raw: Mapping[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode(errors="replace") for k, v in raw.items()}


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


def duration(seconds: float) -> str:
    """A short human duration: 45 s, 12 min, 3 h 20 min, 2 d 4 h."""
    seconds = max(seconds, 0.0)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours, rest = divmod(int(minutes), 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def ago(seconds: float) -> str:
    return f"{duration(seconds)} ago"
