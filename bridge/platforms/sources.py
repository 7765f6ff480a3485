"""Records read from a shop's own API, a page at a time, as the Kanal actions they ask for.

A `Window` names one resource and the change times it covers; `Source.page(window, cursor)`
fetches the page at `cursor` (None: the first) and returns, per record, the actions its
webhook would have given, with the cursor of the next page (None once the window is done).
Cursors are small JSON objects, so a scan can be checkpointed in Redis between two pages and
resumed by another process.

Shopify: GraphQL connections sorted by update time (abandoned checkouts by id: Shopify cannot
sort them by update), filtered with `updated_at` search terms, resumed after the page's end
cursor (a keyset position: records changing meanwhile move to the end, none is skipped);
nodes go through `mappers.shopify_graphql`. An order or checkout with more line items than a
page carries gets the rest fetched before it is mapped.

WooCommerce: REST bodies are webhook bodies, so the webhook mappers apply as they are. Orders
are scanned by modification time (`woocommerce_rest.OrdersCursor`); the trash is scanned on
its own (WooCommerce's `any` leaves it out) and each trashed order becomes the status patch
its `order.deleted` webhook gives. Customers have no date filter in WooCommerce's API: they
are listed by id, whole, and those changed before the window are dropped here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bridge.config import StoreConfig
from bridge.platforms import shopify_queries
from bridge.platforms.http import JOB_BACKOFF, JOB_TIMEOUT, PlatformHTTP, shared_client
from bridge.platforms.shopify_admin import ShopifyAdmin
from bridge.platforms.woocommerce_rest import (
    PER_PAGE,
    OrdersCursor,
    WooCommerceREST,
    modified_gmt,
)
from mappers import Action, StoreContext, woocommerce, woocommerce_customers
from mappers import shopify_graphql as graphql

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# What each platform can read, in the order a backfill reads them.
RESOURCES: dict[str, tuple[str, ...]] = {
    "shopify": ("orders", "customers", "checkouts"),
    "woocommerce": ("orders", "trashed_orders", "customers"),
}
# WooCommerce's trashed orders are a resource of their own for scans, orders for Kanal.
KANAL_RESOURCE = {"trashed_orders": "orders"}


@dataclass(frozen=True, slots=True)
class Window:
    """Records of `resource` last changed in [since, until); None leaves a side open.
    `open_only` keeps abandoned checkouts that are neither completed nor closed."""

    resource: str
    since: datetime | None = None
    until: datetime | None = None
    open_only: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "since": self.since.timestamp() if self.since else None,
            "until": self.until.timestamp() if self.until else None,
            "open_only": self.open_only,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Window:
        def moment(value: object) -> datetime | None:
            return datetime.fromtimestamp(float(value), UTC) if value is not None else None  # type: ignore[arg-type]

        return cls(
            str(data["resource"]),
            moment(data.get("since")),
            moment(data.get("until")),
            bool(data.get("open_only")),
        )


@dataclass(frozen=True, slots=True)
class Fetched:
    """One page: the actions of each record read, and the cursor of the next page (None: the
    window is done)."""

    records: list[list[Action]]
    cursor: dict[str, Any] | None

    @property
    def done(self) -> bool:
        return self.cursor is None


@dataclass(frozen=True, slots=True)
class Count:
    """How many records a window holds; `exact` False when the platform stopped counting."""

    records: int
    exact: bool = True


class Source(Protocol):
    """One shop's API as pages of Kanal actions."""

    platform: str

    def count(self, window: Window) -> Count:
        """How many records the window holds (one small request)."""
        ...

    def page(self, window: Window, cursor: dict[str, Any] | None) -> Fetched:
        """The page at `cursor` (None: the first) and the cursor of the next one."""
        ...

    def spent(self) -> tuple[int, int]:
        """Requests made so far, and Shopify cost points spent (0 elsewhere)."""
        ...


class ShopifySource:
    """Pages of a Shopify shop's orders, customers and abandoned checkouts."""

    platform = "shopify"

    def __init__(
        self,
        admin: ShopifyAdmin,
        ctx: StoreContext,
        *,
        max_wait: float | None = None,
        share: float | None = None,
        page_sizes: dict[str, int] | None = None,
    ) -> None:
        self.admin = admin
        self.ctx = ctx
        self.max_wait = max_wait
        self.share = share
        self.page_sizes = {**shopify_queries.PAGE_SIZES, **(page_sizes or {})}

    def _extra(self, window: Window) -> tuple[str, ...]:
        return ("status:open",) if window.resource == "checkouts" and window.open_only else ()

    def count(self, window: Window) -> Count:
        records, exact = self.admin.count(
            window.resource,
            updated_since=window.since,
            updated_before=window.until,
            extra=self._extra(window),
            limit=None,
            max_wait=self.max_wait,
        )
        return Count(records, exact)

    def page(self, window: Window, cursor: dict[str, Any] | None) -> Fetched:
        selection, mapper = graphql.RESOURCES[window.resource]
        found = self.admin.page(
            window.resource,
            updated_since=window.since,
            updated_before=window.until,
            after=(cursor or {}).get("after"),
            first=self.page_sizes[window.resource],
            extra=self._extra(window),
            selection=selection,
            max_wait=self.max_wait,
            share=self.share,
        )
        records = [mapper(self._complete(window.resource, node), self.ctx) for node in found.nodes]
        following = {"after": found.end_cursor} if found.has_next and found.end_cursor else None
        return Fetched(records, following)

    def _complete(self, resource: str, node: dict[str, Any]) -> dict[str, Any]:
        """`node` with every line item, when its first page of them was not all."""
        items = node.get("lineItems")
        if not isinstance(items, dict) or not items.get("pageInfo", {}).get("hasNextPage"):
            return node
        nodes = list(items.get("nodes") or [])
        after = items["pageInfo"].get("endCursor")
        while after:
            more = self.admin.line_items(
                resource, node, after, max_wait=self.max_wait, share=self.share
            )
            nodes.extend(more.nodes)
            after = more.end_cursor if more.has_next else None
        return {**node, "lineItems": {"nodes": nodes}}

    def spent(self) -> tuple[int, int]:
        return self.admin.queries, self.admin.cost_spent


