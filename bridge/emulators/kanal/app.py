"""The emulator's ASGI app: Kanal's 7 endpoints, answered as strictly as Kanal answers them.

Every API request goes through the same steps, in Kanal's order: key present (401), key
known (401), store known and not paused (404), key valid for the store (403), rate limit
(429, not counted), injected fault, then the path's external id (422), JSON body (400),
validation (422) and the write. Each one is logged (see `/_emulator/requests`), and every
answer about a known store carries `X-RateLimit-Limit` and `X-RateLimit-Remaining`.

Unknown keys in a POST body are refused (422) by default: that is the mode the test suite
runs. `unknown_keys="warn"` (demo mode) accepts the body as Kanal most likely would, drops
what Kanal has no field for, and logs a warning naming the keys (never their values).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bridge.emulators.kanal import validation
from bridge.emulators.kanal.control import control_routes
from bridge.emulators.kanal.encoding import dumps
from bridge.emulators.kanal.ratelimit import Decision
from bridge.emulators.kanal.state import EmulatorState, EmulatorStore, Fault, Record

logger = logging.getLogger("bridge.emulators.kanal")

UnknownKeys = Literal["reject", "warn"]
UNKNOWN_KEY_MODES: tuple[UnknownKeys, ...] = ("reject", "warn")

PREFIX = "/api/v1/stores/{store_id:int}"
NOT_FOUND = {"orders": "Order not found", "checkouts": "Checkout not found"}
FAULT_BODIES = {
    429: {"message": "Too Many Attempts."},
    500: {"message": "Server Error"},
    502: {"message": "Bad Gateway"},
    503: {"message": "Service Unavailable"},
    422: {"message": "The given data was invalid.", "errors": {}},
}

ENDPOINTS = (
    ("POST", "orders", "orders", "upsert"),
    ("PATCH", "orders/{external_id}", "orders", "patch"),
    ("POST", "checkouts", "checkouts", "upsert"),
    ("PATCH", "checkouts/{external_id}", "checkouts", "patch"),
    ("POST", "customers", "customers", "upsert"),
    ("DELETE", "customers/{external_id}", "customers", "delete"),
    ("POST", "shipments", "shipments", "upsert"),
)

Handler = Callable[[Request], Awaitable[Response]]


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_body(raw: bytes) -> Any:
    """JSON as Kanal reads it, with exact decimals; NaN and Infinity are not JSON."""
    return json.loads(raw, parse_float=Decimal, parse_constant=_no_constants)


def _json(status: int, content: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(content), status, headers, media_type="application/json")


def _rate_headers(decision: Decision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
    }


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _is_json(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class Emulator:
    """The API endpoints over one `EmulatorState`."""

    def __init__(self, state: EmulatorState, *, unknown_keys: UnknownKeys = "reject") -> None:
        if unknown_keys not in UNKNOWN_KEY_MODES:
            raise ValueError(f"unknown_keys must be one of {', '.join(UNKNOWN_KEY_MODES)}")
        self.state = state
        self.unknown_keys = unknown_keys

    def routes(self) -> list[BaseRoute]:
        handler = self.handler
        return [
            Route(f"{PREFIX}/orders", handler("orders", "upsert"), methods=["POST"]),
            Route(
                f"{PREFIX}/orders/{{external_id}}", handler("orders", "patch"), methods=["PATCH"]
            ),
            Route(f"{PREFIX}/checkouts", handler("checkouts", "upsert"), methods=["POST"]),
            Route(
                f"{PREFIX}/checkouts/{{external_id}}",
                handler("checkouts", "patch"),
                methods=["PATCH"],
            ),
            Route(f"{PREFIX}/customers", handler("customers", "upsert"), methods=["POST"]),
            Route(
                f"{PREFIX}/customers/{{external_id}}",
                handler("customers", "delete"),
                methods=["DELETE"],
            ),
            Route(f"{PREFIX}/shipments", handler("shipments", "upsert"), methods=["POST"]),
        ]

    def handler(self, resource: str, action: str) -> Handler:
        async def endpoint(request: Request) -> Response:
            return await self.handle(request, resource, action)

        return endpoint

    async def handle(self, request: Request, resource: str, action: str) -> Response:
        state = self.state
        store_id: int = request.path_params["store_id"]
        raw = await request.body()
        key = _bearer(request)
        try:
            body: Any = parse_body(raw) if raw else None
            parse_error = None if raw else "The request body is empty."
        except ValueError:
            body, parse_error = None, "Malformed JSON body."

        # A fault that lets the write through and only answers late (taken first: it also
        # applies to requests refused before the write).
        late = state.take_fault(request.method, request.url.path, store_id, applied=True)
        status, content, headers, delay = self._answer(
            request, resource, action, store_id, key, body, parse_error
        )
        state.log(request.method, request.url.path, store_id, status, body, key)
        delay += state.latency_ms + (late.delay_ms if late else 0)
        if delay:
            await asyncio.sleep(delay / 1000)
        if status == 204:
            return Response(None, 204, headers)
        return _json(status, content, headers)

    def _answer(
        self,
        request: Request,
        resource: str,
        action: str,
        store_id: int,
        key: str | None,
        body: Any,
        parse_error: str | None,
    ) -> tuple[int, Any, dict[str, str], int]:
        state = self.state
        if key is None:
            return 401, {"error": "API key is missing"}, self._peek(store_id), 0
        allowed = state.key_stores.get(key)
        if allowed is None:
            return 401, {"error": "Invalid API key"}, self._peek(store_id), 0
        store = state.stores.get(store_id)
        if store is None or store.paused:
            return 404, {"error": "Store not found or paused"}, self._peek(store_id), 0
        if store_id not in allowed:
            return 403, {"error": "API key does not authorize this store"}, self._peek(store_id), 0

        decision = state.limiters[store_id].hit()
        headers = _rate_headers(decision)
        if not decision.admitted:
            state.throttled[store_id] += 1
            headers["Retry-After"] = str(decision.retry_after)
            reset = time.time() + (decision.reset_at - state.clock())
            headers["X-RateLimit-Reset"] = str(int(reset + 0.999))
            return 429, {"message": "Too Many Attempts."}, headers, 0

        fault = state.take_fault(request.method, request.url.path, store_id)
        if fault is not None:
            return self._fault(fault, headers)

        if action in ("patch", "delete"):
            errors = validation.validate_path_id(request.path_params["external_id"])
            if errors:
                return 422, {"message": validation.summary(errors), "errors": errors}, headers, 0
        if action == "delete":
            self._delete(store_id, request.path_params["external_id"])
            return 204, None, headers, 0
        if parse_error is None and not isinstance(body, dict):
            parse_error = "The request body must be a JSON object."
        if parse_error is not None:
            return 400, {"error": parse_error}, headers, 0
        if not _is_json(request):
            body = {}  # Laravel reads no JSON input without a JSON content type
        if action == "patch":
            errors = validation.validate_patch(resource, body)
        else:
            warn = self.unknown_keys == "warn"
            errors = validation.validate(resource, body, allow_unknown=warn)
            if warn and not errors and (unknown := validation.unknown_keys(resource, body)):
                logger.warning(
                    "%s %s: unknown fields %s (Kanal would drop them; refused with 422 "
                    "outside demo mode)",
                    request.method,
                    request.url.path,
                    ", ".join(unknown),
                )
        if errors:
            return 422, {"message": validation.summary(errors), "errors": errors}, headers, 0
        if action == "patch":
            record = self._patch(store_id, resource, request.path_params["external_id"], body)
            if record is None:
                return 404, {"error": NOT_FOUND[resource]}, headers, 0
            return 200, record.body, headers, 0
        created, record = self._upsert(store_id, resource, body)
        return (201 if created else 200), record.body, headers, 0

    def _peek(self, store_id: int) -> dict[str, str]:
        limiter = self.state.limiters.get(store_id)
        return _rate_headers(limiter.peek()) if limiter is not None else {}

    @staticmethod
    def _fault(fault: Fault, headers: dict[str, str]) -> tuple[int, Any, dict[str, str], int]:
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        body = fault.body if fault.body is not None else FAULT_BODIES.get(fault.status, {})
        return fault.status, body, headers, fault.delay_ms

    def _upsert(self, store_id: int, resource: str, body: Mapping[str, Any]) -> tuple[bool, Record]:
        cleaned = validation.clean(resource, body)
        key = cleaned.get("external_id") or cleaned["phone"]
        held = self.state.records[store_id][resource]
        record = held.get(key)
        if record is None:
            record = held[key] = Record(cleaned)
            return True, record
        created = record.deleted
        record.body = cleaned
        record.deleted = False
        record.version += 1
        record.updated_at = time.time()
        return created, record

    def _patch(
        self, store_id: int, resource: str, external_id: str, body: Mapping[str, Any]
    ) -> Record | None:
        record = self.state.records[store_id][resource].get(external_id)
        if record is None or record.deleted:
            return None
        record.body = {**record.body, **validation.clean_patch(resource, body)}
        record.version += 1
        record.updated_at = time.time()
        return record

    def _delete(self, store_id: int, external_id: str) -> None:
        record = self.state.records[store_id]["customers"].get(external_id)
        if record is not None and not record.deleted:
            record.deleted = True
            record.version += 1
            record.updated_at = time.time()


def create_app(
    stores: Mapping[int, EmulatorStore],
    *,
    latency_ms: int = 0,
    unknown_keys: UnknownKeys = "reject",
    clock: Callable[[], float] = time.monotonic,
    log_limit: int | None = None,
) -> Starlette:
    """The emulator app over these stores. Its state is `app.state.emulator`."""
    state = EmulatorState(stores.values(), clock=clock, log_limit=log_limit)
    state.latency_ms = latency_ms
    emulator = Emulator(state, unknown_keys=unknown_keys)

    async def unrouted(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        state.log(request.method, request.url.path, None, status, None, _bearer(request))
        message = "Method Not Allowed" if status == 405 else "Not Found"
        return _json(status, {"message": message})

    app = Starlette(
        routes=[*emulator.routes(), *control_routes(state)],
        exception_handlers={404: unrouted, 405: unrouted},
    )
    app.state.emulator = state
    return app
