"""The webhook endpoints: verify the raw bytes, parse, map, store, and answer (DESIGN §1).

Order of checks, each answered before the next is attempted:

    configuration loaded?             no  → 503
    store key known, platform its?    no  → 401, as a bad signature
    WooCommerce unsigned ping?        yes → 200 ignored/ping (nothing stored)
    signature of the raw body         bad → 401 (nothing parsed, nothing stored)
    Shopify shop domain, when set     other shop → 401
    body is a JSON object?            no  → 400
    body names another shop?          yes → 401 (Shopify: shop_domain, myshopify.com links)
    map → every action Ignored?       yes → 200 ignored/<reason> (a body whose shape does
                                      not fit its topic: ignored/not_a_<kind>)
    Shopify delivery too old?         yes → 200 ignored/too_old (freshness.py)
    records.accept                    accepted | noted | duplicate | stale | finished |
                                      unknown_record → 200 (ignored/<reason> when an action
                                      was ignored and the others were only noted, e.g. the
                                      completion of the checkout an order came from)
                                      StorageUnavailable → 503

An unsigned caller learns next to nothing from the answers: an unknown store key, or a
platform in the path that is not the store's, is answered exactly as a known store's bad
signature (the log line and the metrics still say `unknown_store` / `wrong_platform`). Only
WooCommerce's unsigned ping tells a WooCommerce store key apart (200, else 401): it is the
one answer a merchant sees when saving a webhook, so a mistyped URL must fail there. A
delivery signed with our secret but naming another shop gets 401 too; the domain is only
compared after the signature.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import redis
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from bridge import metrics
from bridge.config import BridgeConfig, Platform, StoreConfig
from bridge.errors import SignatureError, StorageUnavailable
from bridge.intake import freshness
from bridge.intake.middleware import request_id
from bridge.intake.signatures import ShopifyVerifier, Verifier, WooCommerceVerifier
from mappers import Action, Ignored, StoreContext, map_webhook, shopify

logger = logging.getLogger("bridge.intake.webhooks")

Mapper = Callable[[str, str, object, StoreContext], list[Action]]
Clock = Callable[[], float]

_PING = re.compile(rb"webhook_id=\d+")
_JSON = (b"content-type", b"application/json")

# What each outcome of RecordStore.accept is answered with.
_OUTCOMES: dict[str, dict[str, str]] = {
    "accepted": {"status": "accepted"},
    "noted": {"status": "accepted"},  # kept for later (a checkout's completion seen first)
    "duplicate": {"status": "duplicate"},
    "stale": {"status": "ignored", "reason": "stale_version"},
    "finished": {"status": "ignored", "reason": "finished"},
    "unknown_record": {"status": "ignored", "reason": "unknown_record"},
}


class Records(Protocol):
    """What the endpoints need from the record store (`bridge.delivery.records.RecordStore`)."""

    async def accept(self, store: str, actions: Sequence[Action], delivery_id: str | None) -> str:
        """Store the actions durably; raise StorageUnavailable when that cannot be done."""
        ...


@dataclass(frozen=True, slots=True)
class _Store:
    config: StoreConfig
    verifier: Verifier
    context: StoreContext


@dataclass(frozen=True, slots=True)
class _Answer:
    status_code: int
    content: dict[str, Any]
    label: str  # for logs and metrics: accepted, duplicate, ignored, invalid_signature, ...
    detail: str | None = None  # logged, never sent: why the signature failed


@dataclass(slots=True)
class _Delivery:
    """What is known about the request so far, for its one log record."""

    platform: str
    store: str
    started: float
    topic: str | None = None
    delivery_id: str | None = None
    external_id: str | None = None


class Webhooks:
    """POST /webhooks/shopify/{store} and POST /webhooks/woocommerce/{store}.

    `records` is set by the app's lifespan once Redis is connected; until then (and when
    the configuration failed to load) the endpoints answer 503. `clock` (unix seconds) is
    what deliveries' ages are measured against.
    """

    def __init__(
        self,
        config: BridgeConfig | None,
        records: Records | None = None,
        mapper: Mapper = map_webhook,
        clock: Clock = time.time,
    ) -> None:
        self.records = records
        self._mapper = mapper
        self._clock = clock
        self._stores: dict[str, _Store] | None = None
        if config is not None:
            self._stores = {key: _store(store) for key, store in config.stores.items()}

    def routes(self) -> list[Route]:
        return [
            Route("/webhooks/shopify/{store}", _Endpoint(self, "shopify"), methods=["POST"]),
            Route(
                "/webhooks/woocommerce/{store}", _Endpoint(self, "woocommerce"), methods=["POST"]
            ),
        ]

    async def serve(self, platform: Platform, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one delivery (an ASGI request routed to `platform`'s endpoint)."""
        delivery = _Delivery(platform, scope["path_params"]["store"], time.perf_counter())
        try:
            answer = await self._answer(delivery, Headers(scope=scope), receive)
        except ClientDisconnect:
            answer = _Answer(400, {"error": "client disconnected"}, "client_disconnected")
        _log(delivery, answer)
        content = orjson.dumps(answer.content)
        # As Starlette's Response(content, media_type="application/json") sends it.
        headers = [(b"content-length", b"%d" % len(content)), _JSON]
        await send(
            {"type": "http.response.start", "status": answer.status_code, "headers": headers}
        )
        await send({"type": "http.response.body", "body": content})

    async def _answer(self, delivery: _Delivery, headers: Headers, receive: Receive) -> _Answer:
        if self._stores is None:
            return _Answer(503, {"error": "configuration not loaded"}, "not_configured")
        store = self._stores.get(delivery.store)
        if store is None:
            return _Answer(401, {"error": "invalid signature"}, "unknown_store")
        if store.config.platform != delivery.platform:
            return _Answer(401, {"error": "invalid signature"}, "wrong_platform")

        body = await _body(receive)
        if (
            delivery.platform == "woocommerce"
            and "x-wc-webhook-signature" not in headers
            and _PING.fullmatch(body)
        ):
            return _ignored("ping")
        try:
            store.verifier.verify(body, headers)
        except SignatureError as exc:
            return _Answer(401, {"error": "invalid signature"}, "invalid_signature", str(exc))

        if delivery.platform == "shopify":
            delivery.topic = headers.get("x-shopify-topic")
            delivery.delivery_id = headers.get("x-shopify-webhook-id") or None
            domain = headers.get("x-shopify-shop-domain", "").strip().lower()
            if store.config.shop_domain and domain != store.config.shop_domain:
                return _Answer(401, {"error": "shop domain does not match"}, "wrong_shop")
        else:
            # WooCommerce has no stable delivery id: dedup comes from the record version.
            delivery.topic = headers.get("x-wc-webhook-topic")

        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            return _Answer(400, {"error": "body is not a JSON object"}, "not_an_object")
        if isinstance(payload.get("id"), int | str):
            delivery.external_id = str(payload["id"])
        if delivery.platform == "shopify":
            expected = store.config.shop_domain or headers.get("x-shopify-shop-domain")
            named = shopify.shop_named_in(payload)
            if expected and named and named != expected.strip().lower():
                error = {"error": "shop domain does not match"}
                return _Answer(401, error, "wrong_shop", "the body names another shop")

        try:
            actions = self._mapper(delivery.platform, delivery.topic or "", payload, store.context)
        except Exception:
            logger.exception("mapping failed", extra={"store": delivery.store})
            return _Answer(500, {"error": "internal error"}, "mapping_failed")
        kept = [action for action in actions if not isinstance(action, Ignored)]
        first = next((a.reason for a in actions if isinstance(a, Ignored)), None)
        if not kept:
            return _ignored(first or "nothing_to_send")
        if freshness.too_old(delivery.platform, headers, kept, self._clock()):
            return _ignored("too_old")

        if self.records is None:
            return _unavailable()
        try:
            outcome = await self.records.accept(delivery.store, actions, delivery.delivery_id)
        except (StorageUnavailable, redis.RedisError) as exc:
            return _unavailable(str(exc))
        content = _OUTCOMES.get(outcome)
        if content is None:
            logger.error("unexpected outcome %r from the record store", outcome)
            return _Answer(500, {"error": "internal error"}, "unexpected_outcome")
        if first is not None and outcome != "accepted":
            # The main action was ignored (an order without a phone) and its side effect was
            # only noted (the checkout it completes): the answer says why nothing is sent.
            return _ignored(first)
        return _Answer(200, content, content["status"])


