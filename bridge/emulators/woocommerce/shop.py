"""The shop's orders and customers, and their REST representation.

A record is kept as its REST v3 body (the bundled samples give the full field set and its
order), with its dates as unix seconds beside it; `rest()` writes the dates both ways and adds
`_links`, exactly what `GET /wc/v3/orders/{id}` answers and what a webhook carries
(`WC_Webhook::build_payload` builds bodies from that same endpoint).

Changes come from the control API, which names fields as the REST API does. A field the
REST body does not have is refused (a typo in a test would otherwise pass unnoticed); dates
are given in GMT (`date_created_gmt`…) and the local field follows.
"""

from __future__ import annotations

import copy
import json
import secrets
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from bridge.emulators.woocommerce.clock import SiteClock

# Core statuses (`wc_get_order_statuses`) plus block checkout's draft; `trash` is separate.
ORDER_STATUSES = (
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "checkout-draft",
)
# `wc_get_is_paid_statuses`: reaching one sets `date_paid` if the order has none.
PAID_STATUSES = ("processing", "completed")
# `WC_Webhook::is_valid_resource`: orders in these statuses never trigger webhooks.
SILENT_STATUSES = ("draft", "auto-draft", "new")

ORDER_DATES = ("date_created", "date_modified", "date_paid", "date_completed")
CUSTOMER_DATES = ("date_created", "date_modified")
# Set by the shop, never by the control API.
DERIVED = frozenset({"_links", "id", *ORDER_DATES})


class ShopError(ValueError):
    """A control request the shop cannot follow; the message names the field."""


def _sample(name: str) -> dict[str, Any]:
    text = resources.files("bridge").joinpath(f"samples/{name}").read_bytes()
    body: dict[str, Any] = json.loads(text)
    return body


ORDER_TEMPLATE = _sample("woocommerce-order.json")
CUSTOMER_TEMPLATE = _sample("woocommerce-customer.json")


@dataclass(slots=True)
class Record:
    """An order or a customer: its REST body (dates rendered from `dates`, no links)."""

    kind: str  # "order" | "customer"
    id: int
    body: dict[str, Any]
    dates: dict[str, int | None] = field(default_factory=dict)
    trashed_from: str | None = None  # an order's status before it went to the trash

    @property
    def modified(self) -> int:
        return self.dates.get("date_modified") or 0

    @property
    def created(self) -> int:
        return self.dates.get("date_created") or 0

    @property
    def status(self) -> str:
        return str(self.body.get("status", ""))

    def rest(self, clock: SiteClock, site_url: str) -> dict[str, Any]:
        """The body `GET /wc/v3/{orders|customers}/{id}` answers."""
        body = copy.deepcopy(self.body)
        body["id"] = self.id
        for name, ts in self.dates.items():
            body[name] = clock.local(ts)
            body[f"{name}_gmt"] = clock.gmt(ts)
        base = f"{site_url}/wp-json/wc/v3/{self.kind}s"
        links: dict[str, Any] = {
            "self": [{"href": f"{base}/{self.id}"}],
            "collection": [{"href": base}],
        }
        customer_id = body.get("customer_id") if self.kind == "order" else 0
        if isinstance(customer_id, int) and customer_id > 0:
            links["customer"] = [{"href": f"{site_url}/wp-json/wc/v3/customers/{customer_id}"}]
        body["_links"] = links
        return body


def _check_fields(kind: str, template: dict[str, Any], fields: dict[str, Any]) -> None:
    dates = ORDER_DATES if kind == "order" else CUSTOMER_DATES
    for name, value in fields.items():
        if name in dates:
            raise ShopError(f"{name}: give {name}_gmt (the local date follows the site's offset)")
        if name.endswith("_gmt") and name.removesuffix("_gmt") in dates:
            if value is not None and not isinstance(value, str | int):
                raise ShopError(f"{name}: a YYYY-MM-DDTHH:MM:SS string (GMT) or unix seconds")
            continue
        if name in DERIVED or name not in template:
            raise ShopError(f"{name}: not a field of a WooCommerce {kind}")
        expected = template[name]
        numbers = isinstance(expected, float | int) and isinstance(value, float | int)
        if None not in (expected, value) and type(value) is not type(expected) and not numbers:
            raise ShopError(f"{name}: must be a {type(expected).__name__}")


