"""Helpers for tests against the WooCommerce emulator: its REST keys, and a webhook receiver."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.emulators.serving import BackgroundServer
from bridge.emulators.woocommerce import ApiKey, BackgroundWooCommerce, Settings

# Fake keys in WooCommerce's format (ck_/cs_ and 40 hex digits).
RW = ("ck_" + "1" * 40, "cs_" + "a" * 40)
READ_ONLY = ("ck_" + "2" * 40, "cs_" + "b" * 40)
WRITE_ONLY = ("ck_" + "3" * 40, "cs_" + "c" * 40)
NOT_MANAGER = ("ck_" + "4" * 40, "cs_" + "d" * 40)

KEYS = [
    ApiKey(*RW),
    ApiKey(*READ_ONLY, permissions="read"),
    ApiKey(*WRITE_ONLY, permissions="write"),
    ApiKey(*NOT_MANAGER, user_id=7, manager=False),
]

# Deliveries run 10 ms after their event in tests (WooCommerce: seconds to minutes).
TEST_SETTINGS = {"delivery_delay": 0.01, "delivery_timeout": 5.0, "ping_timeout": 5.0}


def shop() -> BackgroundWooCommerce:
    """A started emulator with the keys above (the caller stops it)."""
    return BackgroundWooCommerce(KEYS, settings=Settings(**TEST_SETTINGS)).start()


def fresh(emulator: BackgroundWooCommerce) -> BackgroundWooCommerce:
    """The emulator reset to its test settings: no data, no webhooks, no logs, no faults."""
    emulator.control.reset()
    emulator.control.settings(**TEST_SETTINGS, max_failures=5, latency_ms=0, paused=False)
    return emulator


class Receiver(BackgroundServer):
    """A webhook receiver that records every request and answers the statuses it is told
    (200 once they run out)."""

    name = "webhook receiver"

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: deque[int] = deque()
        self._lock = threading.Lock()

        async def receive(request: Request) -> Response:
            body = await request.body()
            with self._lock:
                self.received.append(
                    {"path": request.url.path, "headers": dict(request.headers), "body": body}
                )
                status = self.answers.popleft() if self.answers else 200
            return Response(b"", status)

        app = Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])
        super().__init__(app)

    def reset(self, *answers: int) -> Receiver:
        with self._lock:
            self.received.clear()
            self.answers = deque(answers)
        return self

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} of {count} requests in {timeout}s")
            time.sleep(0.01)
        with self._lock:
            return list(self.received)
