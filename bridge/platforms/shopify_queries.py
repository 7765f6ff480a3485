"""The GraphQL documents the bridge sends to Shopify's Admin API.

The node selections carry what the mappers need from each record (the webhook mapper's
fields, in GraphQL names); a caller may pass its own selection instead. Shopify charges a
query for what it could return (`first` of every connection), so the selections ask for the
first 10 line items (with `pageInfo.hasNextPage` to tell when an order has more) and page
sizes keep a page's requested cost under Shopify's 1,000-point maximum for one query; the
answer's actual cost, usually far lower, is what the bucket keeps.
"""

from __future__ import annotations

MONEY = "shopMoney { amount currencyCode } presentmentMoney { amount currencyCode }"
ADDRESS = (
    "firstName lastName name company address1 address2 city province provinceCode country "
    "countryCodeV2 zip phone"
)
CUSTOMER_FIELDS = f"""
  id legacyResourceId firstName lastName displayName locale note state tags verifiedEmail
  createdAt updatedAt numberOfOrders amountSpent {{ amount currencyCode }}
  defaultAddress {{ {ADDRESS} }}
  defaultEmailAddress {{ emailAddress marketingState }}
  defaultPhoneNumber {{ phoneNumber marketingState }}
"""
LINE_ITEM_FIELDS = """
  title name quantity sku variantTitle vendor
  originalUnitPriceSet { shopMoney { amount currencyCode } }
  product { legacyResourceId }
  variant { legacyResourceId }
"""
ORDER_FIELDS = f"""
  id legacyResourceId name number email phone note test tags
  createdAt updatedAt processedAt cancelledAt cancelReason closedAt
  displayFinancialStatus displayFulfillmentStatus currencyCode presentmentCurrencyCode
  totalPriceSet {{ {MONEY} }}
  customerLocale sourceName
  customAttributes {{ key value }}
  customer {{ {CUSTOMER_FIELDS} }}
  billingAddress {{ {ADDRESS} }}
  shippingAddress {{ {ADDRESS} }}
  lineItems(first: 10) {{ nodes {{ {LINE_ITEM_FIELDS} }} pageInfo {{ hasNextPage }} }}
  fulfillments(first: 2) {{
    legacyResourceId name status displayStatus createdAt updatedAt
    trackingInfo(first: 1) {{ company number url }}
  }}
"""
CHECKOUT_FIELDS = f"""
  id name abandonedCheckoutUrl note createdAt updatedAt completedAt
  customAttributes {{ key value }}
  customer {{ {CUSTOMER_FIELDS} }}
  billingAddress {{ {ADDRESS} }}
  shippingAddress {{ {ADDRESS} }}
  totalPriceSet {{ {MONEY} }}
  lineItems(first: 10) {{ nodes {{ title quantity sku variantTitle
    originalUnitPriceSet {{ shopMoney {{ amount currencyCode }} }} product {{ legacyResourceId }}
    variant {{ legacyResourceId }} }} pageInfo {{ hasNextPage }} }}
"""

# Default page sizes (requested cost per page: orders 682, customers 502, checkouts 642).
PAGE_SIZES = {"orders": 10, "customers": 100, "checkouts": 10}

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
