"""The emulated shop's data: one REST-shaped record per order, customer and checkout.

Each record is kept as the body Shopify's webhooks carry for it (snake_case, integer ids,
local times with the shop's offset), and the GraphQL nodes are derived from that same record
(`graphql.py`), so a webhook and a GraphQL answer always describe the same state. A few facts
Shopify keeps out of webhook bodies since API 2025-01 (a customer's marketing consent) live
in the record under keys starting with `_` and are stripped from deliveries.

Times have Shopify's REST precision (whole seconds). Each write moves a record's `updated_at`
forward by at least a second, so no two states of a record share a version.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from typing import Any

import orjson

# Shopify-sized ids (above 2^53, where JavaScript loses precision) so that exactness shows.
FIRST_ID = 2**53 + 1_000_001
PRIVATE = "_"  # record keys starting with this never reach a webhook body

ORDER_TOPIC_ON_STATUS = {
    ("financial_status", "paid"): "orders/paid",
    ("fulfillment_status", "fulfilled"): "orders/fulfilled",
    ("fulfillment_status", "partial"): "orders/partially_fulfilled",
}


def rest_time(moment: datetime, offset: timezone) -> str:
    """A REST/webhook timestamp: whole seconds in the shop's offset (2026-11-20T10:15:00+01:00)."""
    return moment.astimezone(offset).replace(microsecond=0).isoformat()


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def gid(kind: str, number: int | str) -> str:
    return f"gid://shopify/{kind}/{number}"


