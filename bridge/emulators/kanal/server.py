"""Serving the emulator: store specs from the command line, uvicorn, and a background thread."""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette

from bridge.emulators.kanal.app import create_app
from bridge.emulators.kanal.state import EmulatorState, EmulatorStore


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


def _config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    has = importlib.util.find_spec
    http: Literal["httptools", "h11"] = "httptools" if has("httptools") else "h11"
    loop: Literal["uvloop", "asyncio"] = "uvloop" if has("uvloop") else "asyncio"
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=http,
        loop=loop,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


def run(
    host: str = "127.0.0.1",
    port: int = 8099,
    stores: dict[int, EmulatorStore] | None = None,
    **options: Any,
) -> None:
    """Serve the emulator until interrupted; `options` go to `create_app` (latency_ms…)."""
    app = create_app(stores or {}, **options)
    uvicorn.Server(_config(app, host, port)).run()


class BackgroundEmulator:
    """The emulator served by uvicorn in a daemon thread on a free port (for tests).

    with BackgroundEmulator({1: EmulatorStore(1, {"k" * 24})}) as emu:
        httpx.post(f"{emu.url}/api/v1/stores/1/orders", ...)
        emu.state.records[1]["orders"]
    """

    def __init__(
        self,
        stores: dict[int, EmulatorStore] | None = None,
        *,
        host: str = "127.0.0.1",
        **options: Any,
    ) -> None:
        self.app = create_app(stores or {}, **options)
        self.state: EmulatorState = self.app.state.emulator
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, 0))
        self.host, self.port = self._socket.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._server = uvicorn.Server(_config(self.app, self.host, self.port))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self, timeout: float = 10.0) -> BackgroundEmulator:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Kanal emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> BackgroundEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
