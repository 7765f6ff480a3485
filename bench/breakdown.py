"""Where one webhook's CPU goes: each step of the accept path timed alone, in one process.

    .venv/bin/python -m bench.breakdown [--count 700]

The same deliveries as bench.ingest (the size mix), each step run over all of them and
averaged: HMAC check, orjson, the mapper, encoding and digests of the Kanal body, building
RQ's job fields, the ACCEPT round trip to a private Redis (with hiredis's parser and with
redis-py's Python one; and the Redis commands it runs, from INFO commandstats), and the one
log record a request writes (the webhook's own, JSON and masked as in production; uvicorn's
access line is off).
Each step is timed in this process's CPU seconds (time.process_time), which other work on
the machine disturbs less than the wall clock; the accept round trip in both.
Read beside ingest's "server CPU per request": the sum, plus what the framework costs
(baseline (a)), is what one web process spends per webhook.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
import redis
import redis.asyncio
from redis._parsers import _AsyncHiredisParser, _AsyncRESP2Parser
from starlette.datastructures import Headers

from bench.common import log, out_dir, private_redis, save
from bench.payloads import KANAL_KEY, MIX, SECRET, Webhook, order, webhook
from bridge import logs
from bridge.connection import async_redis
from bridge.delivery import jobs
from bridge.delivery.records import Namespace, RecordStore, record_key, split_body
from bridge.intake.signatures import ShopifyVerifier
from mappers import StoreContext, Upsert, map_webhook


def _mean_us(step: Callable[[Any], object], items: list[Any], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for item in items:
            step(item)
        best = min(best, time.process_time() - started)
    return round(1e6 * best / len(items), 1)


def hooks(count: int) -> list[Webhook]:
    return [
        webhook("orders/create", order(5_000_000_000 + n, n, MIX[n % len(MIX)], "paid"), f"b-{n}")
        for n in range(count)
    ]


def _commands(redis_url: str) -> tuple[int, int]:
    """Commands Redis has run so far (INFO commandstats, the INFO calls themselves aside), and
    how many of them came from clients (the rest ran inside scripts)."""
    client = redis.Redis.from_url(redis_url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    calls = {k: int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info"}
    sent = sum(n for k, n in calls.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))
    return sum(calls.values()), sent


# The web's client (bridge.connection: hiredis parses and packs) and two before it.
CLIENTS: dict[str, Callable[[str], redis.asyncio.Redis]] = {
    "Python parser and packing": lambda url: redis.asyncio.Redis.from_url(
        url, parser_class=_AsyncRESP2Parser
    ),
    "hiredis parser, Python packing": lambda url: redis.asyncio.Redis.from_url(
        url, parser_class=_AsyncHiredisParser
    ),
    "hiredis parser and packing (the web's)": async_redis,
}


async def _accept_us(
    redis_url: str, actions: list[list[Upsert]], bodies: list[bytes], client_for: str
) -> tuple[float, float, float, float, tuple[float, float]]:
    """µs per RecordStore.accept and per plain SET with the client (wall clock), µs of this
    process's CPU per each, and per accept: Redis commands, and scripts among them."""
    client = CLIENTS[client_for](redis_url)
    store = RecordStore(client, {"bench-shop": Namespace(1)})
    try:
        await client.ping()
        await client.flushdb()
        total, sent = _commands(redis_url)
        started, cpu = time.perf_counter(), time.process_time()
        for n, todo in enumerate(actions):
            await store.accept("bench-shop", todo, f"accept-{n}")
        accept, accept_cpu = time.perf_counter() - started, time.process_time() - cpu
        total_after, sent_after = _commands(redis_url)
        started, cpu = time.perf_counter(), time.process_time()
        for n, body in enumerate(bodies):
            await client.set(f"b:{n}", body)
        plain_set, set_cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await client.aclose()
    n = len(actions)
    per_accept = ((total_after - total) / n, (sent_after - sent) / n)
    us = [round(1e6 * t / n, 1) for t in (accept, plain_set, accept_cpu, set_cpu)]
    return us[0], us[1], us[2], us[3], per_accept


