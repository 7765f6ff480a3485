"""Serving the emulator: store specs from the command line, uvicorn, and a background thread."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import uvicorn

from bridge.emulators.kanal.app import create_app
from bridge.emulators.kanal.state import EmulatorState, EmulatorStore
from bridge.emulators.serving import BackgroundServer, uvicorn_config


def parse_store_specs(specs: Iterable[str]) -> dict[int, EmulatorStore]:
    """Stores from "STORE_ID:KEY[:RPM]" strings. A store named twice gets both keys; a key
    named on several stores is team-wide. Raises ValueError naming the bad spec."""
    stores: dict[int, EmulatorStore] = {}
    for spec in specs:
        parts = spec.split(":")
        try:
            if len(parts) not in (2, 3) or not parts[1]:
                raise ValueError
            store_id = int(parts[0])
            rpm = int(parts[2]) if len(parts) == 3 else None
            if store_id < 0 or (rpm is not None and rpm < 0):
                raise ValueError
        except ValueError:
            raise ValueError(f"bad store spec {spec!r}: expected STORE_ID:KEY[:RPM]") from None
        store = stores.setdefault(store_id, EmulatorStore(store_id))
        store.keys.add(parts[1])
        if rpm is not None:
            store.requests_per_minute = rpm
    return stores


def run(
    host: str = "127.0.0.1",
    port: int = 8099,
    stores: dict[int, EmulatorStore] | None = None,
    **options: Any,
) -> None:
    """Serve the emulator until interrupted; `options` go to `create_app` (latency_ms…)."""
    app = create_app(stores or {}, **options)
    uvicorn.Server(uvicorn_config(app, host, port)).run()


class BackgroundEmulator(BackgroundServer):
    """The emulator served by uvicorn in a daemon thread on a free port (for tests).

    with BackgroundEmulator({1: EmulatorStore(1, {"k" * 24})}) as emu:
        httpx.post(f"{emu.url}/api/v1/stores/1/orders", ...)
        emu.state.records[1]["orders"]
    """

    name = "Kanal emulator"

    def __init__(
        self,
        stores: dict[int, EmulatorStore] | None = None,
        *,
        host: str = "127.0.0.1",
        **options: Any,
    ) -> None:
        super().__init__(create_app(stores or {}, **options), host=host)
        self.state: EmulatorState = self.app.state.emulator
