"""The bridge's exceptions, in one place.

    BridgeError
    ├── ConfigError            the configuration is unusable; names the key (start-up, check-config)
    ├── SignatureError         a webhook is unsigned, or signed with none of the store's secrets
    ├── PayloadError           a verified webhook body is not a JSON object (400)
    ├── StorageUnavailable     Redis cannot store the delivery durably right now (503)
    ├── KanalError             a call to Kanal's API did not succeed
    │   ├── KanalTransient     worth retrying: network error, timeout, 5xx, 429
    │   │   └── KanalRateLimited   429: the store is paused for `retry_after` seconds
    │   └── KanalPermanent     retrying cannot help: 400, 401, 403, 404, 422 (failed registry)
    │       └── KanalNotFound  404 on PATCH: Kanal lacks the record (the worker POSTs it)
    └── PlatformError          a call to a shop's own API (Shopify Admin, WooCommerce REST) failed
        ├── PlatformUnavailable    network errors, timeouts, 5xx, 429, still after the retries
        ├── PlatformAuthError      401/403: credentials wrong, revoked, or short of a permission
        ├── PlatformThrottled      the shop's API budget needs a longer wait than the caller
        │                          allows: `wait` seconds (worker jobs reschedule for then)
        ├── ShopifyGraphQLError    Shopify answered a query with GraphQL `errors` (names the
        │                          query and Shopify's error codes)
        └── ShopifyUserErrors      Shopify refused a mutation with `userErrors` (names the
                                   mutation and each field)

The worker's retry decision reads from this tree (`KanalError.from_response`),
never from status codes scattered around the code.
"""

from __future__ import annotations

import httpx


class BridgeError(Exception):
    """Base class of every error the bridge raises on purpose."""


class ConfigError(BridgeError):
    """The configuration cannot be used; the message names the offending key."""


class SignatureError(BridgeError):
    """The webhook's signature is missing or matches none of the store's secrets."""


class PayloadError(BridgeError):
    """A verified webhook body is not a JSON object."""


class StorageUnavailable(BridgeError):
    """Redis cannot durably store a delivery right now; the platform must retry."""


class KanalError(BridgeError):
    """A Kanal API call failed; `status` is 0 for network errors."""

    def __init__(self, message: str, *, status: int = 0, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body

    @staticmethod
    def from_response(response: httpx.Response) -> KanalError:
        """Classify an unsuccessful Kanal response into the tree above."""
        status = response.status_code
        body = response.text[:2000]
        request = response.request
        message = f"Kanal answered {status} to {request.method} {request.url.path}: {body}"
        if status == 429:
            return KanalRateLimited(message, retry_after=_retry_after(response), body=body)
        if status >= 500 or status in (408, 409, 425):
            return KanalTransient(message, status=status, body=body)
        if status == 404 and response.request.method == "PATCH":
            return KanalNotFound(message, status=status, body=body)
        return KanalPermanent(message, status=status, body=body)


class KanalTransient(KanalError):
    """A failure worth retrying with backoff: network, timeout, 5xx, 429."""


class KanalRateLimited(KanalTransient):
    """Kanal answered 429: pause this Kanal store for `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float, body: str = "") -> None:
        super().__init__(message, status=429, body=body)
        self.retry_after = retry_after


class KanalPermanent(KanalError):
    """A failure retrying cannot fix: the job lands in the failed registry with Kanal's answer."""


class KanalNotFound(KanalPermanent):
    """PATCH answered 404: Kanal does not hold the record, so it must be POSTed whole."""


def _retry_after(response: httpx.Response) -> float:
    from bridge.defaults import DEFAULT_RETRY_AFTER

    try:
        return max(float(response.headers.get("retry-after", "")), 0.0)
    except ValueError:
        return DEFAULT_RETRY_AFTER


class PlatformError(BridgeError):
    """A call to a shop's own API did not succeed; the message names the call."""


class PlatformUnavailable(PlatformError):
    """The shop's API did not answer usefully (network, timeout, 5xx, 429) after the retries."""


class PlatformAuthError(PlatformError):
    """The shop refused the credentials (401) or they lack a scope or permission (403)."""


class PlatformThrottled(PlatformError):
    """The shop's API budget needs `wait` seconds before the next call, more than the caller
    allows: a worker job reschedules itself for then instead of sleeping."""

    def __init__(self, message: str, *, wait: float) -> None:
        super().__init__(message)
        self.wait = wait


class ShopifyGraphQLError(PlatformError):
    """A GraphQL query got `errors` instead of (or beside) data; `codes` are Shopify's
    `extensions.code` values (ACCESS_DENIED, MAX_COST_EXCEEDED, undefinedField...)."""

    def __init__(self, message: str, *, codes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.codes = codes


class ShopifyUserErrors(PlatformError):
    """A mutation was refused: `errors` are Shopify's userErrors ({field, message})."""

    def __init__(self, message: str, *, errors: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.errors = errors