def _logging_us(count: int) -> float:
    """The webhook's log record, through the bridge's logging config."""
    saved = sys.stderr
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - closed below
    try:
        logs.configure("INFO", "json", [SECRET, KANAL_KEY])
        webhooks = logging.getLogger("bridge.intake.webhooks")
        extra = {
            "store": "bench-shop",
            "platform": "shopify",
            "topic": "orders/create",
            "delivery_id": "b-1",
            "answer": "accepted",
            "reason": None,
            "status_code": 200,
            "duration_ms": 1.23,
            "request_id": "0123456789abcdef",
        }

        def one(n: int) -> None:
            webhooks.info(
                "webhook %s/%s -> %d %s", "shopify", "bench-shop", 200, "accepted", extra=extra
            )

        return _mean_us(one, list(range(count)))
    finally:
        logging.config.dictConfig(
            {"version": 1, "disable_existing_loggers": False, "root": {"handlers": []}}
        )
        sys.stderr.close()
        sys.stderr = saved


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.breakdown")
    parser.add_argument("--count", type=int, default=700)
    args = parser.parse_args(argv)
    sample = hooks(args.count)
    verifier = ShopifyVerifier([SECRET.encode()])
    headers = [Headers(h.headers()) for h in sample]
    context = StoreContext(default_country="US")
    pairs = list(zip(sample, headers, strict=True))
    payloads = [orjson.loads(h.body) for h in sample]
    actions = [map_webhook("shopify", "orders/create", p, context) for p in payloads]
    upserts = [a[0] for a in actions if isinstance(a[0], Upsert)]
    steps = {
        "verify HMAC": _mean_us(lambda p: verifier.verify(p[0].body, p[1]), pairs),
        "orjson.loads": _mean_us(lambda h: orjson.loads(h.body), sample),
        "map (mappers.shopify)": _mean_us(
            lambda p: map_webhook("shopify", "orders/create", p, context), payloads
        ),
        "encode + digests (split_body)": _mean_us(
            lambda u: split_body(u.resource, u.body), upserts
        ),
        "RQ job fields (push_job_fields)": _mean_us(
            lambda u: jobs.push_job_fields(jobs.new_job_id(), record_key(1, "orders", "1")),
            upserts,
        ),
        "log record (the webhook's, JSON, masked)": _logging_us(args.count),
    }
    todo, raw = [[u] for u in upserts], [h.body for h in sample]
    with private_redis(out_dir("breakdown") / "redis") as redis_url:
        # Three rounds, the clients taking turns in each; the best of each figure is kept.
        rounds = [
            {name: asyncio.run(_accept_us(redis_url, todo, raw, name)) for name in CLIENTS}
            for _ in range(3)
        ]
    measured = {
        name: tuple(min(figures) for figures in zip(*(r[name] for r in rounds), strict=True))
        for name in CLIENTS
    }
    for name, (accept, plain_set, accept_cpu, set_cpu, _) in measured.items():
        steps[f"RecordStore.accept, {name}: wall clock, Redis included"] = accept
        steps[f"RecordStore.accept, {name}: this process's CPU"] = accept_cpu
        steps[f"for reference: one SET of the raw body, {name}: wall"] = plain_set
        steps[f"for reference: one SET of the raw body, {name}: CPU"] = set_cpu
    commands, scripts = measured["hiredis parser and packing (the web's)"][4]
    body_bytes = sum(len(h.body) for h in sample) / len(sample)
    data = {
        "count": args.count,
        "mean_body_bytes": round(body_bytes),
        "steps_us": steps,
        "redis_commands_per_accept": commands,
        "redis_calls_per_accept": scripts,
    }
    log(f"per RecordStore.accept: {scripts:.2f} EVALSHA, {commands:.2f} Redis commands in all")
    for name, value in steps.items():
        log(f"{name:64} {value:8.1f} us")
    log(f"raw results: {save('breakdown', data)}")
    return data


if __name__ == "__main__":
    main()
