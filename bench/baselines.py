"""The three receivers the bridge's web process is measured against, in one Starlette app.

    POST /a  reads the body and answers: the framework's ceiling on this machine
    POST /b  verifies the HMAC, parses with orjson, one async Redis SET through redis-py's
             asyncio client with hiredis's parser: the least a receiver that acknowledges
             durably must do (the floor)
    POST /b0 the same with redis-py's pure-Python parser (the floor before hiredis was a
             dependency, kept for comparison with earlier results)
    POST /c  what a typical RQ webhook receiver does: verify, json.loads, Queue.enqueue,
             in a sync handler (run in Starlette's thread pool, as a `def` route is)

Served by the same uvicorn as `kanal-bridge web` (httptools, uvloop, one process):
`uvicorn bench.baselines:create_app --factory`. Reads REDIS_URL and BENCH_SHOPIFY_SECRET.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import redis
import redis.asyncio
from redis._parsers import _AsyncHiredisParser, _AsyncRESP2Parser
from rq import Queue
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ACCEPTED = b'{"status":"accepted"}'


def process_webhook(payload: dict[str, Any]) -> None:
    """The job a typical receiver enqueues (never run here)."""


def _verified(secret: bytes, body: bytes, headers: Headers) -> bool:
    expected = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, headers.get("x-shopify-hmac-sha256", "").encode())


def create_app() -> Starlette:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    secret = os.environ["BENCH_SHOPIFY_SECRET"].encode()
    clients: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        clients["async"] = redis.asyncio.Redis.from_url(url, parser_class=_AsyncHiredisParser)
        clients["async_python"] = redis.asyncio.Redis.from_url(url, parser_class=_AsyncRESP2Parser)
        clients["sync"] = redis.Redis.from_url(url)
        clients["queue"] = Queue("webhooks", connection=clients["sync"])
        try:
            yield
        finally:
            await clients["async"].aclose()
            await clients["async_python"].aclose()
            clients["sync"].close()

    async def body_only(request: Request) -> Response:
        await request.body()
        return Response(ACCEPTED, media_type="application/json")

    async def durable(request: Request, client: str) -> Response:
        body = await request.body()
        if not _verified(secret, body, request.headers):
            return Response(b'{"error":"invalid signature"}', 401)
        payload = orjson.loads(body)
        await clients[client].set(f"b:{payload['id']}:{payload['updated_at']}", body)
        return Response(ACCEPTED, media_type="application/json")

    async def durable_hiredis(request: Request) -> Response:
        return await durable(request, "async")

    async def durable_python(request: Request) -> Response:
        return await durable(request, "async_python")

    def enqueue(body: bytes, headers: Headers) -> Response:
        if not _verified(secret, body, headers):
            return Response(b'{"error":"invalid signature"}', 401)
        payload = json.loads(body)
        clients["queue"].enqueue(process_webhook, payload)
        return Response(ACCEPTED, media_type="application/json")

    async def rq_receiver(request: Request) -> Response:
        body = await request.body()
        return await run_in_threadpool(enqueue, body, request.headers)

    routes = [
        Route("/a", body_only, methods=["POST"]),
        Route("/b", durable_hiredis, methods=["POST"]),
        Route("/b0", durable_python, methods=["POST"]),
        Route("/c", rq_receiver, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
