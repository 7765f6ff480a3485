"""Webhook topics: the GraphQL enum, the REST name a delivery carries, the scope it needs."""

from __future__ import annotations

# WebhookSubscriptionTopic value → (X-Shopify-Topic, access scope needed to subscribe).
TOPICS: dict[str, tuple[str, str | None]] = {
    "APP_UNINSTALLED": ("app/uninstalled", None),
    "BULK_OPERATIONS_FINISH": ("bulk_operations/finish", None),
    "CHECKOUTS_CREATE": ("checkouts/create", "read_orders"),
    "CHECKOUTS_DELETE": ("checkouts/delete", "read_orders"),
    "CHECKOUTS_UPDATE": ("checkouts/update", "read_orders"),
    "CUSTOMERS_CREATE": ("customers/create", "read_customers"),
    "CUSTOMERS_DELETE": ("customers/delete", "read_customers"),
    "CUSTOMERS_PURCHASING_SUMMARY": ("customers/purchasing_summary", "read_customers"),
    "CUSTOMERS_UPDATE": ("customers/update", "read_customers"),
    "CUSTOMER_TAGS_ADDED": ("customer.tags_added", "read_customers"),
    "CUSTOMER_TAGS_REMOVED": ("customer.tags_removed", "read_customers"),
    "FULFILLMENTS_CREATE": ("fulfillments/create", "read_fulfillments"),
    "FULFILLMENTS_UPDATE": ("fulfillments/update", "read_fulfillments"),
    "FULFILLMENT_EVENTS_CREATE": ("fulfillment_events/create", "read_fulfillments"),
    "ORDERS_CANCELLED": ("orders/cancelled", "read_orders"),
    "ORDERS_CREATE": ("orders/create", "read_orders"),
    "ORDERS_DELETE": ("orders/delete", "read_orders"),
    "ORDERS_EDITED": ("orders/edited", "read_orders"),
    "ORDERS_FULFILLED": ("orders/fulfilled", "read_orders"),
    "ORDERS_PAID": ("orders/paid", "read_orders"),
    "ORDERS_PARTIALLY_FULFILLED": ("orders/partially_fulfilled", "read_orders"),
    "ORDERS_UPDATED": ("orders/updated", "read_orders"),
    "REFUNDS_CREATE": ("refunds/create", "read_orders"),
}

BY_REST_NAME: dict[str, str] = {rest: enum for enum, (rest, _) in TOPICS.items()}