class WooCommerceSource:
    """Pages of a WooCommerce shop's orders (and its trash) and customers."""

    platform = "woocommerce"

    def __init__(self, rest: WooCommerceREST, ctx: StoreContext, per_page: int = PER_PAGE):
        self.rest = rest
        self.ctx = ctx
        self.per_page = per_page
        self.requests = 0

    @staticmethod
    def _status(window: Window) -> str:
        return "trash" if window.resource == "trashed_orders" else "any"

    def count(self, window: Window) -> Count:
        self.requests += 1
        if window.resource == "customers":
            return Count(self.rest.count_customers())
        return Count(
            self.rest.count_orders(
                modified_after=window.since,
                modified_before=window.until,
                status=self._status(window),
            )
        )

    def page(self, window: Window, cursor: dict[str, Any] | None) -> Fetched:
        self.requests += 1
        if window.resource == "customers":
            return self._customers(window, int((cursor or {}).get("page", 1)))
        at = (
            OrdersCursor.from_json(cursor)
            if cursor
            else OrdersCursor(window.since or EPOCH, 1, self._status(window))
        )
        found = self.rest.orders_page(
            modified_after=at.after,
            modified_before=window.until,
            status=at.status,
            page=at.page,
            per_page=self.per_page,
        )
        mapper: Callable[[dict[str, Any], StoreContext], list[Action]] = (
            woocommerce.map_trashed
            if window.resource == "trashed_orders"
            else woocommerce.map_order
        )
        records = [mapper(order, self.ctx) for order in found.items]
        following = at.next(found)
        return Fetched(records, following.as_json() if following else None)

    def _customers(self, window: Window, number: int) -> Fetched:
        found = self.rest.customers_page(page=number, per_page=self.per_page)
        records = [
            woocommerce_customers.map_customer(customer, self.ctx)
            for customer in found.items
            if _changed_in(customer, window)
        ]
        return Fetched(records, {"page": number + 1} if found.has_next else None)

    def spent(self) -> tuple[int, int]:
        return self.requests, 0


def _changed_in(customer: dict[str, Any], window: Window) -> bool:
    changed = modified_gmt(customer)
    if changed is None:
        return True
    if window.since is not None and changed < window.since:
        return False
    return window.until is None or changed < window.until


def source_for(
    key: str,
    store: StoreConfig,
    *,
    timezone: str | None = None,
    in_job: bool = False,
    share: float | None = None,
) -> Source:
    """The source of a configured store with API access. `in_job`: for a worker job, which
    never sleeps on a budget or a retry (a throttle or a failure raises, and the job is
    rescheduled), so that pushes on the same worker are not held up."""
    ctx = dataclasses.replace(store.context(), timezone=timezone)
    if store.platform == "shopify":
        base = store.shop_api_url
        assert base is not None
        http = PlatformHTTP.for_job(base) if in_job else PlatformHTTP(base)
        admin = ShopifyAdmin.for_store(store, http=http)
        return ShopifySource(admin, ctx, max_wait=0 if in_job else None, share=share)
    options: dict[str, object] = {}
    if in_job:
        options = {"client": shared_client(JOB_TIMEOUT), "backoff": JOB_BACKOFF}
    return WooCommerceSource(WooCommerceREST.for_store(key, store, **options), ctx)


def kanal_resource(resource: str) -> str:
    """The Kanal resource a scanned resource's records are (trashed orders are orders)."""
    return KANAL_RESOURCE.get(resource, resource)


def shop_timezone(source: Source) -> str | None:
    """The shop's IANA time zone (Shopify; None elsewhere, whose times carry no offset)."""
    if isinstance(source, ShopifySource):
        zone = source.admin.shop().get("ianaTimezone")
        return zone if isinstance(zone, str) and zone else None
    return None


def without_shipments(records: Sequence[list[Action]]) -> list[list[Action]]:
    """The records' actions less their shipments (see `bridge.platforms.backfill`)."""
    return [
        [a for a in actions if getattr(a, "resource", None) != "shipments"] for actions in records
    ]
