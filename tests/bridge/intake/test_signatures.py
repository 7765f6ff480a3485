"""Known-answer tests.

The vectors were computed offline, once, with
`printf %s BODY | openssl dgst -sha256 -hmac KEY -binary | base64`.
"""

import json

import pytest

from bridge.config import parse_config
from bridge.errors import ConfigError, SignatureError
from bridge.intake.signatures import ShopifyVerifier, WooCommerceVerifier

# Escaped the way Shopify's serializer writes it: `\/`, `\u0026`, `\u003c`, `\u00e9`.
SHOPIFY_BODY = (
    b'{"id":820982911946154508,"admin_graphql_api_id":"gid:\\/\\/shopify\\/Order\\/820982911946154508",'
    b'"name":"#1001","note":"Caf\\u00e9 \\u0026 cr\\u00e8me \\u003cb\\u003e",'
    b'"total_price":"199.00","updated_at":"2024-05-02T10:11:12-04:00"}'
)
SHOPIFY_SECRET = b"test-shopify-client-secret-5f1c9a0e2b7d4e8f"
SHOPIFY_OLD_SECRET = b"test-shopify-old-secret-0123456789ab"
SHOPIFY_HMAC = "fpJtOreWeNUnF2Q3SzZvb+XkLzzgGKuvSM3CBpnai+U="
SHOPIFY_OLD_HMAC = "4hxD6trkzb1kvEp82peU5C4pajid04nQ22aVjmoxn14="
SHOPIFY_HEX = "7e926d3ab79678d5271764374b366f6fe5e42f3ce018abaf48cdc20699da8be5"

# Written by PHP's json_encode with default flags: `\/` and `\uXXXX` for non-ASCII.
WC_BODY = (
    b'{"id":727,"number":"727","status":"processing","billing":{"first_name":"Jos\\u00e9",'
    b'"phone":"+33 6 12 34 56 78"},"_links":{"self":[{"href":'
    b'"https:\\/\\/shop.example.com\\/wp-json\\/wc\\/v3\\/orders\\/727"}]},'
    b'"date_modified_gmt":"2017-03-22T19:28:08"}'
)
WC_SECRET = b"wc_7Kq2xP9vLm4Tz8Rb3Nc6Yh1Jd5Fg0Sa"
WC_OLD_SECRET = b"wc_old_secret_4242"
WC_SIGNATURE = "ApjNWh92fg0I6w5yHKt6hHtKKVXgeK59Tp+ZC8YVRj8="
WC_OLD_SIGNATURE = "bR9PBmKaC92Jbe+LqARZ7fUWU/LLlqbEASQYR6lGOck="


def shopify(header: str) -> dict[str, str]:
    return {"X-Shopify-Hmac-Sha256": header}


def wc(header: str) -> dict[str, str]:
    return {"X-WC-Webhook-Signature": header}


def test_shopify_known_vector_is_valid() -> None:
    ShopifyVerifier([SHOPIFY_SECRET]).verify(SHOPIFY_BODY, shopify(SHOPIFY_HMAC))


def test_woocommerce_known_vector_is_valid() -> None:
    WooCommerceVerifier([WC_SECRET]).verify(WC_BODY, wc(WC_SIGNATURE))


def test_sign_reproduces_known_vectors() -> None:
    assert ShopifyVerifier.sign(SHOPIFY_BODY, SHOPIFY_SECRET) == SHOPIFY_HMAC
    assert ShopifyVerifier.sign(SHOPIFY_BODY, SHOPIFY_OLD_SECRET) == SHOPIFY_OLD_HMAC
    assert WooCommerceVerifier.sign(WC_BODY, WC_SECRET) == WC_SIGNATURE
    assert WooCommerceVerifier.sign(WC_BODY, WC_OLD_SECRET) == WC_OLD_SIGNATURE


