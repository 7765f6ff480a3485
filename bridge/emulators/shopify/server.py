"""Serving the Shopify emulator: app specs from the command line, uvicorn, a background thread."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx
import uvicorn

from bridge.emulators.serving import BackgroundServer, uvicorn_config
from bridge.emulators.shopify.app import create_app
from bridge.emulators.shopify.state import App, ShopifyState


def parse_app_specs(specs: Iterable[str]) -> list[App]:
    """Apps from "CLIENT_ID:CLIENT_SECRET[:SCOPE,SCOPE...][:STATIC_TOKEN]" strings (scopes
    default to read_orders,read_customers,read_fulfillments). Raises ValueError naming the
    bad spec."""
    apps = []
    for spec in specs:
        parts = spec.split(":")
        if len(parts) < 2 or len(parts) > 4 or not parts[0] or not parts[1]:
            raise ValueError(
                f"bad app spec {spec!r}: expected CLIENT_ID:CLIENT_SECRET[:SCOPES][:STATIC_TOKEN]"
            )
        app = App(parts[0], parts[1])
        if len(parts) > 2 and parts[2]:
            app.scopes = tuple(scope.strip() for scope in parts[2].split(",") if scope.strip())
        if len(parts) > 3 and parts[3]:
            app.static_token = parts[3]
        apps.append(app)
    return apps


def run(host: str = "127.0.0.1", port: int = 8098, **options: Any) -> None:
    """Serve the emulator until interrupted; `options` go to `create_app`."""
    uvicorn.Server(uvicorn_config(create_app(**options), host, port)).run()


class BackgroundShopify(BackgroundServer):
    """The Shopify emulator served by uvicorn in a daemon thread on a free port (for tests).

    with BackgroundShopify("shop.myshopify.com", [App("id", "secret")], time_scale=0.001) as shop:
        shop.control("POST", "/orders", json={"email": "a@example.com"})
        shop.state.subscriptions
    """

    name = "Shopify emulator"

    def __init__(
        self,
        shop_domain: str = "emulated-shop.myshopify.com",
        apps: Iterable[App] = (),
        *,
        host: str = "127.0.0.1",
        **options: Any,
    ) -> None:
        super().__init__(create_app(shop_domain, apps, **options), host=host)
        self.state: ShopifyState = self.app.state.shopify

    def control(self, method: str, path: str, **options: Any) -> Any:
        """Call the control API (`path` after /_emulator); the JSON answer, raising on 4xx/5xx."""
        response = httpx.request(method, f"{self.url}/_emulator{path}", timeout=15, **options)
        response.raise_for_status()
        return response.json()

    def graphql_url(self, version: str = "2026-10") -> str:
        return f"{self.url}/admin/api/{version}/graphql.json"
