"""Shopify Admin API credentials: a legacy app's static token, or a Dev Dashboard app's
client id + secret exchanged for a token through the client credentials grant.

Exchanged tokens are cached per process and shop+app (thread-safe), refreshed a margin
before they expire and again when the API answers 401 (`invalidate`). Neither the token nor
the client secret ever appears in an error or a log line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bridge import defaults
from bridge.errors import PlatformAuthError, PlatformError
from bridge.platforms.http import PlatformHTTP


@dataclass(slots=True)
class _Token:
    value: str
    expires_at: float  # clock() seconds
    lifetime: float

    def stale(self, now: float) -> bool:
        """Due for a refresh: within the margin (at most a tenth of its life) of expiring."""
        margin = min(defaults.SHOPIFY_TOKEN_REFRESH_MARGIN, self.lifetime / 10)
        return now >= self.expires_at - margin


class ClientCredentials:
    """Tokens for one app on one shop, from POST /admin/oauth/access_token."""

    def __init__(
        self,
        http: PlatformHTTP,
        client_id: str,
        client_secret: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.client_id = client_id
        self._secret = client_secret
        self.clock = clock
        self._lock = threading.Lock()
        self._token: _Token | None = None
        self.exchanges = 0  # how many tokens this process asked for (tests, metrics)

    def token(self) -> str:
        """A token valid for at least the refresh margin, exchanging a new one if needed."""
        with self._lock:
            token = self._token
            if token is None or token.stale(self.clock()):
                token = self._token = self._exchange()
            return token.value

    def invalidate(self, token: str) -> None:
        """Forget `token` (the API refused it), unless another thread already replaced it."""
        with self._lock:
            if self._token is not None and self._token.value == token:
                self._token = None

    def _exchange(self) -> _Token:
        started = self.clock()
        response = self.http.request(
            "POST",
            "/admin/oauth/access_token",
            name="Shopify token exchange",
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self._secret,
            },
            headers={"Accept": "application/json"},
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code in (400, 401, 403):
            code = body.get("error") if isinstance(body, dict) else None
            raise PlatformAuthError(
                f"Shopify token exchange: HTTP {response.status_code}"
                f"{f' ({code})' if code else ''}: check client_id and client_secret, and that "
                "the app is installed on this shop"
            )
        if response.status_code != 200 or not isinstance(body, dict):
            raise PlatformError(f"Shopify token exchange: unexpected HTTP {response.status_code}")
        value, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(value, str) or not value:
            raise PlatformError("Shopify token exchange: the answer carries no access_token")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 86399.0
        self.exchanges += 1
        return _Token(value, started + lifetime, lifetime)


class StaticToken:
    """A legacy custom app's Admin API token: nothing to exchange or refresh."""

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self) -> str:
        return self._token

    def invalidate(self, token: str) -> None:
        """A static token that is refused stays refused: the caller raises."""


Credentials = ClientCredentials | StaticToken

_cache: dict[tuple[str, str], ClientCredentials] = {}
_cache_lock = threading.Lock()


def client_credentials(http: PlatformHTTP, client_id: str, client_secret: str) -> ClientCredentials:
    """The process's one token source for this shop and app (shared by every client)."""
    key = (http.base_url, client_id)
    with _cache_lock:
        found = _cache.get(key)
        if found is None or found._secret != client_secret or found.http.client is not http.client:
            found = _cache[key] = ClientCredentials(http, client_id, client_secret)
        return found
