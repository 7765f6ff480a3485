"""The Shopify emulator's control API under /_emulator (no auth, like the Kanal emulator's).

The shop's data (bodies use Shopify's REST field names; every change is delivered to the
subscriptions of its topics; `"topics": [...]` in a body overrides which topics are sent,
`[]` changes the record silently):
POST   /_emulator/orders                       create (orders/create, + orders/paid if paid);
                                               {"orders": [...]} creates many, silently
                                               unless an order names its "topics" (history)
POST   /_emulator/orders/{id}                  update (orders/updated, + cancelled/paid/
                                               fulfilled/partially_fulfilled on that change)
POST   /_emulator/orders/{id}/fulfillments     fulfil (fulfillments/create, orders/fulfilled,
                                               orders/updated)
DELETE /_emulator/orders/{id}                  delete (orders/delete)
POST   /_emulator/customers                    create (customers/create); {"customers":
                                               [...]} creates many, silently (history)
POST   /_emulator/customers/{id}               update (customers/update)
POST   /_emulator/checkouts                    create (checkouts/create)
POST   /_emulator/checkouts/{id}               update (checkouts/update)
DELETE /_emulator/checkouts/{id}               delete (checkouts/delete)
GET    /_emulator/orders | customers | checkouts   the records, REST-shaped
Inspection and faults:
GET    /_emulator/subscriptions                every app's subscriptions, and those deleted
DELETE /_emulator/subscriptions/{id}           delete one as Shopify would (numeric id or gid)
GET    /_emulator/deliveries   ?topic=&since=  deliveries, their attempts and answers
GET    /_emulator/requests     ?since=         Admin API requests: app, operation, cost
GET    /_emulator/cost                         per app: points spent, throttles, the bucket
GET|POST|DELETE /_emulator/faults              {"kind": "drop"|"fail", "count", "topic"}
GET|POST /_emulator/apps                       apps installed on the shop (add or replace)
POST   /_emulator/tokens/expire                expire every client-credentials token now
POST   /_emulator/reset                        forget data, subscriptions, deliveries, faults
POST   /_emulator/idle                         wait until no delivery is in flight
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bridge.emulators.kanal.encoding import dumps
from bridge.emulators.shopify.delivery import Deliverer
from bridge.emulators.shopify.shop import webhook_body
from bridge.emulators.shopify.state import App, DeliveryFault, ShopifyState
from bridge.emulators.shopify.topics import BY_REST_NAME


class ControlError(ValueError):
    """A control request the emulator cannot follow (answered 400)."""


def _json(content: Any, status: int = 200) -> Response:
    return Response(dumps(content), status, media_type="application/json")


async def _object(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ControlError("body must be JSON") from exc
    if not isinstance(body, dict):
        raise ControlError("body must be a JSON object")
    return body


def _topics(body: Mapping[str, Any], default: list[str]) -> list[str]:
    given = body.get("topics", default)
    if not isinstance(given, list) or not all(t in BY_REST_NAME for t in given):
        raise ControlError(f"topics must be a list of: {', '.join(sorted(BY_REST_NAME))}")
    return list(given)


def _id(request: Request) -> int:
    raw = str(request.path_params["id"]).rsplit("/", 1)[-1]
    try:
        return int(raw)
    except ValueError:
        raise ControlError("id must be a number or a gid") from None


def parse_app(body: Mapping[str, Any]) -> App:
    client_id, secret = body.get("client_id"), body.get("client_secret")
    if not isinstance(client_id, str) or not client_id or not isinstance(secret, str) or not secret:
        raise ControlError("client_id and client_secret must be non-empty strings")
    app = App(client_id, secret)
    if "scopes" in body:
        scopes = body["scopes"]
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ControlError("scopes must be a list of strings")
        app.scopes = tuple(scopes)
    if body.get("static_token") is not None:
        app.static_token = str(body["static_token"])
    for key in ("token_ttl", "bucket_maximum", "restore_rate"):
        if key in body:
            value = body[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ControlError(f"{key} must be a positive number")
            setattr(app, key, float(value))
    return app


def parse_fault(body: Mapping[str, Any]) -> DeliveryFault:
    kind, count, topic = body.get("kind"), body.get("count", 1), body.get("topic")
    if kind not in ("drop", "fail"):
        raise ControlError("kind must be drop or fail")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ControlError("count must be an integer >= 1")
    if topic is not None and topic not in BY_REST_NAME:
        raise ControlError("topic must be a REST topic name such as orders/create")
    return DeliveryFault(kind, count, topic)


def control_routes(state: ShopifyState, deliverer: Deliverer) -> list[BaseRoute]:
    shop = state.shop

    def send(topics: list[str], record: Mapping[str, Any]) -> list[int]:
        return [d.id for topic in topics for d in deliverer.publish(topic, record)]

    def handled(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                result: Response = await handler(request)
                return result
            except ControlError as exc:
                return _json({"error": str(exc)}, 400)
            except KeyError as exc:
                return _json({"error": f"no such record: {exc}"}, 404)

        return endpoint

    async def orders(request: Request) -> Response:
        if request.method == "GET":
            return _json({"orders": [webhook_body(o) for o in shop.orders.values()]})
        body = await _object(request)
        if isinstance(body.get("orders"), list):  # history: many at once, silent by default
            made = []
            for item in body["orders"]:
                if not isinstance(item, dict):
                    raise ControlError("orders must be a list of objects")
                order = shop.create_order(item)
                send(_topics(item, []), order)
                made.append(webhook_body(order))
            return _json({"orders": made}, 201)
        default = ["orders/create"] + (
            ["orders/paid"] if body.get("financial_status", "paid") == "paid" else []
        )
        topics = _topics(body, default)
        order = shop.create_order(body)
        return _json({"order": webhook_body(order), "deliveries": send(topics, order)}, 201)

    async def order(request: Request) -> Response:
        number = _id(request)
        if request.method == "DELETE":
            shop.orders.pop(number)
            return _json({"deleted": number, "deliveries": send(["orders/delete"], {"id": number})})
        body = await _object(request)
        record, topics = shop.update_order(number, body)
        return _json(
            {"order": webhook_body(record), "deliveries": send(_topics(body, topics), record)}
        )

    async def fulfillments(request: Request) -> Response:
        number = _id(request)
        body = await _object(request)
        fulfillment, record = shop.add_fulfillment(number, body)
        sent = send(_topics(body, ["fulfillments/create"]), fulfillment)
        sent += send(
            _topics(body, ["orders/fulfilled", "orders/updated"]) if "topics" not in body else [],
            record,
        )
        return _json(
            {"fulfillment": fulfillment, "order": webhook_body(record), "deliveries": sent}, 201
        )

    async def customers(request: Request) -> Response:
        if request.method == "GET":
            return _json({"customers": [webhook_body(c) for c in shop.customers.values()]})
        body = await _object(request)
        if isinstance(body.get("customers"), list):  # history: many at once, silent by default
            made = []
            for item in body["customers"]:
                if not isinstance(item, dict):
                    raise ControlError("customers must be a list of objects")
                customer = shop.create_customer(item)
                send(_topics(item, []), customer)
                made.append(webhook_body(customer))
            return _json({"customers": made}, 201)
        topics = _topics(body, ["customers/create"])
        customer = shop.create_customer(body)
        return _json(
            {"customer": webhook_body(customer), "deliveries": send(topics, customer)}, 201
        )

    async def customer(request: Request) -> Response:
        body = await _object(request)
        record = shop.update_customer(_id(request), body)
        return _json(
            {
                "customer": webhook_body(record),
                "deliveries": send(_topics(body, ["customers/update"]), record),
            }
        )

    async def checkouts(request: Request) -> Response:
        if request.method == "GET":
            return _json({"checkouts": [webhook_body(c) for c in shop.checkouts.values()]})
        body = await _object(request)
        topics = _topics(body, ["checkouts/create"])
        checkout = shop.create_checkout(body)
        return _json(
            {
                "checkout": _checkout_body(checkout),
                "deliveries": send(topics, _checkout_body(checkout)),
            },
            201,
        )

    async def checkout(request: Request) -> Response:
        number = _id(request)
        if request.method == "DELETE":
            gone = shop.checkouts.pop(number)
            body = {"id": number, "cart_token": gone.get("cart_token")}
            return _json({"deleted": number, "deliveries": send(["checkouts/delete"], body)})
        body = await _object(request)
        record = shop.update_checkout(number, body)
        sent = send(_topics(body, ["checkouts/update"]), _checkout_body(record))
        return _json({"checkout": _checkout_body(record), "deliveries": sent})

    async def subscriptions(request: Request) -> Response:
        return _json(
            {
                "subscriptions": [s.as_json() for s in state.subscriptions.values()],
                "deleted": state.deleted_subscriptions,
            }
        )

    async def subscription(request: Request) -> Response:
        sub = state.subscriptions.pop(_id(request))
        state.deleted_subscriptions.append(
            {**sub.as_json(), "reason": "deleted through /_emulator"}
        )
        return _json(sub.as_json())

    async def deliveries(request: Request) -> Response:
        topic = request.query_params.get("topic")
        try:
            since = int(request.query_params.get("since") or 0)
        except ValueError:
            raise ControlError("since must be an integer") from None
        found = [
            d.as_json()
            for d in state.deliveries
            if d.id > since and (topic is None or d.topic == topic)
        ]
        return _json({"deliveries": found})

    async def requests(request: Request) -> Response:
        try:
            since = int(request.query_params.get("since") or 0)
        except ValueError:
            raise ControlError("since must be an integer") from None
        return _json(
            {"requests": [r for r in state.requests if r["seq"] > since], "last_seq": state.seq}
        )

    async def cost(request: Request) -> Response:
        return _json(
            {
                "apps": {
                    client_id: {**spent, "throttle_status": state.buckets[client_id].status()}
                    for client_id, spent in state.spent.items()
                }
            }
        )

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            body = await _object(request)
            for item in body.get("faults", [body]):
                state.faults.append(parse_fault(item))
        elif request.method == "DELETE":
            state.faults.clear()
        return _json({"faults": [f.as_json() for f in state.faults]})

    async def apps(request: Request) -> Response:
        if request.method == "POST":
            app = parse_app(await _object(request))
            created = app.client_id not in state.apps
            state.put_app(app)
            return _json(app.as_json(), 201 if created else 200)
        return _json({"apps": [a.as_json() for a in state.apps.values()]})

    async def expire(request: Request) -> Response:
        return _json({"expired": state.expire_tokens()})

    async def reset(request: Request) -> Response:
        shop.orders.clear()
        shop.customers.clear()
        shop.checkouts.clear()
        state.subscriptions.clear()
        state.deleted_subscriptions.clear()
        state.deliveries.clear()
        state.faults.clear()
        state.requests.clear()
        for app in list(state.apps.values()):
            state.put_app(app)
        return _json({"status": "reset"})

    async def idle(request: Request) -> Response:
        await deliverer.idle()
        return _json({"pending": len(deliverer._tasks)})

    routes = [
        ("/_emulator/orders", orders, ["GET", "POST"]),
        ("/_emulator/orders/{id}", order, ["POST", "DELETE"]),
        ("/_emulator/orders/{id}/fulfillments", fulfillments, ["POST"]),
        ("/_emulator/customers", customers, ["GET", "POST"]),
        ("/_emulator/customers/{id}", customer, ["POST"]),
        ("/_emulator/checkouts", checkouts, ["GET", "POST"]),
        ("/_emulator/checkouts/{id}", checkout, ["POST", "DELETE"]),
        ("/_emulator/subscriptions", subscriptions, ["GET"]),
        ("/_emulator/subscriptions/{id:path}", subscription, ["DELETE"]),
        ("/_emulator/deliveries", deliveries, ["GET"]),
        ("/_emulator/requests", requests, ["GET"]),
        ("/_emulator/cost", cost, ["GET"]),
        ("/_emulator/faults", faults, ["GET", "POST", "DELETE"]),
        ("/_emulator/apps", apps, ["GET", "POST"]),
        ("/_emulator/tokens/expire", expire, ["POST"]),
        ("/_emulator/reset", reset, ["POST"]),
        ("/_emulator/idle", idle, ["POST"]),
    ]
    return [Route(path, handled(handler), methods=methods) for path, handler, methods in routes]


def _checkout_body(checkout: Mapping[str, Any]) -> dict[str, Any]:
    """A checkout as checkouts/create|update carry it since 2026-04: no numeric `id`."""
    return {key: value for key, value in webhook_body(checkout).items() if key != "id"}
