"""The bridge's exceptions, in one place.

    BridgeError
    ├── ConfigError            the configuration is unusable; names the key (start-up, check-config)
    ├── SignatureError         a webhook is unsigned, or signed with none of the store's secrets
    ├── PayloadError           a verified webhook body is not a JSON object (400)
    ├── StorageUnavailable     Redis cannot store the delivery durably right now (503)
    ├── KanalError             a call to Kanal's API did not succeed
    │   ├── KanalTransient     worth retrying with backoff: refused or timed-out connection,
    │   │   │                  408, 409, 425, 500, 502, 503 (the request was not applied)
    │   │   ├── KanalUnanswered    sent, but no answer came back (read timeout, connection cut,
    │   │   │                      response cut short, 504): it may have been applied
    │   │   └── KanalRateLimited   429: the Kanal store is paused for `retry_after` seconds
    │   ├── KanalStoreRejected 401, 403, 404 on a POST or DELETE: about the Kanal store or its
    │   │                      key, not the record: the store is held, its records stay pending
    │   └── KanalPermanent     retrying cannot help: 400, 422, other 4xx (failed registry)
    │       └── KanalNotFound  404 on PATCH: Kanal lacks the record (the worker POSTs it)
    └── PlatformError          a call to a shop's own API (Shopify Admin, WooCommerce REST) failed
        ├── PlatformUnavailable    network errors, timeouts, 5xx, 429, still after the retries
        ├── PlatformAuthError      401/403: credentials wrong, revoked, or short of a permission
        │   └── WooCommerceAuthError   WooCommerce's 401/403 (also a WooCommerceError)
        ├── PlatformThrottled      the shop's API budget needs a longer wait than the caller
        │                          allows: `wait` seconds (worker jobs reschedule for then)
        ├── ShopifyGraphQLError    Shopify answered a query with GraphQL `errors` (names the
        │                          query and Shopify's error codes)
        ├── ShopifyUserErrors      Shopify refused a mutation with `userErrors` (names the
        │                          mutation and each field)
        └── WooCommerceError       WooCommerce answered {code, message, data.status} (or no JSON)

The worker's retry decision reads from this tree (`KanalError.from_response` for answers,
`KanalError.from_exception` for requests that got none), never from status codes scattered
around the code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

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
        method = response.request.method
        message = f"Kanal answered {status} to {method} {response.request.url.path}: {body}"
        if status == 429:
            return KanalRateLimited(message, retry_after=_retry_after(response), body=body)
        if status == 504:
            return KanalUnanswered(message, status=status, body=body)
        if status >= 500 or status in (408, 409, 425):
            return KanalTransient(message, status=status, body=body)
        if status in (401, 403):
            return KanalStoreRejected(message, status=status, body=body, reason=KEY_REJECTED)
        if status == 404:
            if method != "PATCH" or _STORE_NOT_FOUND in body.lower():
                return KanalStoreRejected(message, status=status, body=body, reason=STORE_PAUSED)
            return KanalNotFound(message, status=status, body=body)
        return KanalPermanent(message, status=status, body=body)

    @staticmethod
    def from_exception(method: str, path: str, exc: httpx.HTTPError) -> KanalError:
        """Classify a request that got no (complete) answer: was it sent, could it have landed?"""
        message = f"{method} {path}: {exc.__class__.__name__}"
        if isinstance(exc, _NOT_SENT):
            return KanalTransient(message)
        if isinstance(exc, httpx.TransportError):
            return KanalUnanswered(message)
        return KanalTransient(message)


# Why Kanal refused a whole store (`KanalStoreRejected.reason`, also a metric label).
KEY_REJECTED = "key_rejected"  # 401: key unknown or revoked; 403: key not valid for this store
STORE_PAUSED = "store_paused"  # 404 on a POST: the store does not exist or is paused in Kanal

# Kanal's body for a store it does not know or has paused; a PATCH answered 404 with it is
# about the store, not the record (Kanal's reference, errors: {"error": "Store not found or
# paused"}).
_STORE_NOT_FOUND = "store not found"

# Failures before a single byte of the request left: Kanal cannot have applied it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class KanalTransient(KanalError):
    """A failure worth retrying with backoff: network, timeout, 5xx, 429."""


class KanalUnanswered(KanalTransient):
    """The request went out but no answer came back: Kanal may or may not have applied it."""


class KanalRateLimited(KanalTransient):
    """Kanal answered 429: pause this Kanal store for `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float, body: str = "") -> None:
        super().__init__(message, status=429, body=body)
        self.retry_after = retry_after


class KanalStoreRejected(KanalError):
    """Kanal refused the store or its key (401, 403, 404 on POST): `reason` says which."""

    def __init__(self, message: str, *, status: int, body: str = "", reason: str) -> None:
        super().__init__(message, status=status, body=body)
        self.reason = reason


class KanalPermanent(KanalError):
    """A failure retrying cannot fix: the job lands in the failed registry with Kanal's answer."""


class KanalNotFound(KanalPermanent):
    """PATCH answered 404: Kanal does not hold the record, so it must be POSTed whole."""


def _retry_after(response: httpx.Response) -> float:
    """Seconds from Retry-After (delta-seconds or an HTTP-date), within bounds; a default
    when the header is missing or unreadable."""
    from bridge.defaults import DEFAULT_RETRY_AFTER, MAX_RETRY_AFTER

    value = response.headers.get("retry-after", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER
    if seconds != seconds:  # NaN
        return DEFAULT_RETRY_AFTER
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


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


class WooCommerceError(PlatformError):
    """WooCommerce refused a call. `str()` says what failed and what to do; `code`
    (`woocommerce_rest_…`, `rest_…`; empty when the answer was not WooCommerce's JSON),
    `message` (WooCommerce's own words) and `status` (HTTP) are its answer as given."""

    def __init__(self, text: str, *, code: str = "", message: str = "", status: int = 0) -> None:
        super().__init__(text)
        self.code = code
        self.message = message
        self.status = status


class WooCommerceAuthError(WooCommerceError, PlatformAuthError):
    """WooCommerce answered 401/403: the REST key is wrong, read-only, or its user cannot
    manage the shop; the message says which and what to change."""
