"""Real pushes for tests: records accepted as the web does, pushed by an RQ worker through
`bridge.delivery.push`, Kanal answering from a script (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import httpx
import redis
import redis.asyncio
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker

from bridge import defaults
from bridge.config import BridgeConfig, parse_config
from bridge.delivery import jobs
from bridge.delivery import push as delivery
from bridge.delivery.kanal import KanalClient
from bridge.delivery.limiter import Limiter
from bridge.delivery.records import RecordStore, WorkerRecords, namespaces
from bridge.worker import Worker
from mappers import Action, Upsert

KANAL_KEY = "k0k1k2k3k4k5k6k7k8k9kakb"
CONFIG = f"""
[kanal]
api_url = "http://kanal.test"
requests_per_minute = 60000
[stores.shop]
platform = "shopify"
kanal_store_id = 7
kanal_api_key = "{KANAL_KEY}"
webhook_secrets = ["a-webhook-secret"]
"""
INVALID = {"message": "The given data was invalid.", "errors": {"customer.phone": ["invalid"]}}


class ScriptedKanal:
    """Answers each request with the next scripted response (200 when none is left); a
    scripted exception (httpx.ReadTimeout...) is raised instead, as the network would."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []  # unix time each request arrived
        self.answers: list[httpx.Response | Exception] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.times.append(time.time())
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else httpx.Response(200, json={})
        if isinstance(answer, Exception):
            raise answer
        return answer

    def calls(self) -> list[tuple[str, str, Any]]:
        """(method, path, parsed body) of every request, money as Decimal."""
        return [
            (
                r.method,
                r.url.path,
                json.loads(r.content, parse_float=Decimal) if r.content else None,
            )
            for r in self.requests
        ]


def config() -> BridgeConfig:
    return parse_config(CONFIG, {})


def install(client: redis.Redis) -> ScriptedKanal:
    """Make `bridge.delivery.push` push through a scripted Kanal in this process."""
    kanal = ScriptedKanal()
    delivery.install(
        delivery.Runtime(
            config=config(),
            kanal=KanalClient("http://kanal.test", transport=httpx.MockTransport(kanal)),
            records=WorkerRecords(client),
            limiter=Limiter(client),
        )
    )
    return kanal


def order(
    version: int = 1,
    status: str = "paid",
    total: str = "10.00",
    *,
    external_id: str = "1001",
    phone: str = "+33612345678",
) -> Upsert:
    """An order upsert as a mapper would return it."""
    body = {
        "external_id": external_id,
        "placed_at": "2026-01-01T00:00:00Z",
        "total_price": Decimal(total),
        "currency": "EUR",
        "financial_status": status,
        "customer": {"phone": phone},
        "tags": ["vip"],
    }
    return Upsert("orders", external_id, version, body)


def accept(
    redis_url: str,
    actions: Sequence[Action],
    delivery_id: str | None = None,
    settle: float = defaults.SETTLE_SECONDS,
) -> str:
    """Store actions as the web process does; the answer's outcome."""

    async def run() -> str:
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            return await RecordStore(client, namespaces(config()), settle).accept(
                "shop", actions, delivery_id
            )
        finally:
            await client.aclose()

    return asyncio.run(run())


def drain(client: redis.Redis, rounds: int = 20, worker: type[SimpleWorker] = Worker) -> None:
    """Run every job, scheduled ones whatever their time, until none is left, with the
    bridge's worker (its lean path for push jobs) unless told otherwise."""
    queue = jobs.queue(client)
    for _ in range(rounds):
        due = [job_id.decode() for job_id in client.zrange(jobs.SCHEDULED_KEY, 0, -1)]
        if not due and not queue.count:
            return
        for job_id in due:
            client.zrem(jobs.SCHEDULED_KEY, job_id)
            queue.enqueue_job(queue.fetch_job(job_id))
        worker([queue], connection=client, serializer=JSONSerializer).work(
            burst=True, logging_level="WARNING"
        )


def failed_push(redis_url: str, client: redis.Redis, external_id: str = "1001") -> str:
    """Push one order that Kanal refuses with 422; the id of its job in the failed registry."""
    registry = FailedJobRegistry(queue=jobs.queue(client))
    before = set(registry.get_job_ids())
    kanal = install(client)
    kanal.answers.append(httpx.Response(422, json=INVALID))
    accept(redis_url, [order(external_id=external_id)])
    drain(client)
    [job_id] = set(registry.get_job_ids()) - before
    return str(job_id)
