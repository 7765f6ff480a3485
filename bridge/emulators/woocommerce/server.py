"""Serving the emulator: key specs from the command line, uvicorn, and a background thread."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import uvicorn

from bridge.emulators.serving import BackgroundServer, uvicorn_config
from bridge.emulators.woocommerce.app import create_app
from bridge.emulators.woocommerce.remote import ShopControl
from bridge.emulators.woocommerce.state import PERMISSIONS, ApiKey, ShopState


def parse_key_specs(specs: Iterable[str]) -> list[ApiKey]:
    """REST keys from "CONSUMER_KEY:CONSUMER_SECRET[:read|write|read_write]" strings.
    Raises ValueError naming the bad spec."""
    keys = []
    for spec in specs:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise ValueError(f"bad key spec {spec!r}: expected KEY:SECRET[:PERMISSIONS]")
        permissions = parts[2] if len(parts) == 3 else "read_write"
        if permissions not in PERMISSIONS:
            raise ValueError(f"bad key spec {spec!r}: permissions are {', '.join(PERMISSIONS)}")
        keys.append(ApiKey(parts[0], parts[1], permissions))
    return keys


def run(
    host: str = "127.0.0.1",
    port: int = 8098,
    keys: Iterable[ApiKey] = (),
    *,
    site_url: str | None = None,
    **options: Any,
) -> None:
    """Serve the shop until interrupted; `options` go to `create_app`."""
    app = create_app(keys, site_url=site_url or f"http://{host}:{port}", **options)
    uvicorn.Server(uvicorn_config(app, host, port)).run()


class BackgroundWooCommerce(BackgroundServer):
    """The shop served by uvicorn in a daemon thread on a free port (for tests).

    with BackgroundWooCommerce([ApiKey("ck_x", "cs_y")]) as shop:
        shop.control.create_order(status="processing")
        httpx.get(f"{shop.url}/wp-json/wc/v3/orders", auth=("ck_x", "cs_y"))
    """

    name = "WooCommerce emulator"

    def __init__(
        self, keys: Iterable[ApiKey] = (), *, host: str = "127.0.0.1", **options: Any
    ) -> None:
        super().__init__(create_app(keys, **options), host=host)
        self.state: ShopState = self.app.state.shop
        if "site_url" not in options:
            self.state.site_url = self.url
        self.control = ShopControl(self.url)

    def stop(self) -> None:
        self.control.close()
        super().stop()
