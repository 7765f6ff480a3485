"""The GraphQL documents the bridge sends to Shopify's Admin API.

The node selections are what the GraphQL mapper reads from each record (the webhook mapper's
fields, in GraphQL names); a caller may pass its own selection instead. Shopify charges a
query for what it could return (`first` of every connection), so the selections ask for the
first few line items (with `pageInfo` to fetch the rest of a longer order apart) and page
sizes keep a page's requested cost under Shopify's 1,000-point maximum for one query; the
answer's actual cost, usually far lower, is what the bucket keeps.
"""

from __future__ import annotations

from mappers.shopify_graphql import (
    CHECKOUT_LINE_ITEM_SELECTION,
    CHECKOUT_SELECTION,
    CUSTOMER_SELECTION,
    ORDER_LINE_ITEM_SELECTION,
    ORDER_SELECTION,
)

# The node selections are the GraphQL mapper's (mappers/shopify_graphql.py): exactly what it
# reads, so that what is fetched and what is sent cannot drift apart.
ORDER_FIELDS = ORDER_SELECTION
CUSTOMER_FIELDS = CUSTOMER_SELECTION
CHECKOUT_FIELDS = CHECKOUT_SELECTION

# Default page sizes: the requested cost of a page stays under 800 of Shopify's 1,000-point
# maximum for one query (orders 742, customers 752, checkouts 742;
# tests/bridge/platforms/test_shopify_queries.py computes them with the emulator's cost rules).
PAGE_SIZES = {"orders": 20, "customers": 150, "checkouts": 20}

# Line items past the first page of an order or checkout, 100 at a time (requested cost 503
# for an order, 505 for a checkout).
LINE_ITEMS_PAGE = 100

# connection field, sort key, node selection
RESOURCES: dict[str, tuple[str, str, str]] = {
    "orders": ("orders", "UPDATED_AT", ORDER_FIELDS),
    "customers": ("customers", "UPDATED_AT", CUSTOMER_FIELDS),
    # Abandoned checkouts cannot be sorted by update time: by id, filtered on updated_at.
    "checkouts": ("abandonedCheckouts", "ID", CHECKOUT_FIELDS),
}
COUNTS = {
    "orders": "ordersCount",
    "customers": "customersCount",
    "checkouts": "abandonedCheckoutsCount",
}


def page_query(resource: str, selection: str | None = None) -> str:
    """One page of `resource` (orders, customers, checkouts) matching a search string."""
    field, sort_key, fields = RESOURCES[resource]
    name = f"{resource.capitalize()}Page"
    return (
        f"query {name}($first: Int!, $after: String, $query: String) {{\n"
        f"  page: {field}(first: $first, after: $after, query: $query, sortKey: {sort_key}) {{\n"
        f"    nodes {{ {selection or fields} }}\n"
        "    pageInfo { hasNextPage endCursor }\n"
        "  }\n"
        "}"
    )


ORDER_LINE_ITEMS = f"""
query OrderLineItems($id: ID!, $after: String) {{
  order(id: $id) {{
    lineItems(first: {LINE_ITEMS_PAGE}, after: $after) {{
      nodes {{ {ORDER_LINE_ITEM_SELECTION} }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}"""

# Shopify has no root field for one abandoned checkout: the list, searched by id.
CHECKOUT_LINE_ITEMS = f"""
query CheckoutLineItems($query: String!, $after: String) {{
  abandonedCheckouts(first: 1, query: $query) {{
    nodes {{
      lineItems(first: {LINE_ITEMS_PAGE}, after: $after) {{
        nodes {{ {CHECKOUT_LINE_ITEM_SELECTION} }}
        pageInfo {{ hasNextPage endCursor }}
      }}
    }}
  }}
}}"""


def count_query(resource: str) -> str:
    return (
        f"query {resource.capitalize()}Count($query: String, $limit: Int) {{\n"
        f"  count: {COUNTS[resource]}(query: $query, limit: $limit) {{ count precision }}\n"
        "}"
    )


SHOP = "query Shop { shop { id name myshopifyDomain currencyCode ianaTimezone } }"

SUBSCRIPTION_FIELDS = "id topic uri format filter includeFields apiVersion { handle }"

WEBHOOK_SUBSCRIPTIONS = f"""
query WebhookSubscriptions($after: String) {{
  webhookSubscriptions(first: 100, after: $after) {{
    nodes {{ {SUBSCRIPTION_FIELDS} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""

WEBHOOK_SUBSCRIPTION_CREATE = f"""
mutation WebhookSubscriptionCreate(
  $topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!
) {{
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {{
    webhookSubscription {{ {SUBSCRIPTION_FIELDS} }}
    userErrors {{ field message }}
  }}
}}"""

WEBHOOK_SUBSCRIPTION_UPDATE = f"""
mutation WebhookSubscriptionUpdate($id: ID!, $webhookSubscription: WebhookSubscriptionInput!) {{
  webhookSubscriptionUpdate(id: $id, webhookSubscription: $webhookSubscription) {{
    webhookSubscription {{ {SUBSCRIPTION_FIELDS} }}
    userErrors {{ field message }}
  }}
}}"""

WEBHOOK_SUBSCRIPTION_DELETE = """
mutation WebhookSubscriptionDelete($id: ID!) {
  webhookSubscriptionDelete(id: $id) {
    deletedWebhookSubscriptionId
    userErrors { field message }
  }
}"""
