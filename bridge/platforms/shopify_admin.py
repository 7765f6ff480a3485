"""The Shopify GraphQL Admin API client: credentials, cost-aware pacing, clear errors, and the
calls `connect`, the watchdog, backfill and reconciliation make.

    admin = ShopifyAdmin.for_store(store)                  # StoreConfig with API credentials
    admin.webhook_subscriptions()                          # [WebhookSubscription, ...]
    admin.create_webhook_subscription("orders/create", "https://bridge.example/webhooks/shopify/main")
    page = admin.page("orders", updated_since=since, after=cursor, max_wait=0)
    page.nodes, page.end_cursor, page.has_next

Every answer's `extensions.cost.throttleStatus` updates the process's estimate of the app's
bucket on that shop (`shopify_budget`); a query is sent only when the estimate says the
bucket can afford it (its last requested cost) while keeping the reserve that `share` leaves.
When the wait is longer than `max_wait`, `PlatformThrottled` carries it instead: a worker
job passes `max_wait=0` and reschedules. A `THROTTLED` answer (Shopify's bucket was emptier
than estimated) is waited out the same way and the query sent again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bridge import defaults
from bridge.config import StoreConfig
from bridge.errors import (
    PlatformAuthError,
    PlatformError,
    PlatformThrottled,
    ShopifyGraphQLError,
    ShopifyUserErrors,
)
from bridge.platforms import shopify_queries as queries
from bridge.platforms.http import PlatformHTTP
from bridge.platforms.shopify_auth import Credentials, StaticToken, client_credentials
from bridge.platforms.shopify_budget import Budget, budget_for

logger = logging.getLogger("bridge.platforms.shopify")

# Tries of one query that Shopify answered THROTTLED (each after the wait its bucket needs).
THROTTLED_TRIES = 4

_HTTP_ERRORS = {
    402: "the shop is frozen (payment required)",
    404: "no such shop or API version",
    423: "the shop is locked",
}


def graphql_topic(topic: str) -> str:
    """The WebhookSubscriptionTopic for a REST topic: orders/create → ORDERS_CREATE."""
    return topic.replace("/", "_").replace(".", "_").upper()


@dataclass(frozen=True, slots=True)
class WebhookSubscription:
    """One of this app's subscriptions on the shop."""

    id: str  # gid://shopify/WebhookSubscription/N
    topic: str  # WebhookSubscriptionTopic (ORDERS_CREATE)
    uri: str
    format: str
    api_version: str | None = None
    filter: str | None = None  # a search filter: only matching events are delivered
    include_fields: tuple[str, ...] = ()  # only these fields are delivered (all when empty)

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> WebhookSubscription:
        version = node.get("apiVersion")
        return cls(
            id=node["id"],
            topic=node["topic"],
            uri=node["uri"],
            format=node.get("format") or "JSON",
            api_version=version.get("handle") if isinstance(version, Mapping) else None,
            filter=node.get("filter") or None,
            include_fields=tuple(node.get("includeFields") or ()),
        )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a resource: its GraphQL nodes, the cursor to resume after, and whether
    more follow."""

    nodes: list[dict[str, Any]]
    end_cursor: str | None
    has_next: bool


def search(
    updated_since: datetime | None = None, updated_before: datetime | None = None, *extra: str
) -> str:
    """A Shopify search string: `updated_at:>='…' updated_at:<'…'` and any extra terms."""
    terms = []
    if updated_since is not None:
        terms.append(f"updated_at:>='{_utc(updated_since)}'")
    if updated_before is not None:
        terms.append(f"updated_at:<'{_utc(updated_before)}'")
    return " ".join([*terms, *extra])


def _utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("a search time needs a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ShopifyAdmin:
    """GraphQL Admin API calls for one shop and one app."""

    def __init__(
        self,
        http: PlatformHTTP,
        credentials: Credentials,
        *,
        api_version: str = defaults.SHOPIFY_API_VERSION,
        budget: Budget | None = None,
        share: float = defaults.SHOPIFY_BUCKET_SHARE,
        max_wait: float = defaults.SHOPIFY_MAX_WAIT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.http = http
        self.credentials = credentials
        self.api_version = api_version
        self.path = f"/admin/api/{api_version}/graphql.json"
        self.budget = budget or Budget()
        self.share = share
        self.max_wait = max_wait
        self._sleep = sleep
        # What this client spent: queries answered, and Shopify's actual cost of them (points).
        self.queries = 0
        self.cost_spent = 0

    @classmethod
    def for_store(cls, store: StoreConfig, **options: Any) -> ShopifyAdmin:
        """The client for a configured Shopify store (which must have API credentials)."""
        base = store.shop_api_url
        if store.platform != "shopify" or not store.has_api_access or base is None:
            raise PlatformError("this store has no Shopify Admin API credentials")
        http: PlatformHTTP = options.pop("http", None) or PlatformHTTP(base)
        credentials: Credentials
        if store.admin_api_token is not None:
            token = store.admin_api_token.get_secret_value()
            credentials = StaticToken(token)
            app = "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]
        else:
            assert store.client_id and store.client_secret
            credentials = client_credentials(
                http, store.client_id, store.client_secret.get_secret_value()
            )
            app = store.client_id
        options.setdefault("budget", budget_for(http.base_url, app))
        return cls(http, credentials, api_version=store.api_version, **options)

    # -- the one way a query goes out ----------------------------------------------------

    def query(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        *,
        name: str,
        max_wait: float | None = None,
        share: float | None = None,
    ) -> dict[str, Any]:
        """Run `document`; its `data`. `name` says what the call is for, in errors and logs."""
        limit = self.max_wait if max_wait is None else max_wait
        portion = self.share if share is None else share
        for attempt in range(1, THROTTLED_TRIES + 1):
            self._pace(document, name, limit, portion)
            body = self._post(document, variables, name)
            extensions = body.get("extensions")
            self.queries += 1
            if isinstance(extensions, dict):
                self.budget.update(extensions.get("cost"), document)
                self.cost_spent += _actual_cost(extensions.get("cost"))
            errors = body.get("errors")
            if _throttled(errors):
                wait = self.budget.wait_for(self.budget.cost_of(document), portion)
                if attempt == THROTTLED_TRIES or wait > limit:
                    raise PlatformThrottled(
                        f"{name}: Shopify throttled the query; retry in {wait:.1f}s", wait=wait
                    )
                logger.info("shopify throttled %s: waiting %.2fs", name, wait)
                self._sleep(wait)
                continue
            if errors:
                raise _graphql_error(name, errors)
            data = body.get("data")
            if not isinstance(data, dict):
                raise ShopifyGraphQLError(f"{name}: Shopify answered without data")
            return data
        raise AssertionError("unreachable")

    def _pace(self, document: str, name: str, limit: float, share: float) -> None:
        cost = self.budget.cost_of(document)
        wait = self.budget.wait_for(cost, share)
        if wait > limit:
            raise PlatformThrottled(
                f"{name}: the Shopify cost bucket needs {wait:.1f}s for this query", wait=wait
            )
        if wait > 0:
            logger.debug("shopify budget: waiting %.2fs before %s", wait, name)
            self._sleep(wait)
        self.budget.spend(cost)

    def _post(
        self, document: str, variables: Mapping[str, Any] | None, name: str
    ) -> dict[str, Any]:
        payload = {"query": document, "variables": dict(variables or {})}
        for refreshed in (False, True):
            token = self.credentials.token()
            response = self.http.request(
                "POST",
                self.path,
                name=f"Shopify {name}",
                json=payload,
                headers={"X-Shopify-Access-Token": token, "Accept": "application/json"},
            )
            if (
                response.status_code == 401
                and not refreshed
                and not isinstance(self.credentials, StaticToken)
            ):
                self.credentials.invalidate(token)  # expired or revoked: one new token, once
                continue
            if response.status_code in (401, 403):
                what = (
                    "the access token was refused"
                    if response.status_code == 401
                    else "access denied"
                )
                raise PlatformAuthError(f"Shopify {name}: HTTP {response.status_code}, {what}")
            if response.status_code != 200:
                reason = _HTTP_ERRORS.get(response.status_code, "unexpected answer")
                raise PlatformError(f"Shopify {name}: HTTP {response.status_code}, {reason}")
            try:
                body = response.json()
            except ValueError:
                raise PlatformError(f"Shopify {name}: the answer is not JSON") from None
            if not isinstance(body, dict):
                raise PlatformError(f"Shopify {name}: the answer is not a JSON object")
            return body
        raise AssertionError("unreachable")

    # -- what the other workstreams call ---------------------------------------------------

    def shop(self) -> dict[str, Any]:
        """The shop's id, name, myshopify domain, currency and time zone."""
        shop: dict[str, Any] = self.query(queries.SHOP, name="shop")["shop"]
        return shop

    def webhook_subscriptions(self, *, max_wait: float | None = None) -> list[WebhookSubscription]:
        """Every subscription this app holds on the shop (an app sees only its own)."""
        found: list[WebhookSubscription] = []
        after: str | None = None
        while True:
            data = self.query(
                queries.WEBHOOK_SUBSCRIPTIONS,
                {"after": after},
                name="webhookSubscriptions",
                max_wait=max_wait,
            )
            connection = data["webhookSubscriptions"]
            found.extend(WebhookSubscription.from_node(node) for node in connection["nodes"])
            if not connection["pageInfo"]["hasNextPage"]:
                return found
            after = connection["pageInfo"]["endCursor"]

    def create_webhook_subscription(
        self, topic: str, uri: str, *, format: str = "JSON"
    ) -> WebhookSubscription:
        """Subscribe `uri` to `topic` (REST name, orders/create, or the GraphQL enum)."""
        enum = graphql_topic(topic) if "/" in topic or "." in topic else topic
        data = self.query(
            queries.WEBHOOK_SUBSCRIPTION_CREATE,
            {"topic": enum, "webhookSubscription": {"uri": uri, "format": format}},
            name=f"webhookSubscriptionCreate ({enum})",
        )
        payload = data["webhookSubscriptionCreate"]
        _raise_user_errors(f"webhookSubscriptionCreate ({enum})", payload)
        return WebhookSubscription.from_node(payload["webhookSubscription"])

    def update_webhook_subscription(
        self,
        id: str,
        *,
        uri: str | None = None,
        format: str | None = None,
        filter: str | None = None,
        include_fields: list[str] | None = None,
    ) -> WebhookSubscription:
        """Point a subscription at another address, or change its format (`filter=""` and
        `include_fields=[]` make it deliver every event, whole)."""
        changes = (("uri", uri), ("format", format), ("filter", filter))
        given: dict[str, Any] = {k: v for k, v in changes if v is not None}
        if include_fields is not None:
            given["includeFields"] = include_fields
        data = self.query(
            queries.WEBHOOK_SUBSCRIPTION_UPDATE,
            {"id": id, "webhookSubscription": given},
            name=f"webhookSubscriptionUpdate ({id})",
        )
        payload = data["webhookSubscriptionUpdate"]
        _raise_user_errors(f"webhookSubscriptionUpdate ({id})", payload)
        return WebhookSubscription.from_node(payload["webhookSubscription"])

    def delete_webhook_subscription(self, id: str) -> str:
        """Delete a subscription; the id Shopify deleted."""
        data = self.query(
            queries.WEBHOOK_SUBSCRIPTION_DELETE,
            {"id": id},
            name=f"webhookSubscriptionDelete ({id})",
        )
        payload = data["webhookSubscriptionDelete"]
        _raise_user_errors(f"webhookSubscriptionDelete ({id})", payload)
        deleted: str = payload["deletedWebhookSubscriptionId"]
        return deleted

    def page(
        self,
        resource: str,
        *,
        updated_since: datetime | None = None,
        updated_before: datetime | None = None,
        after: str | None = None,
        first: int | None = None,
        extra: tuple[str, ...] = (),
        selection: str | None = None,
        max_wait: float | None = None,
        share: float | None = None,
    ) -> Page:
        """One page of `resource` ("orders", "customers", "checkouts") updated in
        [updated_since, updated_before), oldest update first (checkouts: by id), resuming
        after the cursor `after`. `extra` adds search terms (`status:open` for checkouts)."""
        document = queries.page_query(resource, selection)
        variables = {
            "first": first or queries.PAGE_SIZES[resource],
            "after": after,
            "query": search(updated_since, updated_before, *extra) or None,
        }
        data = self.query(
            document, variables, name=f"{resource} page", max_wait=max_wait, share=share
        )
        connection = data["page"]
        info = connection["pageInfo"]
        return Page(list(connection["nodes"]), info.get("endCursor"), bool(info.get("hasNextPage")))

    def line_items(
        self,
        resource: str,
        node: Mapping[str, Any],
        after: str | None,
        *,
        max_wait: float | None = None,
        share: float | None = None,
    ) -> Page:
        """The next page of an order's or abandoned checkout's line items (`node` as a page
        returned it, with its `id`), after the cursor `after`."""
        if resource == "orders":
            document, variables = queries.ORDER_LINE_ITEMS, {"id": node["id"], "after": after}
        elif resource == "checkouts":
            number = str(node["id"]).rsplit("/", 1)[-1]
            document = queries.CHECKOUT_LINE_ITEMS
            variables = {"query": f"id:{number}", "after": after}
        else:
            raise ValueError(f"{resource} have no line items")
        data = self.query(
            document, variables, name=f"{resource} line items", max_wait=max_wait, share=share
        )
        owner = data.get("order") if resource == "orders" else None
        if resource == "checkouts":
            found = data["abandonedCheckouts"]["nodes"]
            owner = found[0] if found else None
        if not isinstance(owner, dict):
            return Page([], None, False)
        connection = owner["lineItems"]
        info = connection["pageInfo"]
        return Page(list(connection["nodes"]), info.get("endCursor"), bool(info.get("hasNextPage")))

    def count(
        self,
        resource: str,
        *,
        updated_since: datetime | None = None,
        updated_before: datetime | None = None,
        extra: tuple[str, ...] = (),
        limit: int | None = None,
        max_wait: float | None = None,
    ) -> tuple[int, bool]:
        """How many records of `resource` match, and whether that is exact (Shopify stops
        counting at `limit`, 10,000 by default; None counts all)."""
        variables = {"query": search(updated_since, updated_before, *extra) or None, "limit": limit}
        data = self.query(
            queries.count_query(resource), variables, name=f"{resource} count", max_wait=max_wait
        )
        counted = data["count"]
        return int(counted["count"]), counted["precision"] == "EXACT"


