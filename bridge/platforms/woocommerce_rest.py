"""A client of one WooCommerce shop's REST API v3: its webhooks, orders and customers.

Access is a REST key (WooCommerce → Settings → Advanced → REST API, Read/Write), sent as HTTP
Basic over HTTPS, or as the `consumer_key` / `consumer_secret` query parameters when the
store sets `query_string_auth` (for servers that strip the Authorization header). Plain http
is refused except to a loopback host (emulators, tests): WooCommerce would want OAuth 1.0a
signatures there, and the key would cross the network in clear.

Every call goes through `PlatformHTTP` (retries with backoff on network errors, 5xx and 429),
one at a time per shop in this process: WooCommerce runs on the merchant's own server. Lists
are read 100 at a time (WooCommerce's maximum) and paged by number, `X-WP-TotalPages` and
`Link: rel="next"` saying whether a next page exists; the Link URL itself is never followed or
logged (WooCommerce copies query-string credentials into it). WooCommerce's errors
(`{"code", "message", "data": {"status"}}`) become `WooCommerceError`, 401/403 a
`WooCommerceAuthError` whose message says what to change. Keys and secrets never appear in
an error, a log line or a repr.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

from bridge.config import StoreConfig, check_base_url
from bridge.errors import ConfigError, WooCommerceAuthError, WooCommerceError
from bridge.platforms.http import Backoff, PlatformHTTP

API_PATH = "/wp-json/wc/v3"
PER_PAGE = 100  # the most WooCommerce lists at once
GMT_FORMAT = "%Y-%m-%dT%H:%M:%S"
KEYS_PAGE = "WooCommerce → Settings → Advanced → REST API"

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _shop_lock(base_url: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(base_url, threading.Lock())


def gmt(moment: datetime) -> str:
    """A moment as WooCommerce's filters want it with `dates_are_gmt=true`: UTC, no offset
    (WordPress converts a date that carries an offset to the site's local time first)."""
    if moment.tzinfo is None:
        raise ValueError("a timezone-aware datetime is needed (naive times are ambiguous)")
    return moment.astimezone(UTC).strftime(GMT_FORMAT)


def modified_gmt(item: Mapping[str, Any]) -> datetime | None:
    """An order's or customer's `date_modified_gmt` as an aware UTC datetime (None if absent)."""
    value = item.get("date_modified_gmt")
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook as WooCommerce lists it (it never shows the secret)."""

    id: int
    name: str
    status: str  # active | paused | disabled
    topic: str
    delivery_url: str
    date_created_gmt: str | None = None
    date_modified_gmt: str | None = None

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Webhook:
        return cls(
            id=int(item["id"]),
            name=str(item.get("name") or ""),
            status=str(item.get("status") or ""),
            topic=str(item.get("topic") or ""),
            delivery_url=str(item.get("delivery_url") or ""),
            date_created_gmt=item.get("date_created_gmt"),
            date_modified_gmt=item.get("date_modified_gmt"),
        )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list: its items, its number, and the list's size (`X-WP-Total`,
    `X-WP-TotalPages`)."""

    items: list[dict[str, Any]]
    page: int
    total: int
    total_pages: int
    has_next: bool

    @property
    def next_page(self) -> int | None:
        return self.page + 1 if self.has_next else None

    def newest_modified(self) -> datetime | None:
        """The latest `date_modified_gmt` among the items."""
        found = [moment for moment in map(modified_gmt, self.items) if moment is not None]
        return max(found, default=None)


@dataclass(frozen=True, slots=True)
class OrdersCursor:
    """Where a scan of orders by modification time stands: orders of `status` modified after
    `after` (exclusive, to the second), page `page`, oldest change first.

    `next()` moves to page 1 of a later `after` (the page's newest change, less one second)
    rather than to page N+1: an order changed during the scan moves to the end of the list,
    which shifts every later page and would make page N+1 skip one. A few orders of the
    boundary second come twice (the record store answers them "already held"); the page
    number only grows when a whole page shares one second. Store it with `as_json()`.
    """

    after: datetime
    page: int = 1
    status: str = "any"  # WooCommerce's `any` leaves out the trash: scan "trash" apart

    def next(self, page: Page) -> OrdersCursor | None:
        """The cursor after `page` (fetched at this cursor), or None when the scan is done."""
        if not page.has_next:
            return None
        newest = page.newest_modified()
        if newest is not None and newest - timedelta(seconds=1) > self.after:
            return OrdersCursor(newest - timedelta(seconds=1), 1, self.status)
        return OrdersCursor(self.after, self.page + 1, self.status)

    def as_json(self) -> dict[str, Any]:
        return {"after": gmt(self.after), "page": self.page, "status": self.status}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrdersCursor:
        after = datetime.fromisoformat(str(data["after"])).replace(tzinfo=UTC)
        return cls(after, int(data.get("page", 1)), str(data.get("status", "any")))


@dataclass(slots=True)
class WooCommerceREST:
    """One shop's REST API. `name` (the store key) prefixes every error message."""

    site_url: str
    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    query_string_auth: bool = False
    name: str = ""
    client: httpx.Client | None = field(default=None, repr=False)
    backoff: Backoff = field(default_factory=Backoff, repr=False)
    _http: PlatformHTTP = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            self.site_url = check_base_url(self.site_url)
        except ValueError as exc:
            raise ConfigError(f"site_url: {exc}") from None
        if not self.consumer_key or not self.consumer_secret:
            raise ConfigError("consumer_key and consumer_secret: both are needed")
        base = self.site_url + API_PATH
        self._http = PlatformHTTP(base, client=self.client, backoff=self.backoff)
        self._lock = _shop_lock(base)

    @classmethod
    def for_store(cls, key: str, store: StoreConfig, **options: Any) -> WooCommerceREST:
        """The client of a configured WooCommerce store with API access."""
        if store.platform != "woocommerce" or not store.has_api_access:
            raise ConfigError(
                f"stores.{key}: site_url, consumer_key and consumer_secret are needed"
            )
        assert store.site_url and store.consumer_key and store.consumer_secret
        return cls(
            store.site_url,
            store.consumer_key.get_secret_value(),
            store.consumer_secret.get_secret_value(),
            query_string_auth=store.query_string_auth,
            name=key,
            **options,
        )

    # Webhooks

    def list_webhooks(self, status: str = "all", *, per_page: int = PER_PAGE) -> list[Webhook]:
        """Every webhook of the shop (every integration's, not only ours), all pages."""
        found: list[Webhook] = []
        number = 1
        # WooCommerce reports a single page for `per_page=1`, however many webhooks there are.
        per_page = max(per_page, 2)
        params = {"status": status, "per_page": per_page, "orderby": "id", "order": "asc"}
        while True:
            page = self._page("/webhooks", "list webhooks", number, params)
            found.extend(Webhook.from_json(item) for item in page.items)
            if page.next_page is None:
                return found
            number = page.next_page

    def get_webhook(self, webhook_id: int) -> Webhook | None:
        """The webhook, or None when the shop has none with this id."""
        try:
            item = self._json("GET", f"/webhooks/{webhook_id}", f"read webhook {webhook_id}")
        except WooCommerceError as exc:
            if exc.code == "woocommerce_rest_shop_webhook_invalid_id":
                return None
            raise
        return Webhook.from_json(item)

    def create_webhook(
        self, *, topic: str, delivery_url: str, secret: str, name: str | None = None
    ) -> Webhook:
        """A new webhook (WooCommerce makes it active, and pings `delivery_url` first)."""
        body = {"topic": topic, "delivery_url": delivery_url, "secret": secret}
        if name:
            body["name"] = name
        return Webhook.from_json(self._json("POST", "/webhooks", f"create webhook {topic}", body))

    def update_webhook(
        self,
        webhook_id: int,
        *,
        status: str | None = None,
        topic: str | None = None,
        delivery_url: str | None = None,
        secret: str | None = None,
        name: str | None = None,
    ) -> Webhook:
        """Change a webhook. Re-activating it does not reset WooCommerce's failure count:
        one more failed delivery disables it again."""
        changes = {
            "status": status,
            "topic": topic,
            "delivery_url": delivery_url,
            "secret": secret,
            "name": name,
        }
        body = {key: value for key, value in changes.items() if value is not None}
        item = self._json("PUT", f"/webhooks/{webhook_id}", f"update webhook {webhook_id}", body)
        return Webhook.from_json(item)

    def delete_webhook(self, webhook_id: int) -> bool:
        """Delete a webhook for good; False when it was already gone."""
        what = f"delete webhook {webhook_id}"
        try:
            self._json("DELETE", f"/webhooks/{webhook_id}", what, params={"force": "true"})
        except WooCommerceError as exc:
            if exc.code == "woocommerce_rest_shop_webhook_invalid_id":
                return False
            raise
        return True

    # Orders and customers

    def orders_page(
        self,
        *,
        modified_after: datetime | None = None,
        modified_before: datetime | None = None,
        status: str | Sequence[str] = "any",
        page: int = 1,
        per_page: int = PER_PAGE,
        orderby: str = "modified",
        order: str = "asc",
    ) -> Page:
        """One page of orders, oldest change first by default. Dates are exclusive bounds, to
        the second; `status="any"` is every status but `trash`."""
        params: dict[str, Any] = {"orderby": orderby, "order": order, "per_page": per_page}
        params["status"] = status if isinstance(status, str) else ",".join(status)
        if modified_after is not None or modified_before is not None:
            params["dates_are_gmt"] = "true"
        if modified_after is not None:
            params["modified_after"] = gmt(modified_after)
        if modified_before is not None:
            params["modified_before"] = gmt(modified_before)
        return self._page("/orders", "list orders", page, params)

    def scan_orders(
        self, cursor: OrdersCursor, *, per_page: int = PER_PAGE
    ) -> tuple[Page, OrdersCursor | None]:
        """The page at `cursor` and the cursor to resume from (None: the scan is complete)."""
        page = self.orders_page(
            modified_after=cursor.after, status=cursor.status, page=cursor.page, per_page=per_page
        )
        return page, cursor.next(page)

    def count_orders(
        self,
        *,
        modified_after: datetime | None = None,
        modified_before: datetime | None = None,
        status: str | Sequence[str] = "any",
    ) -> int:
        """How many orders match (`X-WP-Total`), for one small request."""
        page = self.orders_page(
            modified_after=modified_after,
            modified_before=modified_before,
            status=status,
            per_page=1,
        )
        return page.total

    def get_order(self, order_id: int) -> dict[str, Any] | None:
        """The order (its webhook body), or None when the shop has none with this id."""
        try:
            order: dict[str, Any] = self._json(
                "GET", f"/orders/{order_id}", f"read order {order_id}"
            )
        except WooCommerceError as exc:
            if exc.status == 404 and exc.code.endswith("_invalid_id"):
                return None
            raise
        return order

    def customers_page(
        self, *, page: int = 1, per_page: int = PER_PAGE, role: str = "customer"
    ) -> Page:
        """One page of customers by id. WooCommerce cannot filter customers by date: a full
        scan is the only way to see changes (compare `date_modified_gmt` yourself)."""
        params = {"orderby": "id", "order": "asc", "per_page": per_page, "role": role}
        return self._page("/customers", "list customers", page, params)

    def count_customers(self, role: str = "customer") -> int:
        return self.customers_page(per_page=1, role=role).total

    # The calls

    def _label(self, what: str) -> str:
        shop = f"store {self.name}" if self.name else (urlsplit(self.site_url).hostname or "")
        return f"WooCommerce {shop}: {what}"

    def _request(
        self,
        method: str,
        path: str,
        what: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        query = dict(params or {})
        options: dict[str, Any] = {}
        if self.query_string_auth:
            query.update(consumer_key=self.consumer_key, consumer_secret=self.consumer_secret)
        else:
            options["auth"] = (self.consumer_key, self.consumer_secret)
        if body is not None:
            options["content"] = orjson.dumps(body)
            options["headers"] = {"Content-Type": "application/json"}
        with self._lock:
            response = self._http.request(
                method, path, name=self._label(what), params=query, **options
            )
        if not 200 <= response.status_code < 300:
            raise self._error(response, what)
        return response

    def _json(
        self,
        method: str,
        path: str,
        what: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        return self._decode(self._request(method, path, what, body, params), what, dict)

    def _page(self, path: str, what: str, number: int, params: Mapping[str, Any]) -> Page:
        response = self._request("GET", path, what, params={**params, "page": number})
        items = self._decode(response, what, list)
        total = _header_int(response, "x-wp-total", len(items))
        pages = _header_int(response, "x-wp-totalpages", 1 if items else 0)
        has_next = "next" in response.links or number < pages
        return Page(items, number, total, pages, has_next)

    def _decode(self, response: httpx.Response, what: str, kind: type) -> Any:
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, kind):
            raise WooCommerceError(
                f"{self._label(what)}: answered {response.status_code} without the JSON the "
                "REST API sends (a cache, security plugin or maintenance page in front?)",
                status=response.status_code,
            )
        return data

    def _error(self, response: httpx.Response, what: str) -> WooCommerceError:
        status = response.status_code
        code = message = ""
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            code, message = str(data.get("code") or ""), str(data.get("message") or "")
        label = self._label(what)
        answer = f"{status} {code}: {message}" if code else f"{status}"
        if 300 <= status < 400:
            target = _without_query(response.headers.get("location", ""))
            text = f"{label}: the site redirects ({status}) to {target or 'another address'}; "
            text += "set site_url to the address the shop answers on"
        elif status in (401, 403):
            hint = self._auth_hint(status, code, message)
            return WooCommerceAuthError(
                f"{label}: refused ({answer}); {hint}", code=code, message=message, status=status
            )
        elif status == 404 and code == "rest_no_route":
            text = f"{label}: no such route ({answer}); is WooCommerce active at {self.site_url}?"
        elif status == 404 and not code:
            text = (
                f"{label}: {self.site_url}{API_PATH} answered 404 without a WooCommerce error; is "
                "site_url the WordPress address, with permalinks other than 'Plain'?"
            )
        else:
            text = f"{label}: WooCommerce answered {answer}"
        return WooCommerceError(text, code=code, message=message, status=status)

    def _auth_hint(self, status: int, code: str, message: str) -> str:
        if "does not have write permissions" in message or "does not have read" in message:
            return f"give the REST key Read/Write permissions ({KEYS_PAGE})"
        if "Consumer secret is invalid" in message:
            return f"consumer_secret does not belong to consumer_key: copy both again ({KEYS_PAGE})"
        if code.startswith("woocommerce_rest_cannot_") and status == 401:
            if self.query_string_auth:
                return f"WooCommerce does not know this key: check consumer_key ({KEYS_PAGE})"
            return (
                f"WooCommerce does not know this key: check consumer_key ({KEYS_PAGE}); if it "
                "is right, the server strips the Authorization header: set query_string_auth"
            )
        if code.startswith("woocommerce_rest_cannot_"):
            return (
                "the REST key's user cannot manage WooCommerce: make the key for an administrator"
            )
        return "a security plugin or the host may be blocking the REST API"


def _header_int(response: httpx.Response, name: str, default: int) -> int:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return default


def _without_query(url: str) -> str:
    """A URL without its query string (a redirect may echo query-string credentials)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return urlunsplit(parts._replace(query="", fragment=""))
