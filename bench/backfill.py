"""Backfill: N historic orders at a Kanal limit of R calls a minute, live orders throughout.

    .venv/bin/python -m bench.backfill [--orders 5000] [--rate 600] [--live-every 1.0]
                                       [--baseline 60] [--workers 2]

The real web and workers (Procfile), a private Redis, the Kanal emulator enforcing R a minute,
and the Shopify emulator as a process: a shop whose app has a Shopify Plus cost bucket
(1,000 points a second; see RESULTS.md for a Standard shop). The bridge subscribes to the
shop's webhooks with `kanal-bridge connect`. Live orders are created in the shop once every
`--live-every` seconds; its webhooks reach the bridge as Shopify's do.

1. Baseline: live orders alone for `--baseline` seconds; their latency (the order's creation
   in the shop to Kanal's first write of it).
2. N orders of the last 20 days are put in the shop without webhooks; `kanal-bridge backfill
   --resources orders --yes --detach` starts a backfill, with live orders throughout. The drain
   runs from the start to Kanal's first write of the last historic order, against its minimum:
   N / (R/60 - the live orders' calls a second). Live latency again, the shop's API calls and
   cost points the backfill spent, and Kanal's 429s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    BIN,
    SOURCE,
    Process,
    free_port,
    log,
    out_dir,
    private_redis,
    processes,
    save,
    wait_for_http,
    wait_until,
)
from bench.payloads import SECRET, SHOP_DOMAIN
from bench.stack import Bridge, Emulator, StoreSpec

KANAL_ID = 300
STORE = "backfill-shop"
APP, TOKEN = "bench-app", "shpat_bench_backfill_token"
SETTLE = 1.0
PLUS = {"bucket_maximum": 10_000, "restore_rate": 1_000}  # Shopify Plus (points, points/s)


class Shopify:
    """`python -m bridge.emulators.shopify` on a free port: one shop, the bridge's app."""

    def __init__(self, logs: Path, started: list[Process]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        scopes = "read_orders,read_customers,read_fulfillments,read_all_orders"
        argv = [
            sys.executable,
            "-m",
            "bridge.emulators.shopify",
            f"--port={self.port}",
            f"--shop={SHOP_DOMAIN}",
            f"--app={APP}:{SECRET}:{scopes}:{TOKEN}",
        ]
        self.process = Process("shopify", argv, logs)
        started.append(self.process)
        wait_for_http(f"{self.url}/_emulator/subscriptions")
        self.http = httpx.Client(base_url=f"{self.url}/_emulator", timeout=60)
        app = {"client_id": APP, "client_secret": SECRET, "scopes": scopes.split(",")}
        self.control("POST", "/apps", json={**app, "static_token": TOKEN, **PLUS})

    def control(self, method: str, path: str, **options: Any) -> Any:
        response = self.http.request(method, path, **options)
        response.raise_for_status()
        return response.json()

    def cost(self) -> dict[str, Any]:
        return dict(self.control("GET", "/cost")["apps"][APP])


class LiveOrders(threading.Thread):
    """An order created in the shop every `every` seconds until stopped: (id, created at)."""

    def __init__(self, shop: Shopify, every: float) -> None:
        super().__init__(name="live-orders", daemon=True)
        self.shop = shop
        self.every = every
        self.made: list[tuple[str, float]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        due = time.monotonic()
        while not self._halt.is_set():
            at = time.time()
            order = self.shop.control("POST", "/orders", json={"email": "live@example.com"})
            self.made.append((str(order["order"]["id"]), at))
            due += self.every
            self._halt.wait(max(due - time.monotonic(), 0.0))

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


def _latencies(emulator: Emulator, made: list[tuple[str, float]]) -> list[float]:
    held = emulator.records().get(KANAL_ID, {})
    return [held[ident]["created_at"] - at for ident, at in made if ident in held]


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    if not ordered:
        return {"count": 0}
    return {
        "count": len(ordered),
        "p50": round(statistics.median(ordered), 3),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "max": round(ordered[-1], 3),
    }


def _command(bridge: Bridge, *args: str) -> str:
    env = {**bridge.env, "PUBLIC_URL": bridge.url}
    done = subprocess.run(
        [str(BIN / "kanal-bridge"), *args],
        env=env,
        cwd=SOURCE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"kanal-bridge {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


def _live_until(
    shop: Shopify, emulator: Emulator, every: float, done: Any, timeout: float
) -> list[tuple[str, float]]:
    live = LiveOrders(shop, every)
    live.start()
    try:
        wait_until(done, timeout, 0.5)
    finally:
        live.stop()
    made = live.made
    wait_until(lambda: len(_latencies(emulator, made)) == len(made), 60, 0.5)
    return made


def _history(shop: Shopify, orders: int) -> list[str]:
    start = datetime.now(UTC) - timedelta(days=20)
    ids: list[str] = []
    for first in range(0, orders, 500):
        batch = [
            {"created_at": (start + timedelta(seconds=30 * n)).isoformat()}
            for n in range(first, min(first + 500, orders))
        ]
        made = shop.control("POST", "/orders", json={"orders": batch})["orders"]
        ids.extend(str(order["id"]) for order in made)
    return ids


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill")
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--rate", type=int, default=600)
    parser.add_argument("--live-every", type=float, default=1.0)
    parser.add_argument("--baseline", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    directory = out_dir("backfill")
    with private_redis(directory / "redis") as redis_url, processes() as started:
        emulator = Emulator(directory, {KANAL_ID: args.rate}, started)
        shop = Shopify(directory, started)
        api = (
            f'admin_api_token = "{TOKEN}"\nadmin_api_url = "{shop.url}"\n'
            "reconcile_every_minutes = 0"
        )
        bridge = Bridge(
            directory,
            redis_url,
            emulator.url,
            [StoreSpec(STORE, KANAL_ID, args.rate)],
            started,
            settle=SETTLE,
            store_extra=api,
        )
        bridge.start_web()
        bridge.start_workers(args.workers)
        time.sleep(2)  # the workers are up and one holds the scheduler lock
        _command(bridge, "connect", STORE)

        log(f"baseline: a live order every {args.live_every}s for {args.baseline:.0f}s")
        deadline = time.monotonic() + args.baseline
        baseline = _live_until(
            shop, emulator, args.live_every, lambda: time.monotonic() > deadline, args.baseline + 30
        )
        base = _summary(_latencies(emulator, baseline))
        log(f"baseline live latency: {base}")

        ids = _history(shop, args.orders)
        log(f"{len(ids)} historic orders in the shop; starting the backfill")
        cost_before = shop.cost()
        calls_before = emulator.stats()["total"]
        started_at = time.time()
        plan = _command(bridge, "backfill", STORE, "--resources", "orders", "--yes", "--detach")
        log(plan.splitlines()[0])

        def drained() -> bool:
            held = emulator.records().get(KANAL_ID, {})
            return all(ident in held for ident in ids)

        minimum = args.orders / (args.rate / 60 - 1 / args.live_every)
        during = _live_until(shop, emulator, args.live_every, drained, minimum * 3 + 120)
        held = emulator.records().get(KANAL_ID, {})
        last = max(held[ident]["created_at"] for ident in ids)
        drain = last - started_at
        live = _summary(_latencies(emulator, during))
        cost_after = shop.cost()
        stats = emulator.stats()
        status = _command(bridge, "backfill", STORE, "--status")
    result = {
        "orders": args.orders,
        "requests_per_minute": args.rate,
        "live_every_s": args.live_every,
        "workers": args.workers,
        "settle_seconds": SETTLE,
        "minimum_s": round(minimum, 1),
        "drain_s": round(drain, 1),
        "over_minimum": round(drain / minimum - 1, 3),
        "live_baseline": base,
        "live_during_backfill": live,
        "p95_ratio": round(live["p95"] / base["p95"], 2) if base.get("p95") else None,
        "kanal_calls": stats["total"] - calls_before,
        "rate_limited": stats["rate_limited"],
        "shopify_queries": cost_after["queries"] - cost_before["queries"],
        "shopify_cost_points": cost_after["actual"] - cost_before["actual"],
        "shopify_requested_points": cost_after["requested"] - cost_before["requested"],
        "shopify_throttled": cost_after["throttled"] - cost_before["throttled"],
        "status": status.strip().splitlines(),
    }
    log(
        f"drained {args.orders} in {drain:.1f}s, minimum {minimum:.1f}s "
        f"({100 * result['over_minimum']:+.1f}%); live p50/p95/max {live} vs baseline {base}; "
        f"{result['shopify_queries']} Shopify queries, {result['shopify_cost_points']} points; "
        f"{stats['rate_limited']} 429s"
    )
    log(f"raw results: {save('backfill', result)}")
    return result


if __name__ == "__main__":
    main()
