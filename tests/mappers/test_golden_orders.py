"""Every order fixture maps to its reviewed Kanal body in tests/golden/, which Kanal accepts.

Most fixtures carry fictional phone numbers (555 exchanges, 123-123-1234) that are not valid
numbers, so as received they are ignored with `no_phone`. Each such fixture is also mapped
with one realistic number put where a shop would have it (the `.valid-phone` goldens), so
every mapped field is reviewed on every real payload.

Set UPDATE_GOLDEN=1 (only 1) to rewrite the goldens from the mapper, then review the diff
by hand; tests/mappers/test_golden_files.py checks every golden has its case and back.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest
from mapper_fixtures import ORDER_TOPIC, OrderFixture, as_json, golden, order_fixtures

from bridge.emulators.kanal.validation import validate
from mappers import StoreContext, Upsert, map_webhook
from mappers.kanal import encode

CTX = StoreContext(default_country="FR")

# fixture name → (where a shop puts the phone, a valid number written as shoppers write it)
VALID_PHONES: dict[str, tuple[tuple[str, str], str]] = {
    "docs-sample-orders-create-customer-phone-on-addresses-only": (
        ("shipping_address", "phone"),
        "(502) 555-0123",
    ),
    "shopify-api-ruby-legacy-rest-order-with-customer-stats": (
        ("shipping_address", "phone"),
        "502.555.0188",
    ),
    "docs-v3-list-orders-registered-completed-partial-refunds.727": (
        ("billing", "phone"),
        "(415) 555-0199",
    ),
    "docs-v3-list-orders-registered-completed-partial-refunds.723": (
        ("billing", "phone"),
        "(21) 98765-4321",
    ),
    "docs-v3-retrieve-order-guest-processing-usd": (("billing", "phone"), "(415) 555-0199"),
    # billing's number stays invalid: the valid shipping one must be picked after it.
    "ios-rest-order-block-checkout-store-api-shipping-phone": (
        ("shipping", "phone"),
        "(246) 234-5678",
    ),
    # billing country is empty too: the 00 prefix carries the country.
    "ios-rest-order-guest-no-phone-gbp-cod": (("billing", "phone"), "00 44 7911 123456"),
    "ios-rest-order-refunded-registered-usd": (("billing", "phone"), "(213) 555-0134"),
}


def _with_valid_phone(order: OrderFixture) -> OrderFixture:
    (address, key), number = VALID_PHONES[order.name]
    payload = copy.deepcopy(order.payload)
    payload[address] = {**(payload.get(address) or {}), key: number}
    return OrderFixture(f"{order.name}.valid-phone", order.platform, payload)


ORDERS = order_fixtures()
CASES = ORDERS + [_with_valid_phone(order) for order in ORDERS if order.name in VALID_PHONES]


@pytest.mark.parametrize("order", CASES, ids=[order.name for order in CASES])
def test_order_fixture_maps_to_its_reviewed_golden(order: OrderFixture) -> None:
    actions = map_webhook(order.platform, ORDER_TOPIC[order.platform], order.payload, CTX)
    actual = as_json(actions)
    assert actual == golden(order.name, actual)


@pytest.mark.parametrize("order", CASES, ids=[order.name for order in CASES])
def test_kanal_accepts_every_mapped_fixture(order: OrderFixture) -> None:
    for action in map_webhook(order.platform, ORDER_TOPIC[order.platform], order.payload, CTX):
        if isinstance(action, Upsert):
            body = json.loads(encode(action.body), parse_float=Decimal)
            assert validate(action.resource, body) == {}


def test_fixtures_with_fictional_numbers_are_ignored_for_no_phone() -> None:
    mapped = {
        order.name: map_webhook(order.platform, ORDER_TOPIC[order.platform], order.payload, CTX)
        for order in ORDERS
    }
    assert {name for name, actions in mapped.items() if not isinstance(actions[0], Upsert)} == (
        set(VALID_PHONES)
    )


def test_every_valid_phone_variant_is_sent() -> None:
    for order in CASES[len(ORDERS) :]:
        actions = map_webhook(order.platform, ORDER_TOPIC[order.platform], order.payload, CTX)
        assert isinstance(actions[0], Upsert), order.name
