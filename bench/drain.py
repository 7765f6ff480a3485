"""Drain: a flash sale of 1,000 orders x 4 webhooks; how long until Kanal holds everything.

    .venv/bin/python -m bench.drain [--orders 1000] [--scenarios one,twenty]

"one": one Kanal store at 600 calls/minute; "twenty": 20 stores at 60/minute each (50 orders
each). The real web and two workers (Procfile), a private Redis, the emulator enforcing the
same limits; config `[delivery] settle_seconds = 1`. Each order gets orders/create,
orders/paid and two orders/updated (tags) within a second; all of them are sent as fast as
the web process and the Python sender allow (16-25 s on 2 cores).
The drain time runs from the first webhook sent to the emulator's last write (the newest
state of the last order), beside the least the limit allows: calls needed / rate.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import redis

from bench.common import log, out_dir, private_redis, processes, save, wait_until
from bench.payloads import MIX, order, webhook
from bench.replay import replay
from bench.stack import Bridge, Emulator, StoreSpec
from bench.streams import Event

SETTLE = 1.0
SCENARIOS: dict[str, list[StoreSpec]] = {
    "one": [StoreSpec("flash-one", 100, 600)],
    "twenty": [StoreSpec(f"flash-{n:02d}", 200 + n, 60) for n in range(20)],
}


def flash_sale(
    stores: list[StoreSpec], orders: int, window: float, first_id: int, seed: int = 11
) -> tuple[list[tuple[str, Event]], dict[str, str]]:
    """(store key, event) for every webhook, sorted by time; each order's final tags."""
    rng = random.Random(seed)
    sent: list[tuple[str, Event]] = []
    final: dict[str, str] = {}
    for n in range(orders):
        store = stores[n % len(stores)]
        order_id = first_id + n
        start = window * n / orders
        version = n * 10
        states = [
            ("orders/create", "pending", ""),
            ("orders/paid", "paid", ""),
            ("orders/updated", "paid", "sale"),
            ("orders/updated", "paid", "sale, vip"),
        ]
        for step, (topic, financial, tags) in enumerate(states):
            payload = order(order_id, version + step, MIX[n % len(MIX)], financial, None, tags)
            at = start + step * 0.25 + rng.uniform(0, 0.2)
            hook = webhook(topic, payload, f"{order_id}-{step}")
            sent.append((store.key, Event(at, hook, "checkout")))
        final[str(order_id)] = "sale, vip"
    sent.sort(key=lambda pair: pair[1].at)
    return sent, final


def held_everything(emulator: Emulator, stores: list[StoreSpec], final: dict[str, str]) -> bool:
    records = emulator.records()
    held = {}
    for store in stores:
        held.update(records.get(store.kanal_store_id, {}))
    return all(
        held.get(order_id, {}).get("body", {}).get("tags") == tags.split(", ")
        for order_id, tags in final.items()
    )


def scenario(
    name: str, bridge: Bridge, emulator: Emulator, redis_url: str, orders: int, first_id: int
) -> dict[str, Any]:
    stores = SCENARIOS[name]
    sent, final = flash_sale(stores, orders, 4.0, first_id)
    emulator.reset()
    by_store: dict[str, list[Event]] = {}
    for key, event in sent:
        by_store.setdefault(key, []).append(event)
    log(f"{name}: {len(sent)} webhooks for {orders} orders on {len(stores)} store(s)")
    started = time.time()
    answers = replay(
        {f"{bridge.url}/webhooks/shopify/{key}": events for key, events in by_store.items()}
    )
    sent_in = time.time() - started
    rate = sum(s.requests_per_minute for s in stores) / 60
    minimum = orders / rate
    wait_until(lambda: held_everything(emulator, stores, final), minimum * 3 + 60, 1.0)
    records = emulator.records()
    last_write = max(
        record["updated_at"]
        for store in stores
        for record in records.get(store.kanal_store_id, {}).values()
    )
    stats = emulator.stats()
    call_times = sorted(round(call["time"] - started, 3) for call in emulator.requests())
    client = redis.Redis.from_url(redis_url)
    try:
        wait_until(lambda: client.zcard("kb:pending") == 0, 60, 0.5)
    finally:
        client.close()
    drain = last_write - started
    result = {
        "scenario": name,
        "stores": len(stores),
        "requests_per_minute_each": stores[0].requests_per_minute,
        "orders": orders,
        "webhooks": len(sent),
        "webhooks_sent_in_s": round(sent_in, 2),
        "answers": dict(answers),
        "kanal_calls": emulator.stats()["total"],
        "rate_limited": stats["rate_limited"],
        "minimum_s": round(minimum, 1),
        "drain_s": round(drain, 1),
        "over_minimum": round(drain / minimum - 1, 3),
        "call_times_s": call_times,
    }
    log(
        f"{name}: drained in {drain:.1f}s, minimum {minimum:.1f}s "
        f"({100 * result['over_minimum']:+.1f}%), {result['kanal_calls']} calls, "
        f"{result['rate_limited']} 429s; webhooks sent in {sent_in:.1f}s"
    )
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.drain")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--scenarios", default="one,twenty")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    directory = out_dir("drain")
    names = args.scenarios.split(",")
    stores = [store for name in names for store in SCENARIOS[name]]
    rates = {store.kanal_store_id: store.requests_per_minute for store in stores}
    results = []
    with private_redis(directory / "redis") as redis_url, processes() as started:
        emulator = Emulator(directory, rates, started)
        bridge = Bridge(directory, redis_url, emulator.url, stores, started, settle=SETTLE)
        bridge.start_web()
        bridge.start_workers(args.workers)
        time.sleep(2)  # the workers are up and one holds the scheduler lock
        for n, name in enumerate(names):
            results.append(
                scenario(name, bridge, emulator, redis_url, args.orders, 7_000_000_000 + n * 10**6)
            )
    data = {"settle_seconds": SETTLE, "workers": args.workers, "scenarios": results}
    log(f"raw results: {save('drain', data)}")
    return data


if __name__ == "__main__":
    main()
