"""GET /metrics: the counters every process flushed to Redis, and gauges read from Redis now.

The gauges describe the shared state, so any web process gives the same answer: jobs per
state, pending records and the age of the oldest one, live workers, per Kanal store the
call budget already booked ahead, the pause a 429 imposed, the configured limit, and whether
Kanal refuses the store as a whole (held) with how many records wait for it, and Redis's own
memory and connections against its limits (bridge/ops/capacity.py).

They name every store key and Kanal store id, so with METRICS_TOKEN set a scrape must
present it (`Authorization: Bearer <token>`, or basic auth with the token as password, as
Prometheus' `authorization` and `basic_auth` scrape options send), or the dashboard's
credentials. Without it /metrics is open: fit only for a private network (README, Security).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import redis
import redis.asyncio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.worker_registration import WORKERS_BY_QUEUE_KEY
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bridge import defaults, metrics
from bridge.config import BridgeConfig, Settings
from bridge.delivery import jobs
from bridge.delivery.limiter import bulk_key, pace_key, parked_key
from bridge.delivery.records import PENDING_KEY
from bridge.ops import capacity

STARTED_KEY: str = StartedJobRegistry(queue=jobs._QUEUE).key
FAILED_KEY: str = FailedJobRegistry(queue=jobs._QUEUE).key
WORKERS_KEY: str = WORKERS_BY_QUEUE_KEY % defaults.QUEUE_NAME


@dataclass
class Snapshot:
    """Everything one scrape shows, read from Redis in one round trip."""

    families: dict[str, dict[str, float]] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    oldest_pending_seconds: float = 0.0
    workers: int = 0
    budget_ahead: dict[int, float] = field(default_factory=dict)
    paused: dict[int, float] = field(default_factory=dict)
    rates: dict[int, float] = field(default_factory=dict)
    redis: capacity.RedisUsage | None = None
    held: dict[int, str] = field(default_factory=dict)  # Kanal stores held, and why
    parked: dict[int, float] = field(default_factory=dict)
    bulk: dict[int, float] = field(default_factory=dict)  # bulk records waiting for a slot


async def snapshot(
    client: redis.asyncio.Redis, config: BridgeConfig | None, now: float | None = None
) -> Snapshot:
    """Read the counters and the gauges."""
    now = time.time() if now is None else now
    kanal_ids = sorted({s.kanal_store_id for s in config.stores.values()}) if config else []
    async with client.pipeline(transaction=False) as pipe:
        for family in metrics.FAMILIES:
            pipe.hgetall(family.key)
        pipe.llen(jobs.QUEUE_KEY)
        pipe.zcard(jobs.SCHEDULED_KEY)
        pipe.zcount(STARTED_KEY, now, "+inf")
        pipe.zcount(FAILED_KEY, now, "+inf")
        pipe.zcard(PENDING_KEY)
        pipe.zrange(PENDING_KEY, 0, 0, withscores=True)
        pipe.scard(WORKERS_KEY)
        for kanal_id in kanal_ids:
            pipe.hmget(pace_key(kanal_id), "tat", "paused", "held_reason")
            pipe.zcard(parked_key(kanal_id))
            pipe.zcard(bulk_key(kanal_id))
        capacity.queue_reads(pipe, now)
        results = await pipe.execute()
    shot = Snapshot(redis=capacity.parse(*results[-3:]))
    results = results[:-3]

    count = len(metrics.FAMILIES)
    for family, raw in zip(metrics.FAMILIES, results[:count], strict=True):
        shot.families[family.name] = {k.decode(): float(v) for k, v in raw.items()}
    queued, scheduled, started, failed, pending, oldest, workers = results[count : count + 7]
    shot.jobs = {"queued": queued, "scheduled": scheduled, "started": started, "failed": failed}
    shot.pending = pending
    shot.oldest_pending_seconds = max(now - float(oldest[0][1]), 0.0) if oldest else 0.0
    shot.workers = workers
    per_store = results[count + 7 :]
    for kanal_id, (tat, paused, held), parked, bulk in zip(
        kanal_ids, per_store[::3], per_store[1::3], per_store[2::3], strict=True
    ):
        shot.budget_ahead[kanal_id] = max(float(tat or 0) - now, 0.0)
        shot.paused[kanal_id] = max(float(paused or 0) - now, 0.0)
        shot.parked[kanal_id] = float(parked)
        shot.bulk[kanal_id] = float(bulk)
        if held:
            shot.held[kanal_id] = held.decode()
    if config is not None:
        shot.rates = {kanal_id: float(config.rate_for(kanal_id)) for kanal_id in kanal_ids}
    return shot


class SnapshotCollector(Collector):
    """A prometheus-client collector over one snapshot."""

    def __init__(self, shot: Snapshot) -> None:
        self.shot = shot

    def collect(self) -> Iterator[Metric]:
        for family in metrics.FAMILIES:
            values = self.shot.families.get(family.name, {})
            if family.histogram:
                yield _histogram(family, values)
            else:
                yield _counter(family, values)
        yield from self._gauges()

    def _gauges(self) -> Iterator[Metric]:
        shot = self.shot
        jobs_gauge = GaugeMetricFamily(
            "kanal_bridge_jobs",
            "Push jobs in the RQ queue and registries, by state.",
            labels=["state"],
        )
        for state, count in shot.jobs.items():
            jobs_gauge.add_metric([state], count)
        yield jobs_gauge
        yield GaugeMetricFamily(
            "kanal_bridge_pending_records", "Records waiting for a push.", value=shot.pending
        )
        yield GaugeMetricFamily(
            "kanal_bridge_oldest_pending_seconds",
            "How long the oldest pending record has waited for its push.",
            value=shot.oldest_pending_seconds,
        )
        yield GaugeMetricFamily(
            "kanal_bridge_workers", "RQ workers registered on the push queue.", value=shot.workers
        )
        per_store: tuple[tuple[str, str, Mapping[int, float]], ...] = (
            (
                "kanal_bridge_kanal_budget_ahead_seconds",
                "How far ahead the Kanal store's call slots are already booked.",
                shot.budget_ahead,
            ),
            (
                "kanal_bridge_kanal_paused_seconds",
                "Seconds left of the pause a 429 imposed on the Kanal store.",
                shot.paused,
            ),
            (
                "kanal_bridge_kanal_requests_per_minute",
                "The Kanal store's configured call budget.",
                shot.rates,
            ),
            (
                "kanal_bridge_parked_records",
                "Records waiting for their held Kanal store to accept calls again.",
                shot.parked,
            ),
            (
                "kanal_bridge_bulk_pending_records",
                "Backfill and reconciliation records waiting for a call slot live traffic "
                "leaves free.",
                shot.bulk,
            ),
        )
        for name, help_text, values in per_store:
            gauge = GaugeMetricFamily(name, help_text, labels=["kanal_store"])
            for kanal_id, value in values.items():
                gauge.add_metric([str(kanal_id)], value)
            yield gauge
        held = GaugeMetricFamily(
            "kanal_bridge_kanal_held",
            "1 while Kanal refuses the store as a whole (reason: key_rejected, store_paused): "
            "its records wait, one probes.",
            labels=["kanal_store", "reason"],
        )
        for kanal_id, reason in shot.held.items():
            held.add_metric([str(kanal_id), reason], 1.0)
        yield held
        if shot.redis is not None:
            yield from _redis_gauges(shot.redis)


def _redis_gauges(usage: capacity.RedisUsage) -> Iterator[Metric]:
    figures = (
        ("kanal_bridge_redis_used_memory_bytes", "Redis used_memory.", usage.used_memory),
        (
            "kanal_bridge_redis_maxmemory_bytes",
            "Redis maxmemory (0: no limit); a full noeviction Redis refuses writes.",
            usage.maxmemory,
        ),
        (
            "kanal_bridge_redis_connected_clients",
            "Connections Redis holds now.",
            usage.connected_clients,
        ),
        ("kanal_bridge_redis_maxclients", "Redis's connection limit.", usage.maxclients),
        (
            "kanal_bridge_redis_connection_budget",
            "Connections the live bridge processes may open at most, with one-off commands.",
            usage.budget,
        ),
    )
    for name, help_text, value in figures:
        yield GaugeMetricFamily(name, help_text, value=value)


def _counter(family: metrics.Family, values: Mapping[str, float]) -> Metric:
    counter = CounterMetricFamily(family.name, family.help, labels=list(family.labels))
    for name, value in sorted(values.items()):
        labels = name.split(metrics.SEPARATOR)
        if len(labels) == len(family.labels):
            counter.add_metric(labels, value)
    return counter


def _histogram(family: metrics.Family, values: Mapping[str, float]) -> Metric:
    series: dict[tuple[str, ...], tuple[list[float], float]] = {}
    size = len(family.buckets) + 1
    for name, value in values.items():
        *parts, suffix = name.split(metrics.SEPARATOR)
        labels = tuple(parts)
        if len(labels) != len(family.labels):
            continue
        counts, total = series.setdefault(labels, ([0.0] * size, 0.0))
        if suffix == "sum":
            series[labels] = (counts, total + value)
        elif suffix.startswith("b") and suffix[1:].isdigit() and int(suffix[1:]) < size:
            counts[int(suffix[1:])] += value
    histogram = HistogramMetricFamily(family.name, family.help, labels=list(family.labels))
    bounds = [*(repr(float(b)) for b in family.buckets), "+Inf"]
    for labels, (counts, total) in sorted(series.items()):
        cumulative, running = [], 0.0
        for bound, count in zip(bounds, counts, strict=True):
            running += count
            cumulative.append((bound, running))
        histogram.add_metric(list(labels), cumulative, total)
    return histogram


def render(shot: Snapshot) -> bytes:
    """The Prometheus text exposition of a snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(shot))
    return generate_latest(registry)


