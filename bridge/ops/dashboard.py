"""rq-dashboard at /rq, inside the web app, behind HTTP basic auth.

The Flask blueprint runs under a2wsgi's WSGIMiddleware (its views run in a thread pool, off
the event loop). It reads jobs with the JSONSerializer the pushes are saved with, through one
Redis client built like every other (`rediss://` with Heroku's self-signed certificates).

Actions: requeueing a failed push stays (it is `kanal-bridge failed retry`: the job pushes
the record's latest state). Delete and "empty" are disabled (RQ_DASHBOARD_DISABLE_DELETE):
deleting a pending push's job only delays it (the sweeper gives the record a new job), and
deleting a failed one throws away Kanal's answer, the one thing needed to fix the cause.
Requests that change something must be POSTs from the dashboard's own pages: "requeue all"
also answers GET upstream, which any page could trigger in a logged-in browser.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any, cast

from a2wsgi import WSGIMiddleware
from flask import Flask
from rq.serializers import JSONSerializer
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.config import Settings
from bridge.connection import sync_redis

REALM = "kanal-bridge dashboard"
MOUNT = "/rq"
# rq-dashboard's request threads share this many Redis connections (a page's few parallel
# JSON requests wait for one rather than each opening its own): part of
# defaults.WEB_EXTRA_CONNECTIONS.
DASHBOARD_CONNECTIONS = 2


class BasicAuth:
    """Let a request through only with the right user and password (HTTP basic auth)."""

    def __init__(self, app: ASGIApp, user: str, password: str, realm: str = REALM) -> None:
        self.app = app
        self._user = user.encode()
        self._password = password.encode()
        self._challenge = f'Basic realm="{realm}", charset="UTF-8"'

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.authorized(Headers(scope=scope).get("authorization", "")):
            response = PlainTextResponse(
                "authentication required\n",
                status_code=401,
                headers={"WWW-Authenticate": self._challenge},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def authorized(self, header: str) -> bool:
        """Whether an Authorization header carries our credentials (constant time)."""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, colon, password = decoded.partition(b":")
        user_ok = hmac.compare_digest(user, self._user)
        password_ok = hmac.compare_digest(password, self._password)
        return bool(colon) and user_ok and password_ok


class SameOriginWrites:
    """Refuse changes from other sites: a POST whose Origin is not this host, and GETs of
    the routes that change state."""

    _SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._allowed(scope):
            response = PlainTextResponse("refused: not from the dashboard\n", status_code=403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        path = scope["path"][len(scope.get("root_path", "")) :]
        if scope["method"] in self._SAFE:
            return not path.startswith("/requeue/")
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            return True  # not a browser's cross-site request (browsers send Origin on POST)
        host = headers.get("host", "")
        return origin.split("://", 1)[-1].rstrip("/") == host


def flask_app(redis_url: str) -> Flask:
    """rq-dashboard's blueprint in a Flask app reading our Redis with our serializer."""
    import rq_dashboard
    from rq_dashboard import web

    web.config.serializer = JSONSerializer
    app = Flask(rq_dashboard.__name__)  # the package's static folder serves /static too
    app.config.update(
        RQ_DASHBOARD_REDIS_URL=[redis_url],  # only shown, with its password masked
        RQ_DASHBOARD_DISABLE_DELETE=True,
        RQ_DASHBOARD_POLL_INTERVAL=5000,
    )
    app.register_blueprint(web.blueprint, url_prefix="")
    # The blueprint reconnects on every request from the URL (without our TLS options):
    # one client, built like the rest of the bridge's, serves every request instead.
    hooks = app.before_request_funcs.get(web.blueprint.name, [])
    app.before_request_funcs[web.blueprint.name] = [
        hook for hook in hooks if hook is not web.push_rq_connection
    ]
    connection: Any = sync_redis(redis_url, max_connections=DASHBOARD_CONNECTIONS)
    app.redis_conn = connection  # type: ignore[attr-defined]
    return app


def routes(settings: Settings) -> list[BaseRoute]:
    """The /rq mount, or nothing (so /rq is 404) when DASHBOARD_PASSWORD is unset."""
    if not settings.dashboard_password:
        return []
    wsgi = cast(ASGIApp, WSGIMiddleware(flask_app(settings.redis_url)))  # type: ignore[arg-type]
    app = BasicAuth(SameOriginWrites(wsgi), settings.dashboard_user, settings.dashboard_password)
    return [Mount(MOUNT, app=app)]
