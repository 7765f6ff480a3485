"""Does the deployment fit its Redis? Connections against `maxclients`, memory against
`maxmemory`.

Past `maxclients` Redis refuses new connections, and past `maxmemory` a `noeviction` Redis
refuses writes: either way webhooks are answered 503, which Shopify retries but WooCommerce
counts toward disabling the webhook. The check reads `INFO memory` and `INFO clients` (both
work on managed plans that disable `CONFIG`) and the presence set every process refreshes at
each metrics flush (`bridge.metrics.announce`: each process says how many connections it may
open at most), and warns before either limit is reached.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.asyncio

from bridge import defaults, metrics


@dataclass(frozen=True)
class Process:
    """A live bridge process, as its last metrics flush announced it."""

    kind: str  # web | worker
    host: str  # Heroku's DYNO (web.1, worker.2), else the host name
    pid: int
    connections: int  # the most it may open


@dataclass(frozen=True)
class RedisUsage:
    """What Redis reports about its memory and clients, and the processes using it."""

    used_memory: int
    maxmemory: int  # 0: no limit
    policy: str
    connected_clients: int
    maxclients: int
    processes: tuple[Process, ...] = field(default_factory=tuple)

    @property
    def memory_share(self) -> float | None:
        """used_memory / maxmemory (None without a limit)."""
        return self.used_memory / self.maxmemory if self.maxmemory else None

    @property
    def clients_share(self) -> float | None:
        return self.connected_clients / self.maxclients if self.maxclients else None

    @property
    def budget(self) -> int:
        """The connections the live processes may open at most, plus the one-off commands."""
        return sum(p.connections for p in self.processes) + defaults.ONE_OFF_CONNECTIONS

    def count(self, kind: str) -> int:
        return sum(1 for p in self.processes if p.kind == kind)


def queue_reads(pipe: Any, now: float) -> None:
    """Queue the reads on a sync or asyncio pipeline (3 results, for `parse`)."""
    pipe.info("memory")
    pipe.info("clients")
    pipe.zrangebyscore(metrics.PRESENCE_KEY, now - metrics.PRESENCE_TTL, "+inf")


def parse(memory: Mapping[str, Any], clients: Mapping[str, Any], members: list[Any]) -> RedisUsage:
    """A RedisUsage from the three results of `queue_reads`."""
    processes = []
    for raw in members:
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        kind, _, rest = text.partition(":")
        parts = rest.rsplit(":", 2)
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            processes.append(Process(kind, parts[0], int(parts[1]), int(parts[2])))
    return RedisUsage(
        used_memory=int(memory.get("used_memory", 0)),
        maxmemory=int(memory.get("maxmemory", 0)),
        policy=str(memory.get("maxmemory_policy", "")),
        connected_clients=int(clients.get("connected_clients", 0)),
        maxclients=int(clients.get("maxclients", 0)),
        processes=tuple(sorted(processes, key=lambda p: (p.kind, p.host, p.pid))),
    )


def read(client: redis.Redis, now: float | None = None) -> RedisUsage:
    """Read the usage with a blocking client (CLI, alert thread)."""
    with client.pipeline(transaction=False) as pipe:
        queue_reads(pipe, time.time() if now is None else now)
        memory, clients, members = pipe.execute()
    if not clients.get("maxclients"):  # servers older than Redis 7 only show it in CONFIG
        clients = {**clients, "maxclients": _config_maxclients(client)}
    return parse(memory, clients, members)


async def aread(client: redis.asyncio.Redis, now: float | None = None) -> RedisUsage:
    """`read` with the web process's asyncio client."""
    async with client.pipeline(transaction=False) as pipe:
        queue_reads(pipe, time.time() if now is None else now)
        memory, clients, members = await pipe.execute()
    return parse(memory, clients, members)


def _config_maxclients(client: redis.Redis) -> int:
    try:
        value = client.config_get("maxclients").get("maxclients", 0)
    except redis.ResponseError:  # CONFIG disabled (managed plans)
        return 0
    return int(value or 0)


