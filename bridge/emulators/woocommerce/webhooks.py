"""A WooCommerce webhook as `WC_Webhook` keeps it, its topics, and its REST representation.

Sources (woocommerce/woocommerce, plugins/woocommerce/): `includes/class-wc-webhook.php`
(topics and hooks, signature, failure counting), `includes/wc-webhook-functions.php`
(valid topics and statuses), `includes/rest-api/Controllers/Version2/
class-wc-rest-webhooks-v2-controller.php` (the item as the REST API shows it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bridge.emulators.woocommerce.clock import SiteClock

STATUSES = ("active", "paused", "disabled")

# `WC_Webhook::get_default_topic_hooks`: the WordPress actions each topic listens to.
TOPIC_HOOKS: dict[str, list[str]] = {
    "coupon.created": ["woocommerce_process_shop_coupon_meta", "woocommerce_new_coupon"],
    "coupon.updated": ["woocommerce_process_shop_coupon_meta", "woocommerce_update_coupon"],
    "coupon.deleted": ["wp_trash_post"],
    "coupon.restored": ["untrashed_post"],
    "customer.created": [
        "user_register",
        "woocommerce_created_customer",
        "woocommerce_new_customer",
    ],
    "customer.updated": ["profile_update", "woocommerce_update_customer"],
    "customer.deleted": ["delete_user"],
    "order.created": ["woocommerce_new_order"],
    "order.updated": [
        "woocommerce_update_order",
        "woocommerce_order_refunded",
        "woocommerce_delete_order_refund",
    ],
    "order.deleted": ["wp_trash_post", "woocommerce_trash_order"],
    "order.restored": ["untrashed_post", "woocommerce_untrash_order"],
    "product.created": [
        "woocommerce_process_product_meta",
        "woocommerce_new_product",
        "woocommerce_new_product_variation",
    ],
    "product.updated": [
        "woocommerce_process_product_meta",
        "woocommerce_update_product",
        "woocommerce_update_product_variation",
    ],
    "product.deleted": ["wp_trash_post"],
    "product.restored": ["untrashed_post"],
}

# `wc_is_webhook_valid_topic`: custom `action.*` topics WooCommerce refuses outright.
INVALID_ACTION_TOPICS = frozenset(
    {
        "action.woocommerce_login_credentials",
        "action.woocommerce_product_csv_importer_check_import_file_path",
        "action.woocommerce_webhook_should_deliver",
    }
)

# `wp_generate_password(50, true, true)`: letters, digits, special and extra special characters.
_SECRET_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@#$%^&*()-_ []{}<>~`+=,.;:/?|"
)


def valid_topic(topic: str) -> bool:
    """`wc_is_webhook_valid_topic`: a resource.event pair, or a custom action topic."""
    if topic in INVALID_ACTION_TOPICS:
        return False
    if topic.startswith(("action.woocommerce_", "action.wc_")):
        return True
    return topic in TOPIC_HOOKS


def valid_url(url: str) -> bool:
    """`wc_is_valid_url`: starts with http:// or https:// and parses as a URL with a host."""
    if not url.startswith(("http://", "https://")):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return bool(parts.hostname) and " " not in url


def generate_secret() -> str:
    """What WooCommerce sets when a webhook is created without a secret: 50 random characters."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(50))


def hmac_key(secret: str) -> bytes:
    """The HMAC key WooCommerce uses: the secret after `wp_specialchars_decode(…, ENT_QUOTES)`."""
    decoded = secret
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#039;", "'")):
        decoded = decoded.replace(entity, char)
    return decoded.replace("&amp;", "&").encode()


def signature(body: bytes, secret: str) -> str:
    """`X-WC-Webhook-Signature`: base64 of HMAC-SHA256 over the exact body bytes."""
    digest = hmac.new(hmac_key(secret), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(slots=True)
class Webhook:
    """One row of `{prefix}wc_webhooks`, with what the REST API does not show
    (`failure_count`, `pending_delivery`, `api_version`, `user_id`)."""

    id: int
    name: str
    topic: str
    delivery_url: str
    secret: str = field(repr=False)
    status: str = "active"
    user_id: int = 1
    api_version: int = 3
    failure_count: int = 0
    pending_delivery: bool = True
    created: int = 0  # unix seconds
    modified: int = 0

    @property
    def resource(self) -> str:
        return self.topic.split(".", 1)[0] if self.topic else ""

    @property
    def event(self) -> str:
        return self.topic.split(".", 1)[1] if "." in self.topic else ""

    @property
    def hooks(self) -> list[str]:
        if self.resource == "action":
            return [self.event]
        return list(TOPIC_HOOKS.get(self.topic, []))

    def rest(self, clock: SiteClock, site_url: str) -> dict[str, Any]:
        """The item as the REST API shows it. Never the secret: the v1/v2 controllers list it
        in the schema (context `edit`) but `prepare_item_for_response` never adds it."""
        item: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "topic": self.topic,
            "resource": self.resource,
            "event": self.event,
            "hooks": self.hooks,
            "delivery_url": self.delivery_url,
        }
        item["date_created"] = clock.local(self.created)
        item["date_created_gmt"] = clock.gmt(self.created)
        item["date_modified"] = clock.local(self.modified)
        item["date_modified_gmt"] = clock.gmt(self.modified)
        base = f"{site_url}/wp-json/wc/v3/webhooks"
        item["_links"] = {
            "self": [{"href": f"{base}/{self.id}"}],
            "collection": [{"href": base}],
        }
        return item

    def inspect(self) -> dict[str, Any]:
        """Everything, for the control API (tests read failure counts and secrets here)."""
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "topic": self.topic,
            "delivery_url": self.delivery_url,
            "secret": self.secret,
            "user_id": self.user_id,
            "api_version": f"wp_api_v{self.api_version}",
            "failure_count": self.failure_count,
            "pending_delivery": self.pending_delivery,
            "created": self.created,
            "modified": self.modified,
        }
