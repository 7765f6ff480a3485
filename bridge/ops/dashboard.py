"""rq-dashboard at /rq, inside the web app, behind HTTP basic auth.

The Flask blueprint runs under a2wsgi's WSGIMiddleware (its views run in a thread pool, off
the event loop). It reads jobs with the JSONSerializer the pushes are saved with, through one
Redis client built like every other (`rediss://` with Heroku's self-signed certificates).

Actions: requeueing a failed push stays (it is `kanal-bridge failed retry`: the job pushes
the record's latest state). Delete and "empty" are disabled (RQ_DASHBOARD_DISABLE_DELETE):
deleting a pending push's job only delays it (the sweeper gives the record a new job), and
deleting a failed one throws away Kanal's answer, the one thing needed to fix the cause.

Requests that change something must be POSTs from the dashboard's own pages:
- no view that changes state answers GET ("requeue all" does upstream, which any page could
  trigger in a logged-in browser): refused by Flask itself, whatever the path's spelling
  (`//requeue`, `%2F`, a trailing slash), and by `SameOriginWrites` before Flask is reached;
- a POST must carry an Origin (or, failing that, a Referer) of this very host: browsers send
  Origin with every POST, so a request without either is not the dashboard's.
Redirects are relative (`RelativeRedirects`): Starlette and Werkzeug build absolute ones from
the request's Host header, which a client chooses.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import re
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from a2wsgi import WSGIMiddleware
from flask import Flask, abort, request
from rq.serializers import JSONSerializer
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


# rq-dashboard's routes that change something (all POST; "requeue" also answers GET upstream).
_CHANGES = re.compile(r"^/(requeue|job|queue)/")
_SLASHES = re.compile(r"/{2,}")


def normalised(path: str) -> str:
    """A path as Werkzeug will route it: slashes merged, no trailing one, lower case."""
    return _SLASHES.sub("/", path).rstrip("/").lower() + "/"


class SameOriginWrites:
    """Refuse changes from other sites: a POST without an Origin (or Referer) of this host,
    and safe-method requests for the routes that change state, however their path is spelled."""

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
        path = normalised(scope["path"][len(scope.get("root_path", "")) :])
        if scope["method"] in self._SAFE:
            return not _CHANGES.match(path)
        headers = Headers(scope=scope)
        source = headers.get("origin") or headers.get("referer")
        if not source or source == "null":
            return False  # browsers send Origin with every POST: this is not the dashboard
        host = headers.get("host", "").lower()
        return bool(host) and urlsplit(source).netloc.lower() == host


class RelativeRedirects:
    """Make every Location header relative: the host in an absolute one came from the
    request's Host header, which the client chooses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def relative(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "location" in headers:
                    headers["location"] = relative_location(headers["location"])
            await send(message)

        await self.app(scope, receive, relative)


def relative_location(location: str) -> str:
    """`location` without its scheme and host."""
    parts = urlsplit(location)
    path = "/" + parts.path.lstrip("/")  # never "//host", which a browser reads as a host
    return urlunsplit(("", "", path, parts.query, parts.fragment))


def _post_only(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.method != "POST":
            abort(405)
        return view(*args, **kwargs)

    return wrapper


def _redirect_to_mount(request: Request) -> Response:
    return RedirectResponse(f"{MOUNT}/", status_code=307)


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
    # No state change on GET: a view that takes POST takes nothing else.
    for rule in app.url_map.iter_rules():
        if rule.methods and "POST" in rule.methods:
            app.view_functions[rule.endpoint] = _post_only(app.view_functions[rule.endpoint])
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
    guarded = SameOriginWrites(RelativeRedirects(wsgi))
    app = BasicAuth(guarded, settings.dashboard_user, settings.dashboard_password)
    # /rq itself: Starlette's own redirect to /rq/ would be absolute, built from Host.
    return [Route(MOUNT, _redirect_to_mount), Mount(MOUNT, app=app)]
