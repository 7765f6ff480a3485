"""Memory: Redis bytes per pending and per delivered record, and the web process's RSS.

    .venv/bin/python -m bench.memory [--records 2000]

Redis: records written with the web's own code (RecordStore.accept, with a delivery id as
Shopify sends one), measured key by key with MEMORY USAGE and as the growth of used_memory;
then one worker delivers them all to the emulator and the same is measured again, with the
TTL of every kind of key left behind. Web: `kanal-bridge web` RSS idle, then while wrk
replays signed deliveries at 64 connections.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections import defaultdict
from typing import Any

import redis
import redis.asyncio

from bench import ingest, loadgen
from bench.common import (
    log,
    out_dir,
    private_redis,
    processes,
    rss_mib,
    save,
    wait_until,
)
from bench.stack import Bridge, Emulator, StoreSpec
from bench.worker import actions
from bridge.delivery.records import Namespace, RecordStore

STORE = StoreSpec("memory-shop", 400, 1_000_000_000)

# What a delivered record itself keeps: the record, its delivery id, its version memory.
RECORD_KINDS = ("kb:rec", "kb:seen", "kb:ver")
# RQ's keys that grow with the jobs run (not the per-process worker and queue keys).
RQ_JOB_KINDS = ("rq:job", "rq:results", "rq:finished", "rq:execution", "rq:executions", "rq:wip")


def kind(key: str) -> str:
    """What a key is, for grouping: kb:rec, kb:seen, rq:job, rq:results, ..."""
    parts = key.split(":")
    return ":".join(parts[:2]) if parts[0] in ("kb", "rq") else parts[0]


def inventory(client: redis.Redis) -> dict[str, dict[str, float]]:
    """Per kind of key: how many, total and mean MEMORY USAGE bytes, the longest TTL."""
    groups: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for raw in client.scan_iter(count=1000):
        key = raw.decode()
        groups[kind(key)].append(
            (int(client.memory_usage(key, samples=0) or 0), int(client.ttl(key)))
        )
    return {
        name: {
            "keys": len(rows),
            "bytes": sum(b for b, _ in rows),
            "mean_bytes": round(sum(b for b, _ in rows) / len(rows)),
            "ttl_s": max(t for _, t in rows),
        }
        for name, rows in sorted(groups.items())
    }


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


async def _fill(redis_url: str, count: int) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    store = RecordStore(
        client,
        {STORE.key: Namespace(STORE.kanal_store_id, "", STORE.requests_per_minute)},
        settle_seconds=0,
    )
    try:
        for n, action in enumerate(actions(count, 9_500_000_000)):
            await store.accept(STORE.key, [action], f"delivery-{n}")
    finally:
        await client.aclose()


def redis_bytes(directory: Any, count: int) -> dict[str, Any]:
    with private_redis(directory / "redis") as redis_url, processes() as started:
        client = redis.Redis.from_url(redis_url)
        emulator = Emulator(
            directory, {STORE.kanal_store_id: STORE.requests_per_minute}, started, log_limit=10
        )
        bridge = Bridge(directory, redis_url, emulator.url, [STORE], started, settle=0)
        before = used_memory(client)
        asyncio.run(_fill(redis_url, count))
        pending_total = used_memory(client) - before
        pending = inventory(client)
        bridge.start_workers(1)
        wait_until(lambda: emulator.stats()["total"] >= count, 600, 0.5)
        wait_until(lambda: client.zcard("kb:pending") == 0, 60, 0.2)
        time.sleep(2)
        bridge.stop_workers()
        delivered_total = used_memory(client) - before
        delivered = inventory(client)
        client.close()
    return {
        "records": count,
        "pending": {"used_memory_per_record": round(pending_total / count), "keys": pending},
        "delivered": {"used_memory_per_record": round(delivered_total / count), "keys": delivered},
        "finished_push": kept_per_push(delivered, delivered_total, count),
    }


def kept_per_push(keys: dict[str, dict[str, float]], growth: int, count: int) -> dict[str, int]:
    """Bytes a finished push keeps beyond the delivered record: RQ's keys of its job (hash,
    result stream, registries), and used_memory growth less the record's own keys."""
    rq = sum(v["bytes"] for k, v in keys.items() if k in RQ_JOB_KINDS)
    own = sum(v["bytes"] for k, v in keys.items() if k in RECORD_KINDS)
    return {
        "rq_job_keys_bytes": round(rq / count),
        "beyond_record_bytes": round((growth - own) / count),
    }


def web_rss(directory: Any, seconds: float) -> dict[str, Any]:
    file = ingest.deliveries(out_dir("ingest"), ingest.DELIVERIES)
    lua = loadgen.script(directory)
    with private_redis(directory / "redis-web") as redis_url, processes() as started:
        bridge = Bridge(directory, redis_url, "http://127.0.0.1:9", [ingest.STORE], started)
        web = bridge.start_web()
        idle = rss_mib(web.pid)
        samples: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(rss_mib(web.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            result = loadgen.run(
                f"{bridge.url}/webhooks/shopify/{ingest.STORE.key}",
                file,
                64,
                seconds,
                lua,
                once=True,
            )
        finally:
            done.set()
            sampler.join()
        after = rss_mib(web.pid)
    return {
        "idle_mib": round(idle, 1),
        "peak_mib": round(max(samples), 1),
        "after_mib": round(after, 1),
        "requests": result.requests,
        "rps": result.rps,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.memory")
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args(argv)
    directory = out_dir("memory")
    data = {
        "redis": redis_bytes(directory, args.records),
        "web_rss": web_rss(directory, args.seconds),
    }
    redis_data = data["redis"]
    log(
        f"pending: {redis_data['pending']['used_memory_per_record']} B/record; delivered: "
        f"{redis_data['delivered']['used_memory_per_record']} B/record; kept per finished push "
        f"beyond the record: {redis_data['finished_push']}; web RSS {data['web_rss']}"
    )
    log(f"raw results: {save('memory', data)}")
    return data


if __name__ == "__main__":
    main()
