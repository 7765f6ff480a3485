"""Redis clients: rediss:// (Heroku Redis) skips certificate checks, redis:// has no TLS."""

from __future__ import annotations

import ssl

import pytest
import redis
import redis.asyncio
from redis.asyncio.connection import Connection as AsyncConnection
from redis.asyncio.connection import SSLConnection as AsyncSSLConnection
from redis.exceptions import DataError

from bridge import defaults
from bridge.connection import (
    MAX_CONNECTIONS,
    SOCKET_TIMEOUT,
    HiredisConnection,
    HiredisSSLConnection,
    async_redis,
    sync_redis,
)

HEROKU_URL = "rediss://:p4ss@ec2-1-2-3-4.compute-1.amazonaws.com:12345/0"


def test_a_rediss_url_builds_a_tls_client_without_certificate_checks() -> None:
    client = sync_redis(HEROKU_URL)
    pool = client.connection_pool
    assert pool.connection_class is redis.SSLConnection
    connection = pool.make_connection()
    assert connection.cert_reqs == ssl.CERT_NONE
    assert connection.check_hostname is False
    assert connection.password == "p4ss"
    client.close()


def test_the_async_client_is_built_the_same_way() -> None:
    client = async_redis(HEROKU_URL)
    pool = client.connection_pool
    assert issubclass(pool.connection_class, AsyncSSLConnection)
    assert pool.connection_class is HiredisSSLConnection
    kwargs = pool.connection_kwargs
    assert kwargs["ssl_cert_reqs"] is None
    assert kwargs["socket_timeout"] == SOCKET_TIMEOUT


def test_a_redis_url_has_no_tls() -> None:
    client = sync_redis("redis://localhost:6379/0")
    assert client.connection_pool.connection_class is redis.Connection
    assert "ssl_cert_reqs" not in client.connection_pool.connection_kwargs
    client.close()


def test_the_web_waits_for_a_free_connection_rather_than_failing() -> None:
    client = async_redis("redis://localhost:6379/0")
    pool = client.connection_pool
    assert isinstance(pool, redis.asyncio.BlockingConnectionPool)
    assert pool.max_connections == MAX_CONNECTIONS == defaults.REDIS_POOL_SIZE
    assert pool.timeout == SOCKET_TIMEOUT
    assert async_redis("redis://localhost:6379/0", 12).connection_pool.max_connections == 12


def test_a_bounded_sync_client_waits_for_a_free_connection() -> None:
    client = sync_redis(HEROKU_URL, max_connections=2)
    pool = client.connection_pool
    assert isinstance(pool, redis.BlockingConnectionPool)
    assert pool.max_connections == 2
    assert pool.connection_class is redis.SSLConnection
    client.close()


def test_the_default_pool_fits_the_smallest_recommended_plan() -> None:
    """premium-0 allows 40 connections: one web dyno at WEB_CONCURRENCY=2, doubled during
    preboot, one worker dyno and the one-off commands must fit together."""
    web_processes = 2 * 2
    needed = (
        web_processes * (defaults.REDIS_POOL_SIZE + defaults.WEB_EXTRA_CONNECTIONS)
        + defaults.WORKER_CONNECTIONS
        + defaults.ONE_OFF_CONNECTIONS
    )
    assert needed <= 40


VERIFIED_URL = "rediss://:p4ss@redis.example.com:6380/0?ssl_cert_reqs=required"


def test_certificate_verification_is_asked_for_on_the_url() -> None:
    client = sync_redis(VERIFIED_URL)
    connection = client.connection_pool.make_connection()
    assert connection.cert_reqs == ssl.CERT_REQUIRED
    assert connection.check_hostname is True
    client.close()
    kwargs = async_redis(VERIFIED_URL).connection_pool.connection_kwargs
    assert kwargs["ssl_cert_reqs"] == "required"


def test_verification_against_a_private_ca() -> None:
    client = sync_redis(VERIFIED_URL + "&ssl_ca_certs=/etc/ssl/private-ca.pem")
    connection = client.connection_pool.make_connection()
    assert (connection.cert_reqs, connection.ca_certs) == (
        ssl.CERT_REQUIRED,
        "/etc/ssl/private-ca.pem",
    )
    client.close()


def test_both_clients_parse_replies_with_hiredis() -> None:
    # hiredis is a dependency for speed: redis-py falls back to its Python parser silently.
    for client in (sync_redis("redis://localhost:6379/0"), async_redis("redis://localhost/0")):
        connection = client.connection_pool.make_connection()
        assert type(connection._parser).__name__ in ("_HiredisParser", "_AsyncHiredisParser")


def test_the_async_client_packs_commands_with_hiredis() -> None:
    assert async_redis("redis://localhost/0").connection_pool.connection_class is HiredisConnection
    pool = async_redis("unix:///tmp/redis.sock").connection_pool
    assert pool.connection_class is redis.asyncio.UnixDomainSocketConnection


COMMANDS = [
    ("SET", "b:1", b"\x00body\r\n" * 5000),
    ("EVALSHA", "a" * 40, 2, "kb:r:1:orders:5", "", "upsert", 1767225600.123456, 86400, -3),
    ("CLIENT SETNAME", "kanal-bridge"),
    (b"CONFIG GET", "maxmemory"),
    ("SET", "phone", "+33 6 12 34 56 78 \u00e9", memoryview(b"view"), bytearray(b"array")),
    ("INCRBYFLOAT", "k", 0.1, 1e20, 2.5e-7),
    ("HSET", "k", "f", bytearray(b"array")),
    ("hset", "k", "\u00e9t\u00e9", "\r\n", b"", -1),
]


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_hiredis_packs_every_command_as_redis_py_does(command: tuple[object, ...]) -> None:
    ours = b"".join(HiredisConnection().pack_command(*command))
    assert ours == b"".join(AsyncConnection().pack_command(*command))


@pytest.mark.parametrize("value", [None, True, object()])
def test_what_redis_py_refuses_hiredis_refuses_too(value: object) -> None:
    with pytest.raises(DataError):
        AsyncConnection().pack_command("SET", "k", value)
    with pytest.raises(DataError):
        HiredisConnection().pack_command("SET", "k", value)
