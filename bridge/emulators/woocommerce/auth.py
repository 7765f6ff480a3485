"""Who is calling: WooCommerce's REST key authentication (`WC_REST_Authentication`).

Over HTTPS WooCommerce reads the key and secret from the query string (`consumer_key`,
`consumer_secret`) when both are there, else from HTTP Basic. An unknown key is not an error
by itself: the request goes on unauthenticated and the endpoint's permission check refuses it
(401 `woocommerce_rest_cannot_view`…). A known key with the wrong secret is refused at once
(401 `woocommerce_rest_authentication_error`), and so is a key used for a method its
permissions do not cover (read / write / read_write: also 401, before routing).

The emulator serves plain http on loopback and accepts Basic there too, as a real shop does
only over HTTPS (over plain http WooCommerce expects OAuth 1.0a signatures, not emulated).
"""

from __future__ import annotations

import base64
import binascii
import hmac

from starlette.requests import Request

from bridge.emulators.woocommerce.rest import RestError
from bridge.emulators.woocommerce.state import ApiKey, ShopState

CREDENTIAL_PARAMS = ("consumer_key", "consumer_secret")


def _basic(request: Request) -> tuple[str, str]:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return "", ""
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password


def credentials(request: Request) -> tuple[str, str]:
    """The key and secret the request presents (query string first, as WooCommerce reads)."""
    query = request.query_params
    if query.get("consumer_key") and query.get("consumer_secret"):
        return query["consumer_key"], query["consumer_secret"]
    return _basic(request)


def authenticate(request: Request, state: ShopState) -> ApiKey | None:
    """The key the request authenticates as, or None (unauthenticated); RestError when a
    known key comes with the wrong secret or cannot be used for this method."""
    key_text, secret = credentials(request)
    if not key_text or not secret:
        return None
    key = state.keys.get(key_text)
    if key is None:
        return None
    if not hmac.compare_digest(key.consumer_secret.encode(), secret.encode()):
        raise RestError(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
    method = request.method
    if not key.may(method):
        wanted = "read" if method in ("GET", "HEAD") else "write"
        raise RestError(
            401,
            "woocommerce_rest_authentication_error",
            f"The API key provided does not have {wanted} permissions.",
        )
    return key


def refuse(key: ApiKey | None, code: str, message: str) -> RestError:
    """A permission callback's refusal: 401 when nobody is authenticated, 403 when the key's
    user is not allowed (`rest_authorization_required_code`)."""
    return RestError(401 if key is None else 403, code, message)
