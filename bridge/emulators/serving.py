"""Serving an emulator app: uvicorn settings, and a server on a free port in a daemon thread."""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from typing import Literal, Self

import uvicorn
from starlette.applications import Starlette


def uvicorn_config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    """Quiet uvicorn settings for an emulator: no access log, no lifespan, fastest loop."""
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


class BackgroundServer:
    """`app` served by uvicorn in a daemon thread on a free port of `host` (for tests)."""

    name = "emulator"

    def __init__(self, app: Starlette, *, host: str = "127.0.0.1") -> None:
        self.app = app
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, 0))
        self.host, self.port = self._socket.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._server = uvicorn.Server(uvicorn_config(app, self.host, self.port))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self, timeout: float = 10.0) -> Self:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
