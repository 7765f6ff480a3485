"""Redis clients for the web (asyncio) and the worker (sync), built the same way."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio

# A command that takes longer than this fails (and the webhook answers 503) rather than hang
# past Shopify's 5-second delivery timeout.
SOCKET_TIMEOUT = 5.0
# Idle pooled connections are PINGed before reuse after this long (managed Redis servers and
# proxies drop idle connections silently).
HEALTH_CHECK_INTERVAL = 30
# Connections one web process opens at most; a request beyond them waits for a free one (up
# to SOCKET_TIMEOUT) instead of failing, as redis-py's default pool would past its limit.
MAX_CONNECTIONS = 64


def _options(url: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": SOCKET_TIMEOUT,
        "socket_keepalive": True,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
    }
    if url.startswith("rediss://"):
        # Heroku Redis serves TLS with a self-signed certificate; None turns verification off
        # (and hostname checking with it).
        options["ssl_cert_reqs"] = None
    return options


def async_redis(url: str) -> redis.asyncio.Redis:
    """An asyncio client for `url` (redis:// or rediss://); bytes in, bytes out."""
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=SOCKET_TIMEOUT, **_options(url)
    )
    return redis.asyncio.Redis.from_pool(pool)


def sync_redis(url: str) -> redis.Redis:
    """A blocking client for `url`, as RQ wants it (no decode_responses)."""
    return redis.Redis.from_url(url, **_options(url))
