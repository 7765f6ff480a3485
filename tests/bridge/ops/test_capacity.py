"""Redis sizing: a real server with a small maxclients and maxmemory shows each warning, in
check-config, /readyz and /metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from bridge import cli, defaults, metrics
from bridge.app import create_app
from bridge.config import Settings, parse_config
from bridge.ops import capacity
from bridge.ops.localredis import find_server_binary, pick_free_port, start_server, stop_server

CONFIG = """
[stores.main-shop]
platform = "shopify"
kanal_store_id = 1
kanal_api_key = "k"
webhook_secrets = ["s"]
"""


@pytest.fixture
def small_redis(tmp_path: Path) -> Iterator[redis.Redis]:
    """A server of its own: these tests change its limits."""
    port = pick_free_port()
    server = start_server(tmp_path / "redis", port, find_server_binary(), appendonly=False)
    client = redis.Redis(port=port)
    try:
        client.config_set("maxclients", 20)
        yield client
    finally:
        client.close()
        stop_server(server)


def url(client: redis.Redis) -> str:
    return f"redis://127.0.0.1:{client.connection_pool.connection_kwargs['port']}/0"


def nearly_full(client: redis.Redis) -> None:
    """maxmemory just above what the server already uses: 90 % full."""
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", int(used / 0.9))


def announce(client: redis.Redis, *members: str) -> None:
    client.zadd(metrics.PRESENCE_KEY, dict.fromkeys(members, time.time()))


def test_a_roomy_redis_gives_no_warning(small_redis: redis.Redis) -> None:
    announce(small_redis, "web:web.1:10:8", "worker:worker.1:11:5")
    usage = capacity.read(small_redis)
    assert usage.maxclients == 20
    assert usage.maxmemory == 0
    assert [p.kind for p in usage.processes] == ["web", "worker"]
    assert usage.budget == 8 + 5 + defaults.ONE_OFF_CONNECTIONS
    assert capacity.warnings(usage) == []


def test_memory_nearly_full_is_a_warning(small_redis: redis.Redis) -> None:
    nearly_full(small_redis)
    [warning] = capacity.warnings(capacity.read(small_redis))
    assert "Redis memory" in warning and "503" in warning


def test_an_evicting_policy_is_a_warning(small_redis: redis.Redis) -> None:
    small_redis.config_set("maxmemory", 100_000_000)
    small_redis.config_set("maxmemory-policy", "allkeys-lru")
    [warning] = capacity.warnings(capacity.read(small_redis))
    assert "allkeys-lru" in warning and "noeviction" in warning


def test_connections_nearly_all_used_is_a_warning(small_redis: redis.Redis) -> None:
    port = small_redis.connection_pool.connection_kwargs["port"]
    holders = []
    try:
        for _ in range(16):  # with the test's own: 17 of 20
            holder = redis.Redis(port=port)
            holder.ping()
            holders.append(holder)
        [warning] = capacity.warnings(capacity.read(small_redis))
        assert "Redis connections 17 of 20" in warning
    finally:
        for holder in holders:
            holder.close()


def test_processes_that_may_open_more_than_maxclients_are_a_warning(
    small_redis: redis.Redis,
) -> None:
    announce(small_redis, "web:web.1:10:8", "web:web.1:12:8", "worker:worker.1:11:5")
    [warning] = capacity.warnings(capacity.read(small_redis))
    assert "allows 20 connections" in warning
    assert "2 web and 1 worker processes" in warning
    assert f"up to {8 + 8 + 5 + defaults.ONE_OFF_CONNECTIONS}" in warning


def test_processes_that_stopped_announcing_no_longer_count(small_redis: redis.Redis) -> None:
    small_redis.zadd(metrics.PRESENCE_KEY, {"web:web.9:10:50": time.time() - 3600})
    assert capacity.read(small_redis).processes == ()


def test_check_config_reports_redis_and_warns(
    small_redis: redis.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    nearly_full(small_redis)
    small_redis.config_set("maxclients", 12)
    (tmp_path / "bridge.toml").write_text(CONFIG)
    monkeypatch.delenv("BRIDGE_CONFIG_TOML", raising=False)
    monkeypatch.setenv("BRIDGE_CONFIG", str(tmp_path / "bridge.toml"))
    monkeypatch.setenv("REDIS_URL", url(small_redis))
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    assert cli.main(["check-config"]) == 0  # warnings never fail a release
    out = capsys.readouterr().out
    assert "redis pool: each web process opens up to 8 connections" in out
    assert "redis capacity: memory" in out and "of 12 connections" in out
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2
    assert "Redis memory" in warnings[0]
    # Nothing runs yet: one web dyno at WEB_CONCURRENCY=2 and a worker would need more.
    need = 2 * 8 + defaults.WORKER_CONNECTIONS + defaults.ONE_OFF_CONNECTIONS
    assert f"may open up to {need}" in warnings[1]


def test_check_config_says_when_redis_cannot_be_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bridge.toml").write_text(CONFIG)
    monkeypatch.delenv("BRIDGE_CONFIG_TOML", raising=False)
    monkeypatch.setenv("BRIDGE_CONFIG", str(tmp_path / "bridge.toml"))
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{pick_free_port()}/0")
    assert cli.main(["check-config"]) == 0
    assert "redis capacity: not checked (Redis: ConnectionError)" in capsys.readouterr().out


@pytest.mark.anyio
async def test_readyz_stays_ready_and_names_the_warnings(small_redis: redis.Redis) -> None:
    settings = Settings.from_env({"REDIS_URL": url(small_redis)})
    config = parse_config(CONFIG, {})
    app = create_app(settings, config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as http:
            assert (await http.get("/readyz")).json() == {"status": "ready"}
            nearly_full(small_redis)
            response = await http.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert "Redis memory" in body["warnings"][0]


@pytest.mark.anyio
async def test_metrics_show_memory_and_connections_against_their_limits(
    small_redis: redis.Redis,
) -> None:
    nearly_full(small_redis)
    announce(small_redis, "web:web.1:10:8")
    settings = Settings.from_env({"REDIS_URL": url(small_redis)})
    app = create_app(settings, parse_config(CONFIG, {}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as http:
            text = (await http.get("/metrics")).text
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert values["kanal_bridge_redis_maxclients"] == 20
    used, limit = (
        values["kanal_bridge_redis_used_memory_bytes"],
        values["kanal_bridge_redis_maxmemory_bytes"],
    )
    assert used / limit > 0.85  # the app's own connections took a little more since
    assert values["kanal_bridge_redis_connected_clients"] >= 1
    assert values["kanal_bridge_redis_connection_budget"] == 8 + defaults.ONE_OFF_CONNECTIONS
