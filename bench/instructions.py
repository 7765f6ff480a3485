"""Instructions the web process executes per webhook, counted by callgrind (valgrind).

    .venv/bin/python -m bench.instructions [--steps request,map,...] [--count 200]
                                           [--connections 1]

An instruction count does not depend on the machine's speed or on what else runs on it, so a
change can be measured before/after on a busy machine. Each step runs in a fresh process
under callgrind twice, over the first 10 deliveries of the ingest mix and over the first
`count` + 10; the difference divided by `count` is the step's instructions per webhook (user
space only: the kernel's share of socket writes is not counted, nor Redis, which runs in its
own process).

    request     one whole delivery through the web process's code: the bridge's httptools
                protocol (uvicorn), the app from `create_app_from_env` (its middleware, the
                endpoint, the mapper, ACCEPT through the web's Redis client), the log line as
                JSON to /dev/null; a private Redis; connections kept busy as wrk keeps them
                (one by default; a fake transport stands in for each socket)
    floor       the same for the floor (b) of bench.ingest (bench/baselines.py: HMAC, orjson,
                one SET), served the same way
    verify, loads, map, split_body, job_fields, log, accept
                the steps of bench.breakdown, each alone

Needs valgrind (apt-get install valgrind); a step takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import SOURCE, log, out_dir, private_redis, save
from bench.payloads import KANAL_KEY, MIX, SECRET, Webhook, order, webhook

WARMUP = 10
# Requests in flight in the request and floor steps (--connections). One gives the same count
# run after run; at 16 (ingest's target level) the order in which requests interleave, and so
# the count, moves by up to 10 % between runs of the same code.
CONNECTIONS = 1
STEPS = ("request", "floor", "verify", "loads", "map", "split_body", "job_fields", "log", "accept")
STORE = "bench-shop"


def hooks(count: int) -> list[Webhook]:
    """The ingest mix: distinct orders, ids and versions (no delivery is a duplicate)."""
    return [
        webhook("orders/create", order(5_000_000_000 + n, n, MIX[n % len(MIX)], "paid"), f"i-{n}")
        for n in range(count)
    ]


def raw_request(hook: Webhook, path: str = f"/webhooks/shopify/{STORE}") -> bytes:
    """The HTTP/1.1 request wrk sends for `hook` (bench.loadgen)."""
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"]
    head += [f"{name}: {value}" for name, value in hook.headers().items()]
    head.append(f"Content-Length: {len(hook.body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + hook.body


class _Transport(asyncio.Transport):
    """A socket's stand-in: keeps the statuses the protocol writes, and calls `answered` when
    a response is whole (the bridge always answers with a content-length: head, then body)."""

    def __init__(self, answered: Callable[[_Transport], None]) -> None:
        super().__init__()
        self.answered = answered
        self.statuses: list[bytes] = []

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 40000)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        chunk = bytes(data)
        if chunk.startswith(b"HTTP/1.1 "):
            self.statuses.append(chunk[9:12])
        else:
            asyncio.get_running_loop().call_soon(self.answered, self)

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


def _request_step(
    redis_url: str, items: list[Webhook], count: int, connections: int = CONNECTIONS
) -> Callable[[], None]:
    """Deliveries through uvicorn's protocol and the app, as the web process serves them."""
    import uvloop
    from uvicorn.config import Config
    from uvicorn.lifespan.on import LifespanOn
    from uvicorn.server import ServerState

    from bridge import logs
    from bridge.intake.bounded_http import BoundedHttpToolsProtocol

    config_path = out_dir("instructions") / "bridge.toml"
    from bench.stack import StoreSpec, config_toml

    config_path.write_text(config_toml([StoreSpec(STORE, 1, 60)], "http://127.0.0.1:9", 1.0))
    os.environ.update(
        REDIS_URL=redis_url,
        BRIDGE_CONFIG=str(config_path),
        BENCH_KANAL_KEY=KANAL_KEY,
        BENCH_SHOPIFY_SECRET=SECRET,
        LOG_LEVEL="INFO",
        LOG_FORMAT="json",
    )
    floor = os.environ["BENCH_STEP"] == "floor"
    path = "/b" if floor else f"/webhooks/shopify/{STORE}"
    requests = [raw_request(hook, path) for hook in items]
    log_config = logs.dict_config("INFO", "json", [SECRET, KANAL_KEY])

    async def serve() -> None:
        config = Config(
            "bench.baselines:create_app" if floor else "bridge.app:create_app_from_env",
            factory=True,
            proxy_headers=True,
            http=BoundedHttpToolsProtocol,
            loop="none",
            log_config=log_config,
            access_log=False,
        )
        config.load()
        lifespan = LifespanOn(config)
        await lifespan.startup()
        todo = iter(requests[:count])
        done = asyncio.Event()
        pending = count
        protocols: dict[_Transport, BoundedHttpToolsProtocol] = {}

        def answered(transport: _Transport) -> None:
            nonlocal pending
            pending -= 1
            if pending == 0:
                done.set()
            send(transport)

        def send(transport: _Transport) -> None:
            request = next(todo, None)
            if request is not None:
                protocols[transport].data_received(request)

        state = ServerState()
        for _ in range(connections):  # as wrk keeps them: each sends again once answered
            transport = _Transport(answered)
            protocols[transport] = BoundedHttpToolsProtocol(config, state, lifespan.state)
            protocols[transport].connection_made(transport)
        for transport in list(protocols):
            send(transport)
        await done.wait()
        await lifespan.shutdown()
        wrong = [s for t in protocols for s in t.statuses if s != b"200"]
        if wrong:
            raise RuntimeError(f"answers other than 200: {wrong[:3]}")

    return lambda: uvloop.run(serve())


