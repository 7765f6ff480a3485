"""The Kanal API client: one pooled httpx client per process, errors classified by `errors`."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bridge import defaults
from bridge.errors import KanalError


@dataclass(frozen=True, slots=True)
class Call:
    """One request to Kanal's commerce API, relative to a store."""

    method: str
    path: str
    body: bytes | None = None


class KanalClient:
    """Send calls to Kanal; raise a `KanalError` subclass for anything but success.

    `timeout` bounds the whole call ([kanal] timeout_seconds); a call that outlives it may
    still have been applied by Kanal (`KanalUnanswered`)."""

    def __init__(
        self,
        api_url: str,
        transport: httpx.BaseTransport | None = None,
        *,
        timeout: float = defaults.KANAL_TIMEOUT,
    ) -> None:
        connect = min(timeout, defaults.KANAL_CONNECT_TIMEOUT)
        self._http = httpx.Client(
            base_url=api_url.rstrip("/") + "/api/v1/stores/",
            timeout=httpx.Timeout(timeout, connect=connect),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
            headers={"Accept": "application/json", "User-Agent": "kanal-bridge"},
            transport=transport,
        )

    def send(self, kanal_store_id: int, api_key: str, call: Call) -> httpx.Response:
        """Make the call; the response when Kanal accepted it."""
        headers = {"Authorization": f"Bearer {api_key}"}
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._http.request(
                call.method, f"{kanal_store_id}/{call.path}", content=call.body, headers=headers
            )
        except httpx.HTTPError as exc:
            raise KanalError.from_exception(call.method, call.path, exc) from exc
        if response.is_success:
            return response
        raise KanalError.from_response(response)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()
