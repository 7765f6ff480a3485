"""Redis sized to the plan, with the real processes: against a Redis that allows 40
connections (Heroku Key-Value Store premium-0), two web processes and a worker with the
default pool answer a burst of 200 concurrent webhooks without a single 503."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from harness import (
    SHOPIFY_SECRET,
    Bridge,
    Emulator,
    shopify_bytes,
    shopify_order,
    sign,
    wait_until,
)

from bridge.ops.localredis import find_server_binary, pick_free_port, start_server, stop_server

pytestmark = pytest.mark.e2e

PLAN_CONNECTIONS = 40
BURST = 200


@pytest.fixture(scope="module")
def plan_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = pick_free_port()
    server = start_server(tmp_path_factory.mktemp("plan-redis"), port, find_server_binary())
    client = redis.Redis(port=port)
    client.config_set("maxclients", PLAN_CONNECTIONS)
    client.close()
    yield f"redis://127.0.0.1:{port}/0"
    stop_server(server)


@pytest.fixture(scope="module")
def small_plan_bridge(logs: Path, emulator: Emulator, plan_redis: str) -> Iterator[Bridge]:
    bridge = Bridge(logs, emulator, plan_redis, env={"WEB_CONCURRENCY": "2"})
    yield bridge
    bridge.stop()


async def burst(url: str, count: int) -> list[int]:
    """`count` signed Shopify orders posted at once; their status codes."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def post(number: int) -> int:
            body = shopify_bytes(shopify_order(700_000 + number, 1))
            headers = {
                "Content-Type": "application/json",
                "X-Shopify-Topic": "orders/create",
                "X-Shopify-Hmac-Sha256": sign(body, SHOPIFY_SECRET),
                "X-Shopify-Shop-Domain": "shopify-shop.myshopify.com",
                "X-Shopify-Webhook-Id": f"burst-{number}",
            }
            response = await client.post(
                "/webhooks/shopify/shopify-shop", content=body, headers=headers
            )
            return response.status_code

        return list(await asyncio.gather(*(post(n) for n in range(count))))


def test_a_burst_against_a_40_connection_plan_gets_no_503(small_plan_bridge: Bridge) -> None:
    statuses = asyncio.run(burst(small_plan_bridge.url, BURST))
    assert statuses.count(200) == BURST, {s: statuses.count(s) for s in set(statuses)}
    info = small_plan_bridge.redis.info("clients")
    assert info["connected_clients"] <= PLAN_CONNECTIONS
    assert info["maxclients"] == PLAN_CONNECTIONS

    def announced() -> list[str]:  # each process says, at its next flush, what it may open
        members = small_plan_bridge.redis.zrange("kb:procs", 0, -1)
        return sorted(member.decode().split(":")[0] for member in members)

    assert wait_until(lambda: len(announced()) == 3 and announced(), 15) == [
        "web",
        "web",
        "worker",
    ]
