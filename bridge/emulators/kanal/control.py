"""The test-helper API under /_emulator (no auth): inspect, reset, inject faults, set stores.

GET    /_emulator/requests  ?store_id=&since=   every API request received, in order
GET    /_emulator/records   ?store_id=&resource= what Kanal holds
GET    /_emulator/stats                         answers by status, 429s, per store
POST   /_emulator/reset                         forget everything but the stores
GET    /_emulator/faults                        pending faults, latency, paused stores
POST   /_emulator/faults                        add a fault and/or set latency / paused
                                                (a fault with "applied": true lets the request
                                                through and answers it delay_ms late)
DELETE /_emulator/faults                        drop pending faults
GET    /_emulator/stores                        the stores, keys and limits
POST   /_emulator/stores                        add or change a store
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bridge.emulators.kanal.encoding import dumps
from bridge.emulators.kanal.state import DEFAULT_RPM, EmulatorState, EmulatorStore, Fault


class ControlError(ValueError):
    """A control request the emulator cannot follow (answered 400)."""


def _json(content: Any, status: int = 200) -> Response:
    return Response(dumps(content), status, media_type="application/json")


def _int(value: Any, name: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ControlError(f"{name} must be an integer >= {minimum}")
    return value


def _opt_int(params: Any, name: str) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ControlError(f"{name} must be an integer") from exc


def _opt_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ControlError(f"{name} must be a string")
    return value


def parse_fault(body: dict[str, Any]) -> Fault:
    store_id = body.get("store_id")
    method = _opt_str(body, "method")
    retry_after = body.get("retry_after")
    applied = body.get("applied", False)
    if not isinstance(applied, bool):
        raise ControlError("applied must be true or false")
    return Fault(
        status=_int(body.get("status", 200) if applied else body["status"], "status", minimum=100),
        count=_int(body.get("count", 1), "count", minimum=1),
        store_id=None if store_id is None else _int(store_id, "store_id"),
        method=method.upper() if method else None,
        path_contains=_opt_str(body, "path_contains"),
        body=body.get("body"),
        retry_after=None if retry_after is None else _int(retry_after, "retry_after"),
        delay_ms=_int(body.get("delay_ms", 0), "delay_ms"),
        applied=applied,
    )


def parse_store(body: dict[str, Any], current: EmulatorStore | None) -> EmulatorStore:
    store = replace(current) if current else EmulatorStore(_int(body.get("id"), "id"))
    if "keys" in body:
        keys = body["keys"]
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            raise ControlError("keys must be a list of non-empty strings")
        store.keys = set(keys)
    rpm = body.get("requests_per_minute", store.requests_per_minute if current else DEFAULT_RPM)
    store.requests_per_minute = _int(rpm, "requests_per_minute")
    if "paused" in body:
        if not isinstance(body["paused"], bool):
            raise ControlError("paused must be true or false")
        store.paused = body["paused"]
    return store


async def _object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ControlError("body must be JSON") from exc
    if not isinstance(body, dict):
        raise ControlError("body must be a JSON object")
    return body


def control_routes(state: EmulatorState) -> list[BaseRoute]:
    def faults_json() -> dict[str, Any]:
        return {
            "faults": [fault.as_json() for fault in state.faults],
            "latency_ms": state.latency_ms,
            "paused": sorted(s.id for s in state.stores.values() if s.paused),
        }

    async def requests(request: Request) -> Response:
        try:
            store_id = _opt_int(request.query_params, "store_id")
            since = _opt_int(request.query_params, "since") or 0
        except ControlError as exc:
            return _json({"error": str(exc)}, 400)
        entries = [
            entry
            for entry in state.requests
            if entry["seq"] > since and (store_id is None or entry["store_id"] == store_id)
        ]
        return _json({"requests": entries, "last_seq": state.seq})

    async def records(request: Request) -> Response:
        try:
            store_id = _opt_int(request.query_params, "store_id")
        except ControlError as exc:
            return _json({"error": str(exc)}, 400)
        resource = request.query_params.get("resource") or None
        return _json({"stores": state.records_json(store_id, resource)})

    async def stats(request: Request) -> Response:
        return _json(state.stats())

    async def reset(request: Request) -> Response:
        state.reset()
        return _json({"status": "reset"})

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return _json(faults_json())
        if request.method == "DELETE":
            state.faults.clear()
            return _json(faults_json())
        try:
            body = await _object(request)
            new = [parse_fault(f) for f in body.get("faults", [])]
            if "status" in body or "applied" in body:
                new.append(parse_fault(body))
            if "latency_ms" in body:
                state.latency_ms = _int(body["latency_ms"], "latency_ms")
            if "paused" in body:
                paused = body["paused"]
                if not isinstance(paused, list):
                    raise ControlError("paused must be a list of store ids")
                state.set_paused(_int(sid, "paused[]") for sid in paused)
        except (ControlError, KeyError, TypeError) as exc:
            return _json({"error": str(exc)}, 400)
        state.faults.extend(new)
        return _json(faults_json())

    async def stores(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await _object(request)
                current = state.stores.get(_int(body.get("id"), "id"))
                store = parse_store(body, current)
            except ControlError as exc:
                return _json({"error": str(exc)}, 400)
            state.put_store(store)
            return _json(store.as_json(), 200 if current else 201)
        return _json({"stores": [s.as_json() for s in state.stores.values()]})

    return [
        Route("/_emulator/requests", requests, methods=["GET"]),
        Route("/_emulator/records", records, methods=["GET"]),
        Route("/_emulator/stats", stats, methods=["GET"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/stores", stores, methods=["GET", "POST"]),
    ]
