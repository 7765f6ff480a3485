"""Redis clients for the web (asyncio) and the worker (sync), built the same way."""

from __future__ import annotations

import importlib
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.connection import Connection, SSLConnection, parse_url
from redis.connection import HiredisRespSerializer
from redis.typing import EncodableT
from redis.utils import HIREDIS_AVAILABLE

from bridge import defaults

# A command that takes longer than this fails (and the webhook answers 503) rather than hang
# past Shopify's 5-second delivery timeout.
SOCKET_TIMEOUT = 5.0
# Idle pooled connections are PINGed before reuse after this long (managed Redis servers and
# proxies drop idle connections silently).
HEALTH_CHECK_INTERVAL = 30
# Connections one web process's pool opens at most (REDIS_POOL_SIZE overrides it); a request
# beyond them waits for a free one (up to SOCKET_TIMEOUT) instead of failing, as redis-py's
# default pool would past its limit. Why this value: bridge/defaults.py.
MAX_CONNECTIONS = defaults.REDIS_POOL_SIZE


def _options(url: str, timeout: float = SOCKET_TIMEOUT) -> dict[str, Any]:
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "socket_keepalive": True,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
    }
    if url.startswith("rediss://"):
        # Heroku Redis (Key-Value Store) serves TLS with a self-signed certificate, which no
        # CA can vouch for: None turns verification off (and hostname checking with it). The
        # traffic is still encrypted, but not protected from someone who can intercept it.
        # A provider with a CA-signed certificate (Redis Cloud, Upstash, ElastiCache) gets
        # verification with `?ssl_cert_reqs=required` on its URL (and `ssl_ca_certs=PATH` for
        # a private CA): redis-py lets URL query arguments win over these defaults.
        options["ssl_cert_reqs"] = None
    return options


# redis-py's blocking client packs commands with hiredis when it is installed; its asyncio
# client always packs in Python (three times slower for ACCEPT's ~70 arguments).
_PACKER: Any = HiredisRespSerializer() if HIREDIS_AVAILABLE else None
_PACK: Any = importlib.import_module("hiredis").pack_command if HIREDIS_AVAILABLE else None
# Arguments hiredis packs as they are. redis-py's packing first converts bytearray and
# memoryview ones, one Python step per argument: a command made only of these skips it.
_PLAIN = frozenset({str, bytes, int, float})


class _HiredisPacking:
    """Packs commands as redis-py's blocking client does (with hiredis)."""

    def pack_command(self, *args: EncodableT) -> list[bytes]:
        command = args[0]
        if isinstance(command, str) and command.isalpha() and _PLAIN.issuperset(map(type, args)):
            return [_PACK((command.encode(), *args[1:]))]
        packed: list[bytes] = _PACKER.pack(*args)
        return packed


class HiredisConnection(_HiredisPacking, Connection):
    """redis-py's asyncio connection, packing commands with hiredis."""


class HiredisSSLConnection(_HiredisPacking, SSLConnection):
    """The same over TLS."""


def async_redis(url: str, max_connections: int = MAX_CONNECTIONS) -> redis.asyncio.Redis:
    """An asyncio client for `url` (redis:// or rediss://) opening at most `max_connections`;
    bytes in, bytes out."""
    # As BlockingConnectionPool.from_url builds it (URL query arguments win), but with
    # hiredis's command packing where redis-py's own would be used.
    kwargs: dict[str, Any] = {
        "max_connections": max_connections,
        "timeout": SOCKET_TIMEOUT,
        **_options(url),
        **parse_url(url),
    }
    if _PACKER is not None:
        packing = {Connection: HiredisConnection, SSLConnection: HiredisSSLConnection}
        kind = kwargs.get("connection_class", Connection)
        kwargs["connection_class"] = packing.get(kind, kind)
    pool = redis.asyncio.BlockingConnectionPool(**kwargs)
    return redis.asyncio.Redis.from_pool(pool)


def sync_redis(
    url: str, max_connections: int | None = None, timeout: float = SOCKET_TIMEOUT
) -> redis.Redis:
    """A blocking client for `url`, as RQ wants it (no decode_responses). With
    `max_connections`, a thread beyond them waits for a free connection (rq-dashboard's
    request threads, the alert thread) instead of opening one more. `timeout` bounds each
    command and connection attempt (a quick check gives up sooner)."""
    if max_connections is None:
        return redis.Redis.from_url(url, **_options(url, timeout))
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=timeout, **_options(url, timeout)
    )
    return redis.Redis(connection_pool=pool)
