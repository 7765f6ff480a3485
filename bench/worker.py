"""Worker throughput: pushes per second, beside a plain httpx loop sending the same requests.

    .venv/bin/python -m bench.worker [--workers 1,2,4] [--latencies 0,100]

A private Redis is filled with pending order records (RecordStore.accept, the web's own
code), then 1, 2 or 4 worker processes (Procfile) push them to the emulator answering at
once or after --latency-ms; the limit is set far above what they can reach, so pacing never
waits. The rate is read from the emulator's request count between 10 % and 90 % of the
records (start-up and the tail left out). The baseline: one process POSTing the same bodies
to the same emulator in a plain `httpx.Client` loop.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis
import redis.asyncio

from bench import profile
from bench.common import (
    cpu_seconds,
    flush,
    log,
    out_dir,
    private_redis,
    processes,
    save,
    wait_until,
)
from bench.payloads import KANAL_KEY, MIX, encode, order
from bench.stack import Bridge, Emulator, StoreSpec
from bridge.delivery.records import Namespace, RecordStore
from mappers import StoreContext, Upsert, map_webhook
from mappers.kanal import encode as kanal_encode

UNLIMITED = 1_000_000_000
STORE = StoreSpec("push-shop", 300, UNLIMITED)


def actions(count: int, first_id: int) -> list[Upsert]:
    context = StoreContext(default_country="US")
    result = []
    for n in range(count):
        payload = orjson.loads(encode(order(first_id + n, n, MIX[n % len(MIX)], "paid")))
        [action] = map_webhook("shopify", "orders/create", payload, context)
        assert isinstance(action, Upsert)
        result.append(action)
    return result


async def _fill(redis_url: str, todo: list[Upsert]) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    store = RecordStore(
        client,
        {STORE.key: Namespace(STORE.kanal_store_id, "", STORE.requests_per_minute)},
        settle_seconds=0,
    )
    try:
        for action in todo:
            await store.accept(STORE.key, [action], None)
    finally:
        await client.aclose()


def rate(
    emulator: Emulator, client: redis.Redis, total: int, pids: list[int], timeout: float
) -> tuple[float, float, float]:
    """Calls per second, worker CPU seconds per call and Redis commands per call, between
    10 % and 90 % of `total` (polling the emulator, the workers' CPU time, Redis's counter)."""
    series: list[tuple[float, int, float, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = emulator.stats()["total"]
        commands = int(client.info("stats")["total_commands_processed"])
        series.append((time.monotonic(), count, sum(cpu_seconds(pid) for pid in pids), commands))
        if count >= total:
            break
        time.sleep(0.1)
    low = next(s for s in series if s[1] >= 0.1 * total)
    high = next(s for s in series if s[1] >= 0.9 * total)
    calls = high[1] - low[1]
    return calls / (high[0] - low[0]), (high[2] - low[2]) / calls, (high[3] - low[3]) / calls


def reached(emulator: Emulator, total: int) -> bool:
    return int(emulator.stats()["total"]) >= total


def httpx_loop(url: str, todo: list[Upsert]) -> float:
    """Plain httpx: the same POSTs, one after the other; calls per second."""
    headers = {"Authorization": f"Bearer {KANAL_KEY}", "Content-Type": "application/json"}
    bodies = [kanal_encode(action.body) for action in todo]
    with httpx.Client(base_url=f"{url}/api/v1/stores/{STORE.kanal_store_id}/") as client:
        client.post("orders", content=bodies[0], headers=headers).raise_for_status()
        started = time.perf_counter()
        for body in bodies:
            client.post("orders", content=body, headers=headers).raise_for_status()
        return len(bodies) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--latencies", default="0,100")
    parser.add_argument("--records", type=int, default=1200, help="per worker, at 0 ms")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    args = parser.parse_args(argv)
    directory = out_dir("worker")
    counts = [int(n) for n in args.workers.split(",")]
    runs: list[dict[str, Any]] = []
    profiled: Path | None = None
    baselines: dict[int, float] = {}
    with private_redis(directory / "redis") as redis_url, processes() as started:
        emulator = Emulator(directory, {STORE.kanal_store_id: UNLIMITED}, started, log_limit=100)
        bridge = Bridge(directory, redis_url, emulator.url, [STORE], started, settle=0)
        client = redis.Redis.from_url(redis_url)
        first_id = 8_000_000_000
        for latency in (int(ms) for ms in args.latencies.split(",")):
            per_worker = args.records if latency == 0 else 100
            sample = actions(min(per_worker * 2, 1000), first_id)
            emulator.reset()
            emulator.http.post("/_emulator/faults", json={"latency_ms": latency})
            baselines[latency] = httpx_loop(emulator.url, sample)
            log(f"latency {latency} ms: httpx loop {baselines[latency]:.1f} calls/s")
            for workers in counts:
                flush(redis_url)
                emulator.reset()
                emulator.http.post("/_emulator/faults", json={"latency_ms": latency})
                total = per_worker * workers
                first_id += 1_000_000
                asyncio.run(_fill(redis_url, actions(total, first_id)))
                pids = [p.pid for p in bridge.start_workers(workers)]
                spy = None
                if profiled is None and not args.no_profile and latency == 0 and workers == 1:
                    profiled = directory / "worker-profile.txt"
                    time.sleep(1.5)  # past the imports
                    spy = profile.record(pids[0], 5, profiled)
                measured, cpu_per_push, commands = rate(emulator, client, total, pids, 600)
                if spy is not None:
                    spy.wait()
                wait_until(partial(reached, emulator, total), 60)
                bridge.stop_workers()
                row = {
                    "latency_ms": latency,
                    "workers": workers,
                    "records": total,
                    "pushes_per_s": round(measured, 1),
                    "pushes_per_s_per_worker": round(measured / workers, 1),
                    "httpx_loop_per_s": round(baselines[latency], 1),
                    "worker_cpu_ms_per_push": round(1000 * cpu_per_push, 2),
                    "redis_commands_per_push": round(commands, 1),
                    "rate_limited": emulator.stats()["rate_limited"],
                }
                runs.append(row)
                log(
                    f"latency {latency} ms, {workers} worker(s): {measured:.1f} pushes/s "
                    f"({measured / workers:.1f} per worker), "
                    f"{row['worker_cpu_ms_per_push']} ms worker CPU per push"
                )
    data: dict[str, Any] = {"runs": runs, "httpx_loop": baselines}
    if profiled is not None:
        data["profile"] = profile.summary(profiled, 40)
    log(f"raw results: {save('worker', data)}")
    return data


if __name__ == "__main__":
    main()