@dataclass(frozen=True)
class MetricsAuth:
    """Who may scrape: nobody needs to prove anything without a token."""

    token: str | None = None
    dashboard_user: str = ""
    dashboard_password: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> MetricsAuth:
        return cls(settings.metrics_token, settings.dashboard_user, settings.dashboard_password)

    def allows(self, authorization: str) -> bool:
        """Whether an Authorization header may read /metrics (constant-time comparisons)."""
        if self.token is None:
            return True
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return _same(credentials.strip(), self.token)
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, ValueError):
            return False
        user, colon, password = decoded.partition(":")
        if not colon:
            return False
        token_ok = _same(password, self.token)
        dashboard_ok = self.dashboard_password is not None and (
            _same(user, self.dashboard_user) & _same(password, self.dashboard_password)
        )
        return token_ok or dashboard_ok


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class MetricsEndpoint:
    """GET /metrics. Uses the app's Redis client (`app.state.redis`, set by the lifespan)."""

    def __init__(self, config: BridgeConfig | None, auth: MetricsAuth | None = None) -> None:
        self.config = config
        self.auth = auth or MetricsAuth()

    def routes(self) -> list[BaseRoute]:
        return [Route("/metrics", self.get, methods=["GET"])]

    async def get(self, request: Request) -> Response:
        if not self.auth.allows(request.headers.get("authorization", "")):
            return Response(
                "authentication required\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": 'Bearer realm="kanal-bridge metrics"'},
            )
        client: redis.asyncio.Redis | None = getattr(request.app.state, "redis", None)
        if client is None:
            return Response("redis: not connected\n", status_code=503, media_type="text/plain")
        try:
            await metrics.aflush(client)  # this process's counts are fresh, others' <= 5 s old
            shot = await snapshot(client, self.config)
        except (redis.RedisError, OSError) as exc:
            text = f"redis: {exc.__class__.__name__}\n"
            return Response(text, status_code=503, media_type="text/plain")
        return Response(render(shot), media_type=CONTENT_TYPE_LATEST)
