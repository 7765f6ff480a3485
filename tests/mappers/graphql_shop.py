"""The Shopify emulator in-process: one shop's records, and the GraphQL nodes the bridge's page
queries return for them (each record is both its webhook body and its GraphQL node, derived
from one model object by the emulator)."""

from __future__ import annotations

import json
from typing import Any

from bridge.emulators.shopify.api import AdminAPI
from bridge.emulators.shopify.shop import ShopData, webhook_body
from bridge.emulators.shopify.state import App, ShopifyState
from bridge.platforms import shopify_queries

APP = App("graphql-tests", "secret", scopes=("read_orders", "read_all_orders", "read_customers"))
VERSION = "2026-10"


def new_shop(utc_offset_minutes: int = 0) -> ShopifyState:
    shop = ShopData("graphql-tests.myshopify.com", utc_offset_minutes=utc_offset_minutes)
    return ShopifyState(shop, [APP], max_query_cost=10**6)


def query(state: ShopifyState, document: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Run one query as the app; its `data` (errors fail the test)."""
    state.buckets[APP.client_id].available = state.buckets[APP.client_id].maximum
    answer = AdminAPI(state).handle(APP, VERSION, {"query": document, "variables": variables})
    body = json.loads(json.dumps(answer.body))
    assert answer.status == 200 and not body.get("errors"), body
    data: dict[str, Any] = body["data"]
    return data


def nodes(state: ShopifyState, resource: str, first: int = 50) -> list[dict[str, Any]]:
    """Every node of `resource` as the bridge's page query returns it."""
    document = shopify_queries.page_query(resource)
    data = query(state, document, {"first": first, "after": None, "query": None})
    found: list[dict[str, Any]] = data["page"]["nodes"]
    return found


def webhook(record: dict[str, Any]) -> dict[str, Any]:
    """What a webhook carries for `record` (checkouts: no numeric id since API 2026-04)."""
    body = json.loads(json.dumps(webhook_body(record)))
    assert isinstance(body, dict)
    return body
