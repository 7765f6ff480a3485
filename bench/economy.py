"""Call economy: Kanal calls per order for a realistic stream, beside naive forwarding.

    .venv/bin/python -m bench.economy [--orders 200] [--window 60] [--rpm 600]

The real web and two workers (Procfile), a private Redis, the Kanal emulator limited to
`--rpm` for the store, the default settle delay (2 s). Two streams (bench/streams.py):
"burst" (an order's whole life within 1.5 s) and "lifecycle" (checkout, edits, fulfilment
several seconds apart). The naive forwarder (one call per webhook at its arrival) is
computed with the emulator's own sliding-window limiter over the same send times.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from typing import Any

import orjson
import redis

from bench.common import log, out_dir, private_redis, processes, save, wait_until
from bench.replay import replay
from bench.stack import Bridge, Emulator, StoreSpec
from bench.streams import TIMELINES, Event, Expected, stream
from bridge.emulators.kanal.ratelimit import SlidingWindow
from mappers import StoreContext, Upsert, map_webhook
from mappers.kanal import encode

# The shipped default (bridge/defaults.py SETTLE_SECONDS).
SETTLE = 2.0


def naive(events: list[Event], rpm: int) -> dict[str, int]:
    """One call per webhook when it arrives, against a `rpm` sliding window: calls and 429s."""
    now = [0.0]
    window = SlidingWindow(rpm, clock=lambda: now[0])
    refused = 0
    for event in sorted(events, key=lambda e: e.at):
        now[0] = event.at
        refused += not window.hit().admitted
    return {"calls": len(events), "rate_limited": refused}


def one_call_per_burst(events: list[Event], settle: float) -> float:
    """Reference: calls per order if the bridge made one call per burst of an order's
    webhooks (a burst ends after `settle` seconds without one) whose state Kanal would show
    differently from the previous burst's. Pacing delays can merge more; nothing merges less."""
    context = StoreContext(default_country="US")
    by_order: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        if event.hook.topic.startswith("orders/"):
            by_order[event.hook.order_id].append(event)
    calls = 0
    for mine in by_order.values():
        mine.sort(key=lambda e: e.at)
        bursts: list[list[Event]] = [[mine[0]]]
        for event in mine[1:]:
            if event.at - bursts[-1][-1].at > settle:
                bursts.append([])
            bursts[-1].append(event)
        seen: list[tuple[int, bytes]] = []
        for burst in bursts:
            newest = max((_mapped(e, context) for e in burst), key=lambda m: m[0])
            if seen and newest[0] < max(v for v, _ in seen):
                continue  # an older version is never sent
            if not seen or newest[1] != seen[-1][1]:
                calls += 1
            seen.append(newest)
    return calls / len(by_order)


def _mapped(event: Event, context: StoreContext) -> tuple[int, bytes]:
    [action] = map_webhook("shopify", event.hook.topic, orjson.loads(event.hook.body), context)
    assert isinstance(action, Upsert)
    return action.version, encode(action.body)


def check(held: dict[str, Any], expected: dict[str, Expected]) -> int:
    """How many orders Kanal holds in a state other than the newest."""
    wrong = 0
    for order_id, final in expected.items():
        body = held.get(order_id, {}).get("body", {})
        if (
            body.get("financial_status") != final.financial_status
            or body.get("fulfillment_status") != final.fulfillment_status
            or sorted(body.get("tags") or []) != sorted(final.tags)
        ):
            wrong += 1
    return wrong


def scenario(
    bridge: Bridge,
    emulator: Emulator,
    redis_url: str,
    timeline: str,
    orders: int,
    window: float,
    rpm: int,
) -> dict[str, Any]:
    first_id = 6_000_000_000 + 1_000_000 * list(TIMELINES).index(timeline)
    events, expected = stream(orders, window, timeline, first_id=first_id)
    client = redis.Redis.from_url(redis_url)
    try:
        log(f"{timeline}: {len(events)} webhooks for {orders} orders over ~{window:.0f}s")
        answers = replay({f"{bridge.url}/webhooks/shopify/{bridge.stores[0].key}": events})
        wait_until(lambda: client.zcard("kb:pending") == 0, 600, 0.5)
    finally:
        client.close()
    calls = emulator.requests()
    by_call = Counter(f"{c['method']} {c['path'].split('/')[5]}" for c in calls)
    order_calls = sum(n for call, n in by_call.items() if call.endswith("orders"))
    held = emulator.records()[bridge.stores[0].kanal_store_id]
    topics = Counter(e.hook.topic for e in events)
    result = {
        "timeline": timeline,
        "orders": orders,
        "webhooks": len(events),
        "webhooks_by_topic": dict(topics),
        "answers": dict(answers),
        "kanal_calls": len(calls),
        "kanal_calls_by_kind": dict(by_call),
        "order_calls_per_order": round(order_calls / orders, 3),
        "calls_per_order": round(len(calls) / orders, 3),
        "rate_limited": emulator.stats()["rate_limited"],
        "orders_held": len(held),
        "orders_not_newest": check(held, expected),
        "one_call_per_burst": round(one_call_per_burst(events, SETTLE), 3),
        "naive": naive(events, rpm),
        "naive_at_60_per_minute": naive(events, 60),
        "naive_order_topics": naive([e for e in events if e.hook.topic.startswith("orders/")], rpm),
    }
    result["naive"]["calls_per_order"] = round(len(events) / orders, 3)
    log(
        f"{timeline}: {result['order_calls_per_order']} order calls/order "
        f"(one per burst: {result['one_call_per_burst']}), {result['kanal_calls']} calls, "
        f"{result['rate_limited']} 429s; naive {result['naive']}; "
        f"{result['orders_not_newest']} orders not at their newest state"
    )
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.economy")
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--rpm", type=int, default=600)
    parser.add_argument("--timelines", default="burst,lifecycle")
    args = parser.parse_args(argv)
    directory = out_dir("economy")
    store = StoreSpec("econ-shop", 31, args.rpm)
    scenarios = []
    with private_redis(directory / "redis") as redis_url, processes() as started:
        emulator = Emulator(directory, {store.kanal_store_id: args.rpm}, started)
        bridge = Bridge(directory, redis_url, emulator.url, [store], started, settle=SETTLE)
        bridge.start_web()
        bridge.start_workers(2)
        for timeline in args.timelines.split(","):
            emulator.reset()
            scenarios.append(
                scenario(bridge, emulator, redis_url, timeline, args.orders, args.window, args.rpm)
            )
    results = {"rpm": args.rpm, "settle_seconds": SETTLE, "workers": 2, "scenarios": scenarios}
    log(f"raw results: {save('economy', results)}")
    return results


if __name__ == "__main__":
    main()
