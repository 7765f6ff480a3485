"""With Redis gone, the web process refuses to acknowledge: 503, and the platform retries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Bridge, Emulator, shopify_order, wait_until

from bridge.ops.localredis import find_server_binary, pick_free_port, start_server, stop_server

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, object]]:
    port = pick_free_port()
    process = start_server(tmp_path / "redis", port, find_server_binary())
    yield f"redis://127.0.0.1:{port}/0", process
    stop_server(process)


def test_with_redis_stopped_a_webhook_gets_503(
    tmp_path: Path, emulator: Emulator, own_redis: tuple[str, object]
) -> None:
    url, process = own_redis
    bridge = Bridge(tmp_path, emulator, url)
    try:
        assert bridge.shopify(shopify_order(6001, 1)).json() == {"status": "accepted"}
        assert bridge.http.get("/readyz").status_code == 200

        stop_server(process)  # type: ignore[arg-type]
        answer = bridge.shopify(shopify_order(6002, 1))
        assert answer.status_code == 503
        assert bridge.http.get("/readyz").status_code == 503
        assert bridge.http.get("/healthz").status_code == 200
    finally:
        bridge.stop()


def test_acknowledged_orders_survive_a_redis_restart(
    tmp_path: Path, emulator: Emulator, own_redis: tuple[str, object]
) -> None:
    """AOF on: what was acknowledged before Redis restarted is still delivered after."""
    url, process = own_redis
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    bridge = Bridge(tmp_path, emulator, url)
    for worker in bridge.workers:
        worker.stop()
    restarted = None
    try:
        assert bridge.shopify(shopify_order(6003, 1)).json() == {"status": "accepted"}
        time.sleep(1.2)  # appendfsync everysec
        stop_server(process)  # type: ignore[arg-type]
        restarted = start_server(tmp_path / "redis", port, find_server_binary())
        bridge.workers = [bridge.start("worker", "worker-after-restart")]
        wait_until(lambda: "6003" in emulator.records(7), 30)
    finally:
        bridge.stop()
        if restarted is not None:
            stop_server(restarted)
