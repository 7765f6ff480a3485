"""Webhook signature verifiers, one small class per platform (Standard Webhooks style).

Both platforms sign the same way: base64 of HMAC-SHA256 over the raw request body. The
bytes must be the ones on the wire: Shopify and PHP escape `/` as `\\/` and write `\\uXXXX`
escapes, so a parsed and re-serialised body never matches. Every configured secret is tried
(secret rotation), each compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence

from bridge.errors import SignatureError

_DIGEST_SIZE = hashlib.sha256().digest_size


class _HmacSha256Verifier:
    header: str

    def __init__(self, secrets: Sequence[bytes]) -> None:
        if not secrets or not all(secrets):
            raise ValueError("at least one non-empty secret is required")
        self._secrets = tuple(secrets)

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Return if one of the secrets signed `body`, else raise SignatureError."""
        lowered = {name.lower(): value for name, value in headers.items()}
        value = lowered.get(self.header, "").strip()
        if not value:
            raise SignatureError("missing signature")
        try:
            sent = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError("malformed signature") from None
        if len(sent) != _DIGEST_SIZE:
            raise SignatureError("malformed signature")
        # No early exit: every secret costs the same, whichever one matches.
        matched = False
        for secret in self._secrets:
            expected = hmac.new(secret, body, hashlib.sha256).digest()
            matched |= hmac.compare_digest(expected, sent)
        if not matched:
            raise SignatureError("no secret matches")

    @staticmethod
    def sign(body: bytes, secret: bytes) -> str:
        """The header value the platform would send for `body` signed with `secret`."""
        return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode("ascii")


class ShopifyVerifier(_HmacSha256Verifier):
    """`X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body with the app's client secret."""

    header = "x-shopify-hmac-sha256"


class WooCommerceVerifier(_HmacSha256Verifier):
    """`X-WC-Webhook-Signature`: base64 HMAC-SHA256 of the raw body with the webhook's secret."""

    header = "x-wc-webhook-signature"


Verifier = ShopifyVerifier | WooCommerceVerifier