def _timestamp(clock: SiteClock, value: str | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    try:
        return clock.from_gmt(value)
    except ValueError:
        raise ShopError(f"{value!r} is not a YYYY-MM-DDTHH:MM:SS date") from None


def _merge(body: dict[str, Any], fields: dict[str, Any]) -> None:
    """Objects (billing, shipping…) merge one level deep; everything else is replaced."""
    for name, value in fields.items():
        if name.endswith("_gmt"):
            continue
        if isinstance(value, dict) and isinstance(body.get(name), dict):
            body[name] = {**body[name], **value}
        else:
            body[name] = copy.deepcopy(value)


def _apply_dates(record: Record, clock: SiteClock, fields: dict[str, Any], now: int) -> None:
    for name in list(record.dates):
        if f"{name}_gmt" in fields:
            record.dates[name] = _timestamp(clock, fields[f"{name}_gmt"])
    if "date_modified_gmt" not in fields:
        record.dates["date_modified"] = now


def _blank(template: dict[str, Any], ident: int) -> dict[str, Any]:
    """The sample's fields in the sample's order (dates are written when rendered)."""
    body = {k: copy.deepcopy(v) for k, v in template.items() if k != "_links"}
    body["id"] = ident
    return body


def new_order(order_id: int, fields: dict[str, Any], clock: SiteClock) -> Record:
    """An order made from the sample, with `fields` over it; created and modified now unless
    the fields say otherwise (history)."""
    _check_fields("order", ORDER_TEMPLATE, fields)
    now = clock.now()
    body = _blank(ORDER_TEMPLATE, order_id)
    body["number"] = str(order_id)
    body["order_key"] = f"wc_order_{secrets.token_hex(7)[:13]}"
    _merge(body, fields)
    record = Record("order", order_id, body, dict.fromkeys(ORDER_DATES))
    record.dates["date_created"] = now
    record.dates["date_paid"] = now if body.get("status") in PAID_STATUSES else None
    record.dates["date_completed"] = now if body.get("status") == "completed" else None
    _apply_dates(record, clock, fields, now)
    return record


def update_order(record: Record, fields: dict[str, Any], clock: SiteClock) -> None:
    """Apply a change as an admin or a payment would; `date_modified` moves to now."""
    _check_fields("order", ORDER_TEMPLATE, fields)
    now = clock.now()
    before = record.status
    _merge(record.body, fields)
    status = record.status
    if status != before:
        if status in PAID_STATUSES and record.dates.get("date_paid") is None:
            record.dates["date_paid"] = now
        if status == "completed" and record.dates.get("date_completed") is None:
            record.dates["date_completed"] = now
    _apply_dates(record, clock, fields, now)


def new_customer(customer_id: int, fields: dict[str, Any], clock: SiteClock) -> Record:
    _check_fields("customer", CUSTOMER_TEMPLATE, fields)
    now = clock.now()
    body = _blank(CUSTOMER_TEMPLATE, customer_id)
    body["username"] = f"customer{customer_id}"
    _merge(body, fields)
    record = Record("customer", customer_id, body, dict.fromkeys(CUSTOMER_DATES, now))
    _apply_dates(record, clock, fields, now)
    return record


def update_customer(record: Record, fields: dict[str, Any], clock: SiteClock) -> None:
    _check_fields("customer", CUSTOMER_TEMPLATE, fields)
    _merge(record.body, fields)
    _apply_dates(record, clock, fields, clock.now())