class _Endpoint:
    """One platform's webhook endpoint as a plain ASGI app: the hottest path of the web process
    goes without Starlette's Request and Response objects (`Webhooks.serve`)."""

    def __init__(self, webhooks: Webhooks, platform: Platform) -> None:
        self.webhooks = webhooks
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.webhooks.serve(self.platform, scope, receive, send)


async def _body(receive: Receive) -> bytes:
    """The whole request body, as Starlette's `Request.body()` reads it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect


def _store(config: StoreConfig) -> _Store:
    secrets = [secret.get_secret_value().encode() for secret in config.webhook_secrets]
    verifier: Verifier
    if config.platform == "shopify":
        verifier = ShopifyVerifier(secrets)
    else:
        verifier = WooCommerceVerifier(secrets)
    return _Store(config, verifier, config.context())


def _ignored(reason: str) -> _Answer:
    return _Answer(200, {"status": "ignored", "reason": reason}, "ignored")


def _unavailable(detail: str | None = None) -> _Answer:
    content = {"error": "storage unavailable, retry later"}
    return _Answer(503, content, "storage_unavailable", detail)


def _log(delivery: _Delivery, answer: _Answer) -> None:
    """The one log record per webhook; metrics hook in here too."""
    status = answer.status_code
    seconds = time.perf_counter() - delivery.started
    reason = answer.content.get("reason") or answer.detail
    known = answer.label not in ("unknown_store", "not_configured")
    store = delivery.store if known else None
    metrics.webhook(delivery.platform, store, delivery.topic, answer.label, reason, seconds)
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    extra: Mapping[str, object] = {
        "store": delivery.store,
        "platform": delivery.platform,
        "topic": delivery.topic,
        "delivery_id": delivery.delivery_id,
        "external_id": delivery.external_id,
        "answer": answer.label,
        "reason": reason,
        "status_code": status,
        "duration_ms": round(seconds * 1000, 2),
        "request_id": request_id.get(),
    }
    logger.log(
        level,
        "webhook %s/%s -> %d %s",
        delivery.platform,
        delivery.store,
        status,
        answer.label,
        extra=extra,
    )