def _actual_cost(cost: object) -> int:
    """The points an answer kept from the bucket (none when the query did not run)."""
    value = cost.get("actualQueryCost") if isinstance(cost, Mapping) else None
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _throttled(errors: object) -> bool:
    return isinstance(errors, list) and any(
        isinstance(e, dict)
        and isinstance(e.get("extensions"), dict)
        and e["extensions"].get("code") == "THROTTLED"
        for e in errors
    )


def _graphql_error(name: str, errors: object) -> ShopifyGraphQLError:
    items = errors if isinstance(errors, list) else [errors]
    messages, codes = [], []
    for error in items:
        if isinstance(error, dict):
            messages.append(str(error.get("message", error)))
            code = (
                error.get("extensions", {}).get("code")
                if isinstance(error.get("extensions"), dict)
                else None
            )
            if code:
                codes.append(str(code))
        else:
            messages.append(str(error))
    detail = "; ".join(messages)
    code_text = f" [{', '.join(codes)}]" if codes else ""
    return ShopifyGraphQLError(f"Shopify {name}: {detail}{code_text}", codes=tuple(codes))


def _raise_user_errors(name: str, payload: Mapping[str, Any]) -> None:
    errors = payload.get("userErrors") or []
    if not errors:
        return
    parts = []
    for error in errors:
        field = ".".join(error.get("field") or []) if isinstance(error, dict) else ""
        message = error.get("message") if isinstance(error, dict) else str(error)
        parts.append(f"{field}: {message}" if field else str(message))
    raise ShopifyUserErrors(f"Shopify refused {name}: {'; '.join(parts)}", errors=list(errors))
