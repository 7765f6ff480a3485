"""Where one webhook's CPU goes: each step of the accept path timed alone, in one process.

    .venv/bin/python -m bench.breakdown [--count 700]

The same deliveries as bench.ingest (the size mix), each step run over all of them and
averaged: HMAC check, orjson, the mapper, encoding and digests of the Kanal body, building
RQ's job fields, the ACCEPT round trip to a private Redis, and the one log record a
request writes (the webhook's own, JSON and masked as in production; uvicorn's access line
is off).
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
import redis.asyncio
from starlette.datastructures import Headers

from bench.common import log, out_dir, private_redis, save
from bench.payloads import KANAL_KEY, MIX, SECRET, Webhook, order, webhook
from bridge import logs
from bridge.delivery import jobs
from bridge.delivery.records import Namespace, RecordStore, record_key, split_body
from bridge.intake.signatures import ShopifyVerifier
from mappers import StoreContext, Upsert, map_webhook


def _mean_us(step: Callable[[Any], object], items: list[Any], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for item in items:
            step(item)
        best = min(best, time.perf_counter() - started)
    return round(1e6 * best / len(items), 1)


def hooks(count: int) -> list[Webhook]:
    return [
        webhook("orders/create", order(5_000_000_000 + n, n, MIX[n % len(MIX)], "paid"), f"b-{n}")
        for n in range(count)
    ]


async def _accept_us(
    redis_url: str, actions: list[list[Upsert]], bodies: list[bytes]
) -> tuple[float, float]:
    client = redis.asyncio.Redis.from_url(redis_url)
    store = RecordStore(client, {"bench-shop": Namespace(1)})
    try:
        await client.ping()
        started = time.perf_counter()
        for n, todo in enumerate(actions):
            await store.accept("bench-shop", todo, f"accept-{n}")
        accept = time.perf_counter() - started
        started = time.perf_counter()
        for n, body in enumerate(bodies):
            await client.set(f"b:{n}", body)
        plain_set = time.perf_counter() - started
    finally:
        await client.aclose()
    return round(1e6 * accept / len(actions), 1), round(1e6 * plain_set / len(actions), 1)


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
    with private_redis(out_dir("breakdown") / "redis") as redis_url:
        accept, plain_set = asyncio.run(
            _accept_us(redis_url, [[u] for u in upserts], [h.body for h in sample])
        )
    steps["RecordStore.accept (all of it, incl. Redis)"] = accept
    steps["for reference: one async SET of the raw body (baseline b)"] = plain_set
    body_bytes = sum(len(h.body) for h in sample) / len(sample)
    data = {"count": args.count, "mean_body_bytes": round(body_bytes), "steps_us": steps}
    for name, value in steps.items():
        log(f"{name:48} {value:8.1f} us")
    log(f"raw results: {save('breakdown', data)}")
    return data


if __name__ == "__main__":
    main()
