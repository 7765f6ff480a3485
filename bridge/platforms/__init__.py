"""The shops' own APIs: Shopify's GraphQL Admin API and WooCommerce's REST API, and what the
bridge does with them (subscriptions, backfill, reconciliation)."""