def planned(web_concurrency: int, pool_size: int, web_dynos: int = 1, workers: int = 1) -> int:
    """Connections a formation may open: web processes x (pool + extras) + workers + one-offs."""
    web = web_dynos * web_concurrency * (pool_size + defaults.WEB_EXTRA_CONNECTIONS)
    return web + workers * defaults.WORKER_CONNECTIONS + defaults.ONE_OFF_CONNECTIONS


def warnings(usage: RedisUsage) -> list[str]:
    """What is about to go wrong, in words an operator can act on (empty: nothing)."""
    found = []
    memory = usage.memory_share
    if memory is not None and memory >= defaults.REDIS_MEMORY_WARN:
        found.append(
            f"Redis memory {_mb(usage.used_memory)} of {_mb(usage.maxmemory)} "
            f"({memory:.0%}): when it is full Redis refuses writes and every webhook is "
            "answered 503; move to a bigger plan (docs/heroku.md, Sizing Redis)"
        )
    if usage.maxmemory and usage.policy and usage.policy != "noeviction":
        found.append(
            f"Redis maxmemory-policy is {usage.policy}: Redis may evict pending records "
            "(lost orders); set it to noeviction"
        )
    clients = usage.clients_share
    if clients is not None and clients >= defaults.REDIS_CLIENTS_WARN:
        found.append(
            f"Redis connections {usage.connected_clients} of {usage.maxclients} in use "
            f"({clients:.0%}): past the limit Redis refuses connections and webhooks get 503"
        )
    if usage.maxclients and usage.processes and usage.budget > usage.maxclients:
        found.append(
            f"Redis allows {usage.maxclients} connections, but the {usage.count('web')} web "
            f"and {usage.count('worker')} worker processes running may open up to "
            f"{usage.budget} (with {defaults.ONE_OFF_CONNECTIONS} for one-off commands): lower "
            "REDIS_POOL_SIZE or WEB_CONCURRENCY, run fewer dynos, or use a plan with more "
            "connections (docs/heroku.md, Sizing Redis)"
        )
    return found


def describe(usage: RedisUsage) -> str:
    """One line for check-config and `kanal-bridge status`."""
    if usage.maxmemory:
        memory = f"{_mb(usage.used_memory)} of {_mb(usage.maxmemory)} ({usage.memory_share:.0%})"
    else:
        memory = f"{_mb(usage.used_memory)} (no maxmemory)"
    clients = f"{usage.connected_clients} of {usage.maxclients or '?'} connections"
    kinds = ", ".join(
        f"{usage.count(kind)} {kind}" for kind in ("web", "worker") if usage.count(kind)
    )
    processes = f"; {kinds} process(es) may open up to {usage.budget}" if usage.processes else ""
    return f"memory {memory}, {usage.policy or '?'}; {clients}{processes}"


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size < 10_000_000 else f"{size / 1_000_000:.0f} MB"


def report(redis_url: str, web_concurrency: int, pool_size: int, timeout: float = 2.0) -> list[str]:
    """check-config's lines about Redis: usage, and a warning line per risk (never raises:
    an unreachable Redis is said, not fatal, so a release is not blocked by it)."""
    from bridge.connection import sync_redis

    per_web = pool_size + defaults.WEB_EXTRA_CONNECTIONS
    lines = [
        f"redis pool: each web process opens up to {per_web} connections (REDIS_POOL_SIZE "
        f"{pool_size} + {defaults.WEB_EXTRA_CONNECTIONS}), {web_concurrency} per web dyno "
        f"(WEB_CONCURRENCY); each worker up to {defaults.WORKER_CONNECTIONS}"
    ]
    client = sync_redis(redis_url, timeout=timeout)
    try:
        usage = read(client)
    except (redis.RedisError, OSError) as exc:
        return [*lines, f"redis capacity: not checked (Redis: {exc.__class__.__name__})"]
    finally:
        client.close()
    found = warnings(usage)
    need = planned(web_concurrency, pool_size)
    if not usage.processes and usage.maxclients and need > usage.maxclients:
        found.append(
            f"Redis allows {usage.maxclients} connections, but one web dyno at "
            f"WEB_CONCURRENCY={web_concurrency} and one worker may open up to {need}: lower "
            "REDIS_POOL_SIZE or WEB_CONCURRENCY, or use a plan with more connections"
        )
    return [*lines, f"redis capacity: {describe(usage)}", *(f"warning: {w}" for w in found)]
