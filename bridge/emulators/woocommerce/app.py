"""The emulator's ASGI app: the REST API under /wp-json/, the control API under /_emulator/."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.emulators.woocommerce import record_api, webhook_api
from bridge.emulators.woocommerce.api import RestAPI
from bridge.emulators.woocommerce.clock import DEFAULT_OFFSET_MINUTES, SiteClock
from bridge.emulators.woocommerce.control import control_routes
from bridge.emulators.woocommerce.delivery import Deliverer
from bridge.emulators.woocommerce.state import ApiKey, Settings, ShopState

# What WordPress serves for a path that is not the REST API: its theme's HTML 404 page.
NOT_FOUND_PAGE = (
    "<!DOCTYPE html><html><head><title>Page not found</title></head><body></body></html>"
)


def create_app(
    keys: Iterable[ApiKey] = (),
    *,
    site_url: str = "http://127.0.0.1",
    settings: Settings | None = None,
    offset_minutes: int = DEFAULT_OFFSET_MINUTES,
    time_source: Callable[[], float] | None = None,
    log_limit: int | None = None,
) -> Starlette:
    """The shop over these REST keys. Its state is `app.state.shop`, its queue
    `app.state.deliverer`; `site_url` is its home (`X-WC-Webhook-Source`, `_links`)."""
    clock = (
        SiteClock(offset_minutes) if time_source is None else SiteClock(offset_minutes, time_source)
    )
    state = ShopState(
        list(keys), site_url=site_url, clock=clock, settings=settings, log_limit=log_limit
    )
    deliverer = Deliverer(state)
    rest = RestAPI(state, deliverer, [*webhook_api.ENDPOINTS, *record_api.ENDPOINTS])

    async def api(request: Request) -> Response:
        return await rest(request)

    async def not_found(request: Request, exc: Exception) -> Response:
        return Response(NOT_FOUND_PAGE, 404, media_type="text/html")

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    app = Starlette(
        routes=[
            Route("/wp-json/{path:path}", api, methods=methods),
            *control_routes(state, deliverer),
        ],
        exception_handlers={404: not_found, 405: not_found},
    )
    app.state.shop = state
    app.state.deliverer = deliverer
    return app