@pytest.mark.parametrize(
    "headers",
    [
        {"x-shopify-hmac-sha256": SHOPIFY_HMAC},
        {"X-SHOPIFY-HMAC-SHA256": SHOPIFY_HMAC},
        {"X-Shopify-Hmac-SHA256": SHOPIFY_HMAC},
    ],
)
def test_header_name_is_case_insensitive(headers: dict[str, str]) -> None:
    ShopifyVerifier([SHOPIFY_SECRET]).verify(SHOPIFY_BODY, headers)


def test_reserialised_body_fails() -> None:
    for body, verifier, header in [
        (SHOPIFY_BODY, ShopifyVerifier([SHOPIFY_SECRET]), shopify(SHOPIFY_HMAC)),
        (WC_BODY, WooCommerceVerifier([WC_SECRET]), wc(WC_SIGNATURE)),
    ]:
        reserialised = json.dumps(json.loads(body), separators=(",", ":")).encode()
        assert reserialised != body
        with pytest.raises(SignatureError, match="no secret matches"):
            verifier.verify(reserialised, header)


def test_one_changed_byte_fails() -> None:
    tampered = SHOPIFY_BODY.replace(b"199.00", b"109.00")
    with pytest.raises(SignatureError, match="no secret matches"):
        ShopifyVerifier([SHOPIFY_SECRET]).verify(tampered, shopify(SHOPIFY_HMAC))


def test_old_secret_still_verifies_during_rotation() -> None:
    verifier = ShopifyVerifier([SHOPIFY_SECRET, SHOPIFY_OLD_SECRET])
    verifier.verify(SHOPIFY_BODY, shopify(SHOPIFY_HMAC))
    verifier.verify(SHOPIFY_BODY, shopify(SHOPIFY_OLD_HMAC))
    WooCommerceVerifier([WC_SECRET, WC_OLD_SECRET]).verify(WC_BODY, wc(WC_OLD_SIGNATURE))


def test_retired_secret_fails() -> None:
    with pytest.raises(SignatureError, match="no secret matches"):
        ShopifyVerifier([SHOPIFY_SECRET]).verify(SHOPIFY_BODY, shopify(SHOPIFY_OLD_HMAC))


def test_other_platforms_header_is_missing_signature() -> None:
    with pytest.raises(SignatureError, match="missing signature"):
        WooCommerceVerifier([WC_SECRET]).verify(WC_BODY, shopify(WC_SIGNATURE))


@pytest.mark.parametrize("headers", [{}, wc(""), wc("   ")])
def test_missing_signature_fails(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError, match="missing signature"):
        WooCommerceVerifier([WC_SECRET]).verify(WC_BODY, headers)


@pytest.mark.parametrize(
    "header",
    [
        "not base64!",
        "ApjNWh92fg0I6w5yHKt6hHtKKVXgeK59Tp+ZC8YVRj8",  # padding cut off
        "ApjNWh92fg0I6w5yHKt6hHtKKVXgeK59Tp-ZC8YVRj8=",  # urlsafe alphabet
        "AAAA",  # valid base64, wrong length
        "sha256=" + WC_SIGNATURE,
    ],
)
def test_garbage_signature_is_malformed(header: str) -> None:
    with pytest.raises(SignatureError, match="malformed signature"):
        WooCommerceVerifier([WC_SECRET]).verify(WC_BODY, wc(header))


def test_hex_digest_fails() -> None:
    # 64 hex characters happen to be valid base64, but decode to 48 bytes, not 32.
    with pytest.raises(SignatureError, match="malformed signature"):
        ShopifyVerifier([SHOPIFY_SECRET]).verify(SHOPIFY_BODY, shopify(SHOPIFY_HEX))


def test_empty_secret_list_is_refused() -> None:
    with pytest.raises(ValueError):
        ShopifyVerifier([])
    with pytest.raises(ValueError):
        WooCommerceVerifier([b""])


@pytest.mark.parametrize("secrets", ["[]", '[""]'])
def test_config_refuses_empty_secrets(secrets: str) -> None:
    text = f"""
[stores.main]
platform = "shopify"
kanal_store_id = 1
kanal_api_key = "k"
webhook_secrets = {secrets}
"""
    with pytest.raises(ConfigError, match="webhook_secrets"):
        parse_config(text, {})
