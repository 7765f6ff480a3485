"""The web process: the Starlette application and its uvicorn factory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
import redis.asyncio
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bridge import defaults, metrics
from bridge.config import BridgeConfig, Settings, load_config
from bridge.connection import async_redis
from bridge.delivery.records import RecordStore, namespaces
from bridge.errors import ConfigError
from bridge.intake.middleware import Intake
from bridge.intake.webhooks import Webhooks
from bridge.ops import alerts, capacity, dashboard
from bridge.ops.exposition import MetricsAuth, MetricsEndpoint
from bridge.ops.statuspage import StatusPage

logger = logging.getLogger("bridge.app")

# /readyz fails when Redis takes longer than this to answer PING.
READY_TIMEOUT = 1.0


class Probes:
    """/healthz (the process runs) and /readyz (config loaded and Redis answers)."""

    def __init__(self, config_error: str | None) -> None:
        self.config_error = config_error
        self.redis: redis.asyncio.Redis | None = None

    async def healthz(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> JSONResponse:
        if self.config_error is not None:
            return _not_ready(f"configuration: {self.config_error}")
        if self.redis is None:
            return _not_ready("redis: not connected")
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await self.redis.ping()
        except (redis.RedisError, OSError, TimeoutError) as exc:
            return _not_ready(f"redis: no answer to PING ({exc.__class__.__name__})")
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                found = capacity.warnings(await capacity.aread(self.redis))
        except (redis.RedisError, OSError, TimeoutError):
            found = []  # INFO refused or slow: readiness is the PING above
        if found:
            # Still ready (200): these say what will fail soon, not what fails now.
            return JSONResponse({"status": "ready", "warnings": found})
        return JSONResponse({"status": "ready"})


def _not_ready(reason: str) -> JSONResponse:
    return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)


def operator_routes(settings: Settings, config: BridgeConfig | None) -> list[BaseRoute]:
    """/metrics (Prometheus), and /rq (rq-dashboard) and /status (+ /status.json) behind basic
    auth when a dashboard password is set."""
    return [
        *MetricsEndpoint(config, MetricsAuth.from_settings(settings)).routes(),
        *dashboard.routes(settings),
        *StatusPage(settings, config).routes(),
    ]


def create_app(
    settings: Settings,
    config: BridgeConfig | None,
    redis: redis.asyncio.Redis | None = None,
    *,
    config_error: str | None = None,
) -> Starlette:
    """The web application. `redis` is the caller's to close; without it the lifespan
    connects to `settings.redis_url` and closes the client on shutdown.

    `config` None means the configuration failed to load (`config_error` says why, without
    secrets): /readyz and the webhooks answer 503 until the process is restarted.
    """
    if config is None and config_error is None:
        config_error = "not loaded"
    webhooks = Webhooks(config)
    probes = Probes(config_error)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = (
            redis
            if redis is not None
            else async_redis(settings.redis_url, settings.redis_pool_size)
        )
        probes.redis = client
        settle = config.delivery.settle_seconds if config else defaults.SETTLE_SECONDS
        remember = (
            config.delivery.remember_versions_days if config else defaults.REMEMBER_VERSIONS_DAYS
        )
        webhooks.records = RecordStore(
            client, namespaces(config) if config else {}, settle, remember
        )
        app.state.redis = client
        flusher = asyncio.create_task(metrics.flush_forever(client))
        alert_thread = alerts.start(settings.redis_url, config) if redis is None else None
        try:
            yield
        finally:
            if alert_thread is not None:
                await asyncio.to_thread(alert_thread.stop)
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            with contextlib.suppress(RedisError, OSError):
                await metrics.aflush(client)
            app.state.redis = None
            webhooks.records = None
            probes.redis = None
            if redis is None:
                await client.aclose()

    routes: list[BaseRoute] = [
        *webhooks.routes(),
        Route("/healthz", probes.healthz, methods=["GET"]),
        Route("/readyz", probes.readyz, methods=["GET"]),
        *operator_routes(settings, config),
    ]
    middleware = [Middleware(Intake, max_bytes=defaults.MAX_BODY_BYTES)]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def create_app_from_env() -> Starlette:
    """uvicorn factory: `uvicorn bridge.app:create_app_from_env --factory`.

    A configuration error does not stop the process: it keeps serving /healthz, answers
    /readyz and every webhook with 503 (naming the bad key), and logs the error. Shopify and
    WooCommerce retry 503s, so no delivery is lost while the config is fixed; refusing bad
    config before deploying is the Procfile's `release: kanal-bridge check-config`. A bad
    environment *setting* (e.g. PORT) still raises: uvicorn could not be started right anyway.
    """
    settings = Settings.from_env()
    metrics.announce("web", settings.redis_pool_size + defaults.WEB_EXTRA_CONNECTIONS)
    try:
        config: BridgeConfig | None = load_config(settings)
        error = None
    except ConfigError as exc:
        logger.error("configuration refused: %s", exc)
        config, error = None, str(exc)
    for warning in config.warnings() if config else []:
        logger.warning("configuration: %s", warning)
    app = create_app(settings, config, config_error=error)
    settle_heap()
    return app


def settle_heap() -> None:
    """Once the code is loaded: keep it out of the garbage collector's walks (gc.freeze), and
    collect young objects less often (defaults.GC_YOUNG_THRESHOLD says why)."""
    gc.freeze()
    gc.set_threshold(defaults.GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
