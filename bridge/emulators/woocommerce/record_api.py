"""`/wc/v3/orders` and `/wc/v3/customers`: the lists and single items the bridge reads.

Orders (`WC_REST_Orders_Controller` over `WC_REST_CRUD_Controller`): `status` is a list
(default `any`: every status but `trash`), dates filter strictly (`after` is `>`), and
`dates_are_gmt` picks the GMT or the local column. WordPress reads a date *without* an
offset as written, and one *with* an offset is converted to the site's local time before it is
compared, even with `dates_are_gmt=true` (`WP_Date_Query::build_mysql_datetime`): send GMT
dates without an offset. Ordering by date or modified adds the id as a tie-break.

Customers (`WC_REST_Customers_V1_Controller`): no date filter at all; `role` defaults to
`customer`, `orderby` to `name` and `order` to `asc`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bridge.emulators.woocommerce.api import READABLE, Answer, Call, Endpoint, page
from bridge.emulators.woocommerce.rest import Args, RestError
from bridge.emulators.woocommerce.shop import ORDER_STATUSES, Record

ROLES = (
    "administrator",
    "editor",
    "author",
    "contributor",
    "subscriber",
    "customer",
    "shop_manager",
)
LIST_REFUSAL = ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
VIEW_REFUSAL = ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")


def _paging(args: Args) -> dict[str, Any]:
    return {
        "context": args.enum("context", "view", ("view", "edit")),
        "page": args.integer("page", 1, minimum=1),
        "per_page": args.integer("per_page", 10, 1, 100),
        "offset": args.integer("offset", None),
        "include": args.id_list("include"),
        "exclude": args.id_list("exclude"),
        "search": args.string("search"),
    }


def order_params(args: Args) -> dict[str, Any]:
    return {
        **_paging(args),
        "order": args.enum("order", "desc", ("asc", "desc")),
        "orderby": args.enum(
            "orderby", "date", ("date", "id", "include", "title", "slug", "modified")
        ),
        "status": args.enum_list("status", ["any"], ("any", "trash", *ORDER_STATUSES)),
        "after": args.date_time("after"),
        "before": args.date_time("before"),
        "modified_after": args.date_time("modified_after"),
        "modified_before": args.date_time("modified_before"),
        "dates_are_gmt": args.boolean("dates_are_gmt", False),
        "customer": args.integer("customer", None),
        "dp": args.integer("dp", None),
    }


def _column(call: Call, ts: int, gmt: bool) -> datetime:
    """The stored date as MySQL holds it: a naive wall time, GMT or the site's."""
    wall = datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)
    return wall if gmt else wall + call.state.clock.offset


def _bound(call: Call, moment: datetime) -> datetime:
    return call.state.clock.wall(moment) if moment.tzinfo else moment


def _dates_match(call: Call, record: Record, p: dict[str, Any]) -> bool:
    gmt = p["dates_are_gmt"]
    for name, ts, strictly_after in (
        ("after", record.created, True),
        ("before", record.created, False),
        ("modified_after", record.modified, True),
        ("modified_before", record.modified, False),
    ):
        if p[name] is None:
            continue
        value, bound = _column(call, ts, gmt), _bound(call, p[name])
        if (value <= bound) if strictly_after else (value >= bound):
            return False
    return True


def _status_match(record: Record, statuses: list[str]) -> bool:
    if "any" in statuses:
        return record.status != "trash"
    return record.status in statuses


def _order(found: list[Record], p: dict[str, Any]) -> list[Record]:
    orderby = p["orderby"]
    if orderby == "include" and p["include"]:
        return sorted(found, key=lambda r: p["include"].index(r.id))
    keys = {
        "date": lambda r: (r.created, r.id),
        "title": lambda r: (r.created, r.id),
        "modified": lambda r: (r.modified, r.id),
    }
    return sorted(found, key=keys.get(orderby, lambda r: (r.id,)), reverse=p["order"] == "desc")


def _filtered(records: dict[int, Record], p: dict[str, Any]) -> list[Record]:
    return [
        record
        for record in records.values()
        if (not p["include"] or record.id in p["include"]) and record.id not in p["exclude"]
    ]


async def list_orders(call: Call, p: dict[str, Any]) -> Answer:
    found = [
        record
        for record in _filtered(call.state.orders, p)
        if _status_match(record, p["status"])
        and _dates_match(call, record, p)
        and (p["customer"] is None or record.body.get("customer_id") == p["customer"])
    ]
    state = call.state
    items = [record.rest(state.clock, state.site_url) for record in _order(found, p)]
    return page(call, items, p["page"], p["per_page"], p["offset"])


def item_params(args: Args) -> dict[str, Any]:
    return {"context": args.enum("context", "view", ("view", "edit"))}


async def get_order(call: Call, p: dict[str, Any]) -> Answer:
    record = call.state.orders.get(call.id or 0)
    if record is None:
        raise RestError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
    return Answer(200, record.rest(call.state.clock, call.state.site_url))


def customer_params(args: Args) -> dict[str, Any]:
    return {
        **_paging(args),
        "order": args.enum("order", "asc", ("asc", "desc")),
        "orderby": args.enum("orderby", "name", ("id", "include", "name", "registered_date")),
        "email": args.string("email"),
        "role": args.enum("role", "customer", ("all", *ROLES)),
    }


async def list_customers(call: Call, p: dict[str, Any]) -> Answer:
    found = [
        record
        for record in _filtered(call.state.customers, p)
        if (p["role"] == "all" or record.body.get("role") == p["role"])
        and (p["email"] is None or record.body.get("email") == p["email"])
    ]
    orderby = p["orderby"]
    if orderby == "include" and p["include"]:
        found.sort(key=lambda r: p["include"].index(r.id))
    else:
        keys = {
            "name": lambda r: (
                f"{r.body.get('first_name', '')} {r.body.get('last_name', '')}",
                r.id,
            ),
            "registered_date": lambda r: (r.created, r.id),
        }
        found.sort(key=keys.get(orderby, lambda r: (r.id,)), reverse=p["order"] == "desc")
    state = call.state
    items = [record.rest(state.clock, state.site_url) for record in found]
    return page(call, items, p["page"], p["per_page"], p["offset"])


async def get_customer(call: Call, p: dict[str, Any]) -> Answer:
    record = call.state.customers.get(call.id or 0)
    if record is None:
        raise RestError(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")
    return Answer(200, record.rest(call.state.clock, call.state.site_url))


ENDPOINTS = [
    Endpoint(READABLE, "/orders", order_params, LIST_REFUSAL, list_orders),
    Endpoint(READABLE, r"/orders/(?P<id>\d+)", item_params, VIEW_REFUSAL, get_order),
    Endpoint(READABLE, "/customers", customer_params, LIST_REFUSAL, list_customers),
    Endpoint(READABLE, r"/customers/(?P<id>\d+)", item_params, VIEW_REFUSAL, get_customer),
]
