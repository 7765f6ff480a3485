"""Redis and what the web process acknowledges: with Redis gone it refuses (503, the platform
retries); whatever it answered 200 survives a restart of Redis, graceful or a crash."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
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
    bridge.stop_workers()
    restarted = None
    try:
        assert bridge.shopify(shopify_order(6003, 1)).json() == {"status": "accepted"}
        stop_server(process)  # type: ignore[arg-type]  # SIGTERM: Redis writes its AOF out
        restarted = start_server(tmp_path / "redis", port, find_server_binary())
        bridge.workers = [bridge.start("worker", "worker-after-restart")]
        wait_until(lambda: "6003" in emulator.records(7), 30)
    finally:
        bridge.stop()
        if restarted is not None:
            stop_server(restarted)


def test_acknowledged_orders_survive_a_redis_crash(
    tmp_path: Path, emulator: Emulator, own_redis: tuple[str, object]
) -> None:
    """SIGKILL Redis right after the 200s, restart it on the same files: every acknowledged
    record is there and reaches Kanal.

    The server runs as `make run` starts one: AOF with appendfsync everysec. Redis writes
    each command to the AOF file before it replies (the write(2) happens in the event loop
    before the reply is sent; only the fsync is once a second), so a killed server process
    loses nothing it acknowledged: the kernel still has the data. What everysec can lose is
    the last second when the machine itself stops (power, kernel), or when a disk stall
    holds the write back for more than two seconds (docs/local-redis.md says what to run in
    production)."""
    url, process = own_redis
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    probe = redis.Redis.from_url(url)
    assert probe.config_get("appendonly") == {"appendonly": "yes"}
    assert probe.config_get("appendfsync") == {"appendfsync": "everysec"}
    probe.close()
    bridge = Bridge(tmp_path, emulator, url)
    bridge.stop_workers()
    wanted = [str(order_id) for order_id in range(6201, 6221)]
    restarted = None
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: bridge.shopify(shopify_order(int(i), 1)), wanted))
        assert [answer.json() for answer in answers] == [{"status": "accepted"}] * len(wanted)
        process.kill()  # type: ignore[attr-defined]  # SIGKILL: no shutdown, no AOF flush
        process.wait()  # type: ignore[attr-defined]
        restarted = start_server(tmp_path / "redis", port, find_server_binary())

        after = redis.Redis.from_url(url)
        held = {key.decode().rsplit(":", 1)[1] for key in after.scan_iter("kb:rec:*:orders:*")}
        pending = after.zcard("kb:pending")
        after.close()
        assert sorted(held) == wanted, "acknowledged records lost in the crash"
        assert pending == len(wanted)

        bridge.workers = [bridge.start("worker", "worker-after-crash")]
        wait_until(lambda: set(wanted) <= set(emulator.records(7)), 60, 0.5)
    finally:
        bridge.stop()
        if restarted is not None:
            stop_server(restarted)
