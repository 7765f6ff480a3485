"""The test-helper API under /_emulator (no auth): the shop's data, webhooks, faults, logs.

Changing the shop fires the webhooks its real hooks would (asynchronously, like the shop):

POST   /_emulator/orders            create one, or {"orders": [...]}   order.created
PUT    /_emulator/orders/{id}       change fields (status, billing…)   order.updated
POST   /_emulator/orders/{id}/trash     move to the trash              order.deleted
POST   /_emulator/orders/{id}/restore   back from the trash            order.restored
DELETE /_emulator/orders/{id}       delete for good                    (nothing)
POST   /_emulator/customers         create one, or {"customers": [...]}  customer.created
PUT    /_emulator/customers/{id}    change fields                      customer.updated
DELETE /_emulator/customers/{id}    delete                             customer.deleted

Bodies name fields as the REST API does; dates in GMT (`date_modified_gmt`…), else now.
`?webhooks=false` on any of them changes the shop without firing anything (seeding history).

GET    /_emulator/webhooks                    every webhook with failure_count, secret…
PUT    /_emulator/webhooks/{id}               set status / failure_count directly (no ping)
GET    /_emulator/deliveries ?since=&webhook_id=&kind=   deliveries and pings, with answers
GET    /_emulator/queue                       pending actions; paused or not
POST   /_emulator/queue/run                   deliver every pending action now
GET|POST|DELETE /_emulator/faults             fail / drop deliveries, fail REST requests
GET|POST /_emulator/settings                  delivery_delay, delivery_timeout, ping_timeout,
                                              max_failures, latency_ms, paused
GET|POST /_emulator/keys                      REST keys (secrets are not shown)
GET    /_emulator/requests ?since=            REST requests received (no credentials)
GET    /_emulator/stats                       requests by status, most in flight, deliveries
POST   /_emulator/reset                       forget data, webhooks, logs, faults
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, fields
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bridge.emulators.woocommerce import shop
from bridge.emulators.woocommerce.delivery import Deliverer
from bridge.emulators.woocommerce.shop import ShopError
from bridge.emulators.woocommerce.state import FAULT_KINDS, PERMISSIONS, ApiKey, Fault, ShopState
from bridge.emulators.woocommerce.webhooks import STATUSES

Endpoint = Callable[[Request], Awaitable[Response]]


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status, media_type="application/json")


async def _object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ShopError("body must be JSON") from exc
    if not isinstance(body, dict):
        raise ShopError("body must be a JSON object")
    return body


def _int(value: Any, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ShopError(f"{name} must be an integer >= {minimum}")
    return value


def _query_int(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        raise ShopError(f"{name} must be an integer") from None


def _guarded(endpoint: Endpoint) -> Endpoint:
    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ShopError as exc:
            return _json({"error": str(exc)}, 400)
        except LookupError as exc:
            return _json({"error": str(exc.args[0])}, 404)

    return guarded


def parse_fault(body: dict[str, Any]) -> Fault:
    kind = body.get("kind")
    if kind not in FAULT_KINDS:
        raise ShopError(f"kind must be one of {', '.join(FAULT_KINDS)}")
    known = {f.name for f in fields(Fault)}
    unknown = sorted(set(body) - known)
    if unknown:
        raise ShopError(f"unknown fault field(s): {', '.join(unknown)}")
    fault = Fault(**body)
    _int(fault.count, "count", 1)
    _int(fault.status, "status", 100)
    if fault.method:
        fault.method = fault.method.upper()
    return fault


def parse_key(body: dict[str, Any]) -> ApiKey:
    key, secret = body.get("consumer_key"), body.get("consumer_secret")
    if not isinstance(key, str) or not key or not isinstance(secret, str) or not secret:
        raise ShopError("consumer_key and consumer_secret must be non-empty strings")
    permissions = body.get("permissions", "read_write")
    if permissions not in PERMISSIONS:
        raise ShopError(f"permissions must be one of {', '.join(PERMISSIONS)}")
    manager = body.get("manager", True)
    if not isinstance(manager, bool):
        raise ShopError("manager must be true or false")
    return ApiKey(key, secret, permissions, _int(body.get("user_id", 1), "user_id", 1), manager)


def control_routes(state: ShopState, deliverer: Deliverer) -> list[BaseRoute]:
    def rest(record: shop.Record) -> dict[str, Any]:
        return record.rest(state.clock, state.site_url)

    def fire(request: Request) -> bool:
        return request.query_params.get("webhooks", "true").lower() not in ("false", "0", "no")

    def order(request: Request) -> shop.Record:
        ident = int(request.path_params["id"])
        if ident not in state.orders:
            raise LookupError(f"no order {ident}")
        return state.orders[ident]

    def customer(request: Request) -> shop.Record:
        ident = int(request.path_params["id"])
        if ident not in state.customers:
            raise LookupError(f"no customer {ident}")
        return state.customers[ident]

    def create(kind: str, body: dict[str, Any]) -> shop.Record:
        body = dict(body)
        wanted = body.pop("id", None)
        held = state.orders if kind == "order" else state.customers
        if wanted is not None and (_int(wanted, "id", 1) in held):
            raise ShopError(f"{kind} {wanted} exists")
        if kind == "order":
            if body.get("status") == "trash":
                raise ShopError("status: create the order, then POST …/trash")
            return shop.new_order(state.next_id("order", wanted), body, state.clock)
        return shop.new_customer(state.next_id("customer", wanted), body, state.clock)

    async def create_many(request: Request, kind: str) -> Response:
        body = await _object(request)
        many = body.get(f"{kind}s")
        items = many if isinstance(many, list) else [body]
        made = [create(kind, item if isinstance(item, dict) else {}) for item in items]
        held = state.orders if kind == "order" else state.customers
        for record in made:
            held[record.id] = record
            if fire(request) and not (kind == "order" and record.status == "checkout-draft"):
                deliverer.trigger(f"{kind}.created", record)
        if isinstance(many, list):
            return _json({f"{kind}s": [rest(r) for r in made]}, 201)
        return _json(rest(made[0]), 201)

    async def orders(request: Request) -> Response:
        return await create_many(request, "order")

    async def update_order(request: Request) -> Response:
        record, body = order(request), await _object(request)
        if body.get("status") == "trash" or record.status == "trash":
            raise ShopError("status: trash and restore through …/trash and …/restore")
        was_draft = record.status == "checkout-draft"
        shop.update_order(record, body, state.clock)
        if fire(request):
            if was_draft and record.status != "checkout-draft":
                deliverer.trigger("order.created", record)  # a draft becomes an order
            deliverer.trigger("order.updated", record)
        return _json(rest(record))

    async def trash_order(request: Request) -> Response:
        record = order(request)
        if record.status == "trash":
            raise ShopError(f"order {record.id} is already in the trash")
        record.trashed_from, record.body["status"] = record.status, "trash"
        record.dates["date_modified"] = state.clock.now()
        if fire(request):
            deliverer.trigger("order.deleted", record)
        return _json(rest(record))

    async def restore_order(request: Request) -> Response:
        record = order(request)
        if record.status != "trash":
            raise ShopError(f"order {record.id} is not in the trash")
        record.body["status"], record.trashed_from = record.trashed_from or "pending", None
        record.dates["date_modified"] = state.clock.now()
        if fire(request):
            deliverer.trigger("order.restored", record)
        return _json(rest(record))

    async def delete_order(request: Request) -> Response:
        record = order(request)
        del state.orders[record.id]  # force-deleted: WooCommerce sends no webhook for this
        return _json(rest(record))

    async def customers(request: Request) -> Response:
        return await create_many(request, "customer")

    async def update_customer(request: Request) -> Response:
        record, body = customer(request), await _object(request)
        shop.update_customer(record, body, state.clock)
        if fire(request):
            deliverer.trigger("customer.updated", record)
        return _json(rest(record))

    async def delete_customer(request: Request) -> Response:
        record = customer(request)
        del state.customers[record.id]
        if fire(request):
            deliverer.trigger("customer.deleted", record)
        return _json(rest(record))

    async def webhooks(request: Request) -> Response:
        return _json({"webhooks": [w.inspect() for w in state.webhooks.values()]})

    async def set_webhook(request: Request) -> Response:
        ident = int(request.path_params["id"])
        webhook = state.webhooks.get(ident)
        if webhook is None:
            raise LookupError(f"no webhook {ident}")
        body = await _object(request)
        if "status" in body:
            if body["status"] not in STATUSES:
                raise ShopError(f"status must be one of {', '.join(STATUSES)}")
            webhook.status = body["status"]
        if "failure_count" in body:
            webhook.failure_count = _int(body["failure_count"], "failure_count")
        return _json(webhook.inspect())

    async def deliveries(request: Request) -> Response:
        since = _query_int(request, "since") or 0
        webhook_id = _query_int(request, "webhook_id")
        kind = request.query_params.get("kind")
        found = [
            entry
            for entry in state.deliveries
            if entry["seq"] > since
            and (webhook_id is None or entry["webhook_id"] == webhook_id)
            and (kind is None or entry["kind"] == kind)
        ]
        return _json({"deliveries": found, "last_seq": state.delivery_seq})

    async def queue(request: Request) -> Response:
        pending = [asdict(a) for a in sorted(deliverer.pending, key=lambda a: a.due)]
        return _json({"paused": state.settings.paused, "pending": pending})

    async def run_queue(request: Request) -> Response:
        return _json({"deliveries": await deliverer.run_now()})

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            body = await _object(request)
            state.faults.extend(parse_fault(f) for f in body.get("faults", [body]))
        elif request.method == "DELETE":
            state.faults.clear()
        return _json({"faults": [fault.as_json() for fault in state.faults]})

    async def settings(request: Request) -> Response:
        current = state.settings
        if request.method == "POST":
            body = await _object(request)
            for name, value in body.items():
                if name not in current.__dataclass_fields__:
                    raise ShopError(f"{name}: not a setting")
                expected = type(getattr(current, name))
                if isinstance(value, bool) != (expected is bool) or not isinstance(
                    value, (int, float) if expected is float else expected
                ):
                    raise ShopError(f"{name} must be a {expected.__name__}")
                if not isinstance(value, bool) and value < 0:
                    raise ShopError(f"{name} must not be negative")
                setattr(current, name, value)
            deliverer.wake()
        return _json(asdict(current))

    async def keys(request: Request) -> Response:
        if request.method == "POST":
            key = parse_key(await _object(request))
            state.keys[key.consumer_key] = key
        return _json({"keys": [key.public() for key in state.keys.values()]})

    async def requests(request: Request) -> Response:
        since = _query_int(request, "since") or 0
        found = [entry for entry in state.requests if entry["seq"] > since]
        return _json({"requests": found, "last_seq": state.request_seq})

    async def stats(request: Request) -> Response:
        return _json({**state.stats(), "pending": len(deliverer.pending)})

    async def reset(request: Request) -> Response:
        deliverer.pending.clear()
        state.reset()
        return _json({"status": "reset"})

    table: list[tuple[str, Endpoint, list[str]]] = [
        ("/_emulator/orders", orders, ["POST"]),
        ("/_emulator/orders/{id:int}", update_order, ["PUT", "PATCH"]),
        ("/_emulator/orders/{id:int}", delete_order, ["DELETE"]),
        ("/_emulator/orders/{id:int}/trash", trash_order, ["POST"]),
        ("/_emulator/orders/{id:int}/restore", restore_order, ["POST"]),
        ("/_emulator/customers", customers, ["POST"]),
        ("/_emulator/customers/{id:int}", update_customer, ["PUT", "PATCH"]),
        ("/_emulator/customers/{id:int}", delete_customer, ["DELETE"]),
        ("/_emulator/webhooks", webhooks, ["GET"]),
        ("/_emulator/webhooks/{id:int}", set_webhook, ["PUT", "PATCH"]),
        ("/_emulator/deliveries", deliveries, ["GET"]),
        ("/_emulator/queue", queue, ["GET"]),
        ("/_emulator/queue/run", run_queue, ["POST"]),
        ("/_emulator/faults", faults, ["GET", "POST", "DELETE"]),
        ("/_emulator/settings", settings, ["GET", "POST"]),
        ("/_emulator/keys", keys, ["GET", "POST"]),
        ("/_emulator/requests", requests, ["GET"]),
        ("/_emulator/stats", stats, ["GET"]),
        ("/_emulator/reset", reset, ["POST"]),
    ]
    return [Route(path, _guarded(endpoint), methods=methods) for path, endpoint, methods in table]