def webhook_body(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a delivery carries for `record`: everything but the private keys."""
    return {key: value for key, value in record.items() if not key.startswith(PRIVATE)}


def _template() -> dict[str, Any]:
    raw = resources.files("bridge").joinpath("samples/shopify-order.json").read_bytes()
    order: dict[str, Any] = orjson.loads(raw)
    return order


class ShopData:
    """Orders, customers and abandoned checkouts of one shop, with their ids and clock."""

    def __init__(
        self,
        domain: str,
        *,
        name: str = "Emulated shop",
        currency: str = "USD",
        utc_offset_minutes: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.domain = domain
        self.name = name
        self.currency = currency
        self.offset = timezone(timedelta(minutes=utc_offset_minutes))
        self.clock = clock
        self.shop_id = 548380009
        self.orders: dict[int, dict[str, Any]] = {}
        self.customers: dict[int, dict[str, Any]] = {}
        self.checkouts: dict[int, dict[str, Any]] = {}
        self._ids: Iterator[int] = itertools.count(FIRST_ID, 7919)
        self._numbers: Iterator[int] = itertools.count(1)
        self._template = _template()

    # -- time and ids -------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(int(self.clock()), UTC)

    def stamp(self, previous: object = None) -> str:
        """Now as a REST timestamp, at least a second after `previous`."""
        moment = self.now()
        before = parse_time(previous)
        if before is not None and moment <= before:
            moment = before + timedelta(seconds=1)
        return rest_time(moment, self.offset)

    def new_id(self) -> int:
        return next(self._ids)

    def iana_timezone(self) -> str:
        """The shop's time zone as the API names it: a fixed-offset `Etc/GMT±N` zone (whose
        sign is inverted, as in the tz database) for whole hours, else UTC."""
        offset = self.offset.utcoffset(None)
        hours, rest = divmod(int(offset.total_seconds()), 3600)
        if rest or not -14 <= hours <= 12:
            return "Etc/UTC"
        return "Etc/UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"

    # -- customers ----------------------------------------------------------------------

    def create_customer(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        number = int(fields["id"]) if fields.get("id") is not None else self.new_id()
        now = self.stamp()
        customer: dict[str, Any] = {
            "id": number,
            "email": None,
            "created_at": now,
            "updated_at": now,
            "first_name": None,
            "last_name": None,
            "state": "enabled",
            "note": None,
            "verified_email": True,
            "multipass_identifier": None,
            "tax_exempt": False,
            "phone": None,
            "currency": self.currency,
            "addresses": [],
            "tax_exemptions": [],
            "admin_graphql_api_id": gid("Customer", number),
            "default_address": None,
            "_locale": "en",
            "_email_marketing_state": "NOT_SUBSCRIBED",
            "_sms_marketing_state": "NOT_SUBSCRIBED",
            "_orders_count": 0,
            "_amount_spent": "0.00",
            "_tags": [],
        }
        self._apply(customer, fields, ("id", "admin_graphql_api_id", "created_at", "updated_at"))
        if fields.get("created_at"):
            customer["created_at"] = fields["created_at"]
            customer["updated_at"] = fields.get("updated_at") or fields["created_at"]
        self._address_ids(customer)
        self.customers[number] = customer
        return customer

    def update_customer(self, number: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        customer = self.customers[number]
        self._apply(customer, fields, ("id", "admin_graphql_api_id", "created_at", "updated_at"))
        customer["updated_at"] = fields.get("updated_at") or self.stamp(customer["updated_at"])
        self._address_ids(customer)
        return customer

    def _address_ids(self, customer: dict[str, Any]) -> None:
        for address in [customer.get("default_address"), *(customer.get("addresses") or [])]:
            if isinstance(address, dict):
                address.setdefault("id", self.new_id())
                address.setdefault("customer_id", customer["id"])

    def embedded_customer(self, customer: Mapping[str, Any]) -> dict[str, Any]:
        """A customer as an order or checkout carries it: the shop's record, without the
        private keys and the address list."""
        body = webhook_body(customer)
        body.pop("addresses", None)
        return body

    # -- orders -------------------------------------------------------------------------

    def create_order(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """A new order from the bundled sample with `fields` (REST names) put over it; a
        `customer_id` embeds that customer, a `customer` without a known id creates one."""
        number = self.new_id()
        order = copy.deepcopy(self._template)
        sequence = next(self._numbers)
        now = self.stamp()
        token = secrets.token_hex(16)
        order.update(
            {
                "id": number,
                "admin_graphql_api_id": gid("Order", number),
                "number": sequence,
                "order_number": 1000 + sequence,
                "name": f"#{1000 + sequence}",
                "token": token,
                "created_at": now,
                "processed_at": now,
                "updated_at": now,
                "currency": self.currency,
                "presentment_currency": self.currency,
                "order_status_url": f"https://{self.domain}/{self.shop_id}/orders/{token}"
                f"/authenticate?key={secrets.token_hex(8)}",
                "fulfillments": [],
                "refunds": [],
            }
        )
        for item in order.get("line_items", []):
            item["id"] = self.new_id()
            item["admin_graphql_api_id"] = gid("LineItem", item["id"])
        self._apply(order, fields, ("id", "admin_graphql_api_id", "customer_id"))
        if fields.get("created_at") and not fields.get("updated_at"):
            order["updated_at"] = fields["created_at"]
        if fields.get("created_at") and not fields.get("processed_at"):
            order["processed_at"] = fields["created_at"]
        self._money_sets(order)
        self._link_customer(order, fields)
        self.orders[number] = order
        return order

    def update_order(
        self, number: int, fields: Mapping[str, Any]
    ) -> tuple[dict[str, Any], list[str]]:
        """Apply `fields` to an order; the record and the topics Shopify would send."""
        order = self.orders[number]
        before = {
            key: order.get(key)
            for key in ("financial_status", "fulfillment_status", "cancelled_at")
        }
        self._apply(order, fields, ("id", "admin_graphql_api_id", "customer_id", "updated_at"))
        order["updated_at"] = fields.get("updated_at") or self.stamp(order["updated_at"])
        self._money_sets(order)
        self._link_customer(order, fields)
        topics = ["orders/updated"]
        if order.get("cancelled_at") and not before["cancelled_at"]:
            topics.append("orders/cancelled")
        for (key, value), topic in ORDER_TOPIC_ON_STATUS.items():
            if order.get(key) == value and before[key] != value:
                topics.append(topic)
        return order, topics

    def add_fulfillment(
        self, number: int, fields: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A fulfillment of the whole order (REST fields); the fulfillment and the order."""
        order = self.orders[number]
        ident = self.new_id()
        now = self.stamp(order["updated_at"])
        fulfillment: dict[str, Any] = {
            "id": ident,
            "admin_graphql_api_id": gid("Fulfillment", ident),
            "order_id": number,
            "name": f"{order['name']}.{len(order['fulfillments']) + 1}",
            "status": "success",
            "shipment_status": None,
            "created_at": now,
            "updated_at": now,
            "tracking_company": None,
            "tracking_number": None,
            "tracking_numbers": [],
            "tracking_url": None,
            "tracking_urls": [],
            "service": "manual",
            "location_id": None,
            "email": order.get("email"),
            "line_items": copy.deepcopy(order.get("line_items", [])),
        }
        self._apply(fulfillment, fields, ("id", "admin_graphql_api_id", "order_id"))
        if fulfillment["tracking_number"] and not fulfillment["tracking_numbers"]:
            fulfillment["tracking_numbers"] = [fulfillment["tracking_number"]]
        if fulfillment["tracking_url"] and not fulfillment["tracking_urls"]:
            fulfillment["tracking_urls"] = [fulfillment["tracking_url"]]
        order["fulfillments"].append(fulfillment)
        order["fulfillment_status"] = "fulfilled"
        order["updated_at"] = now
        return fulfillment, order

    def _link_customer(self, order: dict[str, Any], fields: Mapping[str, Any]) -> None:
        customer: dict[str, Any] | None = None
        if fields.get("customer_id") is not None:
            customer = self.customers[int(fields["customer_id"])]
        elif isinstance(fields.get("customer"), dict):
            given = fields["customer"]
            known = given.get("id")
            if known is not None and int(known) in self.customers:
                customer = self.update_customer(int(known), given)
            else:
                customer = self.create_customer(given)
        elif "customer" not in fields and isinstance(order.get("customer"), dict):
            known = order["customer"].get("id")
            if known is not None and int(known) in self.customers:
                customer = self.customers[int(known)]
            else:  # the template's buyer: a customer of this shop like any other
                customer = self.create_customer(order["customer"])
        if customer is not None:
            order["customer"] = self.embedded_customer(customer)

    def _money_sets(self, order: dict[str, Any]) -> None:
        currency = order.get("currency") or self.currency
        for name in (
            "total_price",
            "subtotal_price",
            "total_tax",
            "total_discounts",
            "current_total_price",
            "total_line_items_price",
        ):
            amount = order.get(name)
            if amount is None:
                continue
            money = {"amount": str(amount), "currency_code": currency}
            order[f"{name}_set"] = {"shop_money": money, "presentment_money": dict(money)}

    # -- abandoned checkouts ------------------------------------------------------------

    def create_checkout(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        number = self.new_id()
        token, cart_token = secrets.token_hex(16), secrets.token_hex(16)
        now = self.stamp()
        order = self._template
        checkout: dict[str, Any] = {
            "id": number,
            "token": token,
            "cart_token": cart_token,
            "name": f"#{number}",
            "email": None,
            "phone": None,
            "sms_marketing_phone": None,
            "buyer_accepts_marketing": False,
            "buyer_accepts_sms_marketing": False,
            "created_at": now,
            "updated_at": now,
            "completed_at": None,
            "closed_at": None,
            "currency": self.currency,
            "presentment_currency": self.currency,
            "customer_locale": "en",
            "source_name": "web",
            "note": None,
            "note_attributes": [],
            "discount_codes": [],
            "taxes_included": False,
            # Current checkouts: the recovery URL carries the cart token (docs/mapping.md).
            "abandoned_checkout_url": f"https://{self.domain}/{self.shop_id}/checkouts/ac/"
            f"{cart_token}/recover?key={secrets.token_hex(8)}",
            "line_items": copy.deepcopy(order.get("line_items", [])),
            "subtotal_price": order.get("subtotal_price"),
            "total_price": order.get("total_price"),
            "total_tax": "0.00",
            "billing_address": copy.deepcopy(order.get("billing_address")),
            "shipping_address": copy.deepcopy(order.get("shipping_address")),
            "customer": None,
        }
        self._apply(checkout, fields, ("id", "token", "customer_id"))
        if fields.get("created_at") and not fields.get("updated_at"):
            checkout["updated_at"] = fields["created_at"]
        if fields.get("customer_id") is not None:
            checkout["customer"] = self.embedded_customer(
                self.customers[int(fields["customer_id"])]
            )
        self.checkouts[number] = checkout
        return checkout

    def update_checkout(self, number: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        checkout = self.checkouts[number]
        self._apply(checkout, fields, ("id", "token", "customer_id", "updated_at"))
        checkout["updated_at"] = fields.get("updated_at") or self.stamp(checkout["updated_at"])
        if fields.get("customer_id") is not None:
            checkout["customer"] = self.embedded_customer(
                self.customers[int(fields["customer_id"])]
            )
        return checkout

    # -- lookups ------------------------------------------------------------------------

    @staticmethod
    def _apply(record: dict[str, Any], fields: Mapping[str, Any], skip: tuple[str, ...]) -> None:
        for key, value in fields.items():
            if key not in skip and key != "topics":
                record[key] = copy.deepcopy(value)

    def find(self, kind: str, number: int) -> dict[str, Any] | None:
        """The record behind `gid://shopify/{kind}/{number}`, if the shop holds it."""
        records = {
            "Order": self.orders,
            "Customer": self.customers,
            "AbandonedCheckout": self.checkouts,
        }.get(kind, {})
        return records.get(number)