def _steps(redis_url: str, items: list[Webhook], count: int) -> Callable[[], None]:
    import orjson
    from starlette.datastructures import Headers

    from bridge import logs
    from bridge.connection import async_redis
    from bridge.delivery import jobs
    from bridge.delivery.records import Namespace, RecordStore, record_key, split_body
    from bridge.intake.signatures import ShopifyVerifier
    from mappers import StoreContext, Upsert, map_webhook

    context = StoreContext(default_country="US")
    verifier = ShopifyVerifier([SECRET.encode()])
    headers = [Headers(hook.headers()) for hook in items]
    payloads = [orjson.loads(hook.body) for hook in items]
    actions = [map_webhook("shopify", "orders/create", p, context) for p in payloads]
    upserts = [a[0] for a in actions if isinstance(a[0], Upsert)]
    # Built for every delivery (the same work in both runs); the step runs over `count`.
    items, headers = items[:count], headers[:count]
    payloads, upserts = payloads[:count], upserts[:count]

    def accept() -> None:
        async def run() -> None:
            client = async_redis(redis_url)
            store = RecordStore(client, {STORE: Namespace(1)})
            for n, upsert in enumerate(upserts):
                await store.accept(STORE, [upsert], f"accept-{n}")
            await client.aclose()

        asyncio.run(run())

    def log_lines() -> None:
        # The webhook's own line (bridge.intake.webhooks._log), JSON and masked.
        logs.configure("INFO", "json", [SECRET, KANAL_KEY])
        logger = logging.getLogger("bridge.intake.webhooks")
        for n, payload in enumerate(payloads):
            extra = {
                "store": STORE,
                "platform": "shopify",
                "topic": "orders/create",
                "delivery_id": f"i-{n}",
                "external_id": str(payload["id"]),
                "answer": "accepted",
                "reason": None,
                "status_code": 200,
                "duration_ms": 1.23,
                "request_id": os.urandom(16).hex(),
            }
            msg = "webhook %s/%s -> %d %s"
            logger.info(msg, "shopify", STORE, 200, "accepted", extra=extra)

    return {
        "verify": lambda: [
            verifier.verify(h.body, hs) for h, hs in zip(items, headers, strict=True)
        ],
        "loads": lambda: [orjson.loads(hook.body) for hook in items],
        "map": lambda: [map_webhook("shopify", "orders/create", p, context) for p in payloads],
        "split_body": lambda: [split_body(u.resource, u.body) for u in upserts],
        "job_fields": lambda: [
            jobs.push_job_fields(jobs.new_job_id(), record_key(1, "orders", str(n)))
            for n in range(len(items))
        ],
        "log": log_lines,
        "accept": accept,
    }[os.environ["BENCH_STEP"]]


def run_step(step: str, count: int, total: int, connections: int = CONNECTIONS) -> None:
    """In the process callgrind runs: build `total` deliveries (so that building them costs
    the same in both runs), then run `step` over the first `count`."""
    import redis

    redis_url = os.environ["BENCH_REDIS_URL"]
    redis.Redis.from_url(redis_url).flushall()
    items = hooks(total)
    os.environ["BENCH_STEP"] = step
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the log lines' destination
    if step in ("request", "floor"):
        work = _request_step(redis_url, items, count, connections)
    else:
        work = _steps(redis_url, items, count)
    work()
    logging.shutdown()


_TOTALS = re.compile(rb"^(?:totals|summary): (\d+)", re.MULTILINE)


def _instructions(
    step: str, count: int, total: int, connections: int, redis_url: str, directory: Path
) -> int:
    output = directory / f"callgrind.{step}.{count}.out"
    argv = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={output}",
        sys.executable,
        "-m",
        "bench.instructions",
        "--run",
        step,
        "--count",
        str(count),
        "--total",
        str(total),
        "--connections",
        str(connections),
    ]
    env = {**os.environ, "BENCH_REDIS_URL": redis_url}
    # From the measured code's directory: `python -m` puts its working directory first on the
    # import path (bench/source.py).
    subprocess.run(argv, env=env, cwd=SOURCE, check=True, capture_output=True)
    found = _TOTALS.search(output.read_bytes())
    if found is None:
        raise RuntimeError(f"no instruction total in {output}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions")
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--total", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:
        run_step(args.run, args.count, args.total, args.connections)
        return {}
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    steps = args.steps.split(",")
    total = WARMUP + args.count
    directory = out_dir("instructions") / str(os.getpid())  # several runs may go at once
    directory.mkdir()
    per_webhook: dict[str, int] = {}
    with private_redis(directory / "redis") as redis_url:
        for step in steps:
            few = _instructions(step, WARMUP, total, args.connections, redis_url, directory)
            many = _instructions(step, total, total, args.connections, redis_url, directory)
            per_webhook[step] = round((many - few) / args.count)
            log(f"{step:12} {per_webhook[step]:>12,} instructions per webhook")
    data = {
        "count": args.count,
        "connections": args.connections,
        "instructions_per_webhook": per_webhook,
    }
    log(f"raw results: {save('instructions', data)}")
    return data


if __name__ == "__main__":
    main()
