"""The REST API under `/wp-json/`, answered in WordPress's order of checks.

Each request: injected fault (a proxy or the server failing), authentication (a known key
with a wrong secret, or without the permission the method needs: 401), routing (404
`rest_no_route`), arguments (400 `rest_invalid_param` / `rest_missing_callback_param` /
`rest_invalid_json`), the endpoint's permission check (401 unauthenticated, 403 when the key's
user may not manage the shop), then the endpoint. Every answer is JSON written by PHP
(`\\/`, `\\uXXXX`), and every request is logged for `/_emulator/requests`.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from bridge.cli import woocommerce_json
from bridge.emulators.woocommerce import auth
from bridge.emulators.woocommerce.delivery import Deliverer
from bridge.emulators.woocommerce.rest import Args, RestError, invalid_json, no_route
from bridge.emulators.woocommerce.state import ApiKey, ShopState

NAMESPACE = "/wp-json/wc/v3"


@dataclass
class Answer:
    status: int
    content: Any
    headers: dict[str, str] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)  # (rel, url)
    html: str | None = None  # not JSON: what a proxy or a broken site answers


@dataclass
class Call:
    """One routed request: who, what, and the shop it acts on."""

    request: Request
    key: ApiKey | None
    args: Args
    id: int | None
    state: ShopState
    deliverer: Deliverer
    body: Any


Handler = Callable[[Call, dict[str, Any]], Awaitable[Answer]]
ParamReader = Callable[[Args], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    """A route: methods, a path under the namespace (`(?P<id>\\d+)` for an id), how its
    arguments are read, the refusal its permission check gives, and the handler."""

    methods: tuple[str, ...]
    path: str
    params: ParamReader
    refusal: tuple[str, str]
    handler: Handler

    def match(self, path: str) -> re.Match[str] | None:
        return re.fullmatch(NAMESPACE + self.path, path)


READABLE = ("GET",)
CREATABLE = ("POST",)
EDITABLE = ("POST", "PUT", "PATCH")
DELETABLE = ("DELETE",)


def page(
    call: Call,
    items: Sequence[Any],
    page_number: int,
    per_page: int,
    offset: int | None,
    pages: int | None = None,
) -> Answer:
    """One page of `items` with WordPress's `X-WP-Total`, `X-WP-TotalPages` (`pages`, when
    the endpoint counts its own way) and `Link`."""
    start = offset if offset is not None else (page_number - 1) * per_page
    total = len(items)
    pages = math.ceil(total / per_page) if pages is None else pages
    chunk = list(items[start : start + per_page])
    links = []
    base = [
        (k, v) for k, v in parse_qsl(call.request.url.query, keep_blank_values=True) if k != "page"
    ]
    url = f"{call.state.site_url}{call.request.url.path}"
    if page_number > 1:
        links.append(("prev", f"{url}?{urlencode([*base, ('page', min(page_number - 1, pages))])}"))
    if pages > page_number:
        links.append(("next", f"{url}?{urlencode([*base, ('page', page_number + 1)])}"))
    headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
    return Answer(200, chunk, headers, links)


def _render(answer: Answer) -> Response:
    if answer.html is not None:
        return Response(answer.html, answer.status, answer.headers, media_type="text/html")
    response = Response(
        woocommerce_json(answer.content),
        answer.status,
        answer.headers,
        media_type="application/json; charset=UTF-8",
    )
    for rel, url in answer.links:
        response.headers.append("Link", f'<{url}>; rel="{rel}"')
    return response


async def _body(request: Request) -> tuple[Any, RestError | None]:
    raw = await request.body()
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not raw:
        return None, None
    if media == "application/json":
        try:
            return orjson.loads(raw), None
        except orjson.JSONDecodeError as exc:
            return None, invalid_json(str(exc))
    if media == "application/x-www-form-urlencoded":
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)), None
    return None, None


class RestAPI:
    """Dispatches `/wp-json/...` requests to the endpoints."""

    def __init__(self, state: ShopState, deliverer: Deliverer, endpoints: list[Endpoint]):
        self.state = state
        self.deliverer = deliverer
        self.endpoints = endpoints

    async def __call__(self, request: Request) -> Response:
        state = self.state
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        seen: dict[str, ApiKey | None] = {}
        try:
            if state.settings.latency_ms:
                await asyncio.sleep(state.settings.latency_ms / 1000)
            try:
                answer = await self._answer(request, seen)
            except RestError as exc:
                answer = Answer(exc.status, exc.body())
        finally:
            state.in_flight -= 1
        self._log(request, seen.get("key"), answer)
        return _render(answer)

    def _log(self, request: Request, key: ApiKey | None, answer: Answer) -> None:
        params = request.query_params
        if params.get("consumer_key"):
            how = "query"
        else:
            how = "basic" if request.headers.get("authorization") else "none"
        content = answer.content
        self.state.log_request(
            {
                "time": time.time(),
                "method": request.method,
                "path": request.url.path,
                "query": {k: v for k, v in params.items() if k not in auth.CREDENTIAL_PARAMS},
                "auth": how,
                "consumer_key": key.consumer_key if key else None,
                "status": answer.status,
                "code": content.get("code") if isinstance(content, dict) else None,
            }
        )

    async def _answer(self, request: Request, seen: dict[str, ApiKey | None]) -> Answer:
        state = self.state
        method, path = request.method, request.url.path
        fault = state.take_fault(lambda f: f.matches_request(method, path))
        if fault is not None:
            headers = (
                {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            )
            if fault.body is None:
                html = f"<html><body><h1>Error {fault.status}</h1></body></html>"
                return Answer(fault.status, None, headers, html=html)
            return Answer(fault.status, fault.body, headers)
        key = auth.authenticate(request, state)
        seen["key"] = key
        endpoint, match = self._route(method, path)
        body, body_error = await _body(request)
        query: dict[str, list[str]] = {}
        for name, value in request.query_params.multi_items():
            if name not in auth.CREDENTIAL_PARAMS:
                query.setdefault(name, []).append(value)
        if body_error is not None:
            raise body_error
        args = Args(query, body if isinstance(body, dict) else None)
        params = endpoint.params(args)
        args.check()
        if key is None or not key.manager:
            raise auth.refuse(key, *endpoint.refusal)
        ident = match.groupdict().get("id")
        call = Call(request, key, args, int(ident) if ident else None, state, self.deliverer, body)
        return await endpoint.handler(call, params)

    def _route(self, method: str, path: str) -> tuple[Endpoint, re.Match[str]]:
        for endpoint in self.endpoints:
            match = endpoint.match(path.rstrip("/") or "/")
            if match is not None and method in endpoint.methods:
                return endpoint, match
        raise no_route()
