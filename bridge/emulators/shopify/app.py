"""The Shopify emulator's ASGI app: the OAuth token endpoint and the GraphQL Admin API.

POST /admin/oauth/access_token           client credentials grant (form or JSON body)
POST /admin/api/{version}/graphql.json   X-Shopify-Access-Token; see `api.py`
/_emulator/...                           the control API (`control.py`)

API versions: a supported version answers as itself; a well-formed stable version older than
the oldest supported one falls forward to that one (Shopify's rule for retired versions);
anything else is 404. Every Admin API answer names the version used in X-Shopify-API-Version.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.emulators.kanal.encoding import dumps
from bridge.emulators.shopify.api import AdminAPI
from bridge.emulators.shopify.control import control_routes
from bridge.emulators.shopify.delivery import Deliverer
from bridge.emulators.shopify.shop import ShopData
from bridge.emulators.shopify.state import SUPPORTED_VERSIONS, App, ShopifyState

_STABLE = re.compile(r"20[0-9]{2}-(01|04|07|10)")
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


def _json(status: int, content: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(content), status, headers, media_type="application/json")


def resolve_version(version: str, supported: tuple[str, ...]) -> str | None:
    """The version Shopify serves for `version` in the URL, or None (404)."""
    if version in supported:
        return version
    stable = sorted(v for v in supported if _STABLE.fullmatch(v))
    if _STABLE.fullmatch(version) and stable and version < stable[0]:
        return stable[0]
    return None


async def _form(request: Request) -> dict[str, str]:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "application/json":
        try:
            body = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError:
            return {}
        return {str(k): str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    return dict(parse_qsl((await request.body()).decode(errors="replace")))


def create_app(
    shop_domain: str = "emulated-shop.myshopify.com",
    apps: Iterable[App] = (),
    *,
    currency: str = "USD",
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    supported_versions: tuple[str, ...] = SUPPORTED_VERSIONS,
    time_scale: float = 1.0,
    delete_after_failures: int = 8,
    max_query_cost: int = 1000,
) -> Starlette:
    """The emulator app for one shop. Its state is `app.state.shopify`, its deliverer
    `app.state.deliverer`."""
    shop = ShopData(shop_domain, currency=currency, clock=wall_clock)
    state = ShopifyState(
        shop,
        apps,
        clock=clock,
        supported_versions=supported_versions,
        time_scale=time_scale,
        delete_after_failures=delete_after_failures,
        max_query_cost=max_query_cost,
    )
    api = AdminAPI(state)
    deliverer = Deliverer(state)

    async def access_token(request: Request) -> Response:
        form = await _form(request)
        if form.get("grant_type") != "client_credentials":
            return _json(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "The grant type is not supported.",
                },
            )
        app = state.apps.get(form.get("client_id", ""))
        if app is None or app.client_secret != form.get("client_secret"):
            return _json(
                400,
                {"error": "invalid_client", "error_description": "Client authentication failed."},
            )
        token = state.issue_token(app)
        return _json(
            200,
            {
                "access_token": token,
                "scope": ",".join(app.scopes),
                "expires_in": int(app.token_ttl),
            },
        )

    async def graphql(request: Request) -> Response:
        version = resolve_version(request.path_params["version"], state.supported_versions)
        if version is None:
            return _json(404, {"errors": "Not Found"})
        headers = {"X-Shopify-API-Version": version}
        app = state.app_for_token(request.headers.get("x-shopify-access-token"))
        if app is None:
            return _json(401, {"errors": INVALID_TOKEN}, headers)
        raw = await request.body()
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media == "application/graphql":
            body: Any = {"query": raw.decode(errors="replace")}
        else:
            try:
                body = orjson.loads(raw or b"null")
            except orjson.JSONDecodeError:
                return _json(400, {"errors": "Unparseable JSON body"}, headers)
        answer = api.handle(app, version, body)
        return _json(answer.status, answer.body, {**headers, **answer.headers})

    async def unrouted(request: Request, exc: Exception) -> Response:
        return _json(404, {"errors": "Not Found"})

    app = Starlette(
        routes=[
            Route("/admin/oauth/access_token", access_token, methods=["POST"]),
            Route("/admin/api/{version}/graphql.json", graphql, methods=["POST"]),
            *control_routes(state, deliverer),
        ],
        exception_handlers={404: unrouted, 405: unrouted},
    )
    app.state.shopify = state
    app.state.deliverer = deliverer
    return app
