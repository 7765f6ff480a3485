"""HTTP to the shops' own APIs: one pooled httpx client per process, timeouts, retries.

Both platform clients send every request through `PlatformHTTP.request`, which retries
network errors, timeouts, 5xx and 429 with exponential backoff and jitter (honouring a
`Retry-After` it can read), and raises `PlatformUnavailable` naming the call once the
attempts are spent. Anything else comes back as the response for the client to read: each
platform words its errors its own way.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from bridge.errors import PlatformUnavailable

# Connecting, and the whole call: a shop's API is slower than Kanal's (GraphQL pages of 100
# orders take a second or two), but a call that hangs longer is retried.
CONNECT_TIMEOUT = 5.0
TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """How often and how long to retry: `attempts` tries in all, waits doubling from `base`
    up to `cap` seconds, each with +-`jitter` spread."""

    attempts: int = 4
    base: float = 0.5
    cap: float = 8.0
    jitter: float = 0.2

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number `attempt` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap)
        wait: float = min(self.base * 2.0 ** (attempt - 1), self.cap)
        return wait * random.uniform(1 - self.jitter, 1 + self.jitter)


# In a worker job (a watchdog check, a backfill or reconciliation page) the pushes of the same
# worker wait while the call runs: a shorter timeout, and no sleeping on a retry or a shop's
# budget: a failed or throttled job is rescheduled instead (bridge/platforms/periodic.py).
JOB_TIMEOUT = 15.0
JOB_BACKOFF = Backoff(attempts=1)

_clients: dict[float, httpx.Client] = {}
_lock = threading.Lock()


def shared_client(timeout: float = TIMEOUT) -> httpx.Client:
    """The process's pooled client for every shop (connections are kept per host), one per
    timeout: the commands' and the worker jobs' (`JOB_TIMEOUT`)."""
    with _lock:
        client = _clients.get(timeout)
        if client is None or client.is_closed:
            client = _clients[timeout] = httpx.Client(
                timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
                headers={"User-Agent": "kanal-bridge"},
                follow_redirects=False,
            )
        return client


class PlatformHTTP:
    """Requests to one shop's API with retries; `client` defaults to the shared pool."""

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.Client | None = None,
        backoff: Backoff = Backoff(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client
        self.backoff = backoff
        self._sleep = sleep

    @classmethod
    def for_job(cls, base_url: str) -> PlatformHTTP:
        """Requests made from a worker job: `JOB_TIMEOUT` and `JOB_BACKOFF`."""
        return cls(base_url, client=shared_client(JOB_TIMEOUT), backoff=JOB_BACKOFF)

    @property
    def client(self) -> httpx.Client:
        return self._client if self._client is not None else shared_client()

    def request(
        self,
        method: str,
        path: str,
        *,
        name: str,
        headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> httpx.Response:
        """Send `method path` (relative to the base URL); `name` says what the call is for,
        in errors and logs. Retries transient failures; returns any other response."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        last = ""
        for attempt in range(1, self.backoff.attempts + 1):
            retry_after: float | None = None
            try:
                response = self.client.request(method, url, headers=headers, **options)
            except httpx.TransportError as exc:
                last = exc.__class__.__name__
            else:
                if response.status_code < 500 and response.status_code != 429:
                    return response
                last = f"HTTP {response.status_code}"
                retry_after = _retry_after(response)
            if attempt < self.backoff.attempts:
                self._sleep(self.backoff.delay(attempt, retry_after))
        raise PlatformUnavailable(f"{name}: {last} after {self.backoff.attempts} attempts")


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
