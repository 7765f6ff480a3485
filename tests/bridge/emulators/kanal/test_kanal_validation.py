# ruff: noqa: E501  (tables of cases read best one per line)
from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from bridge.emulators.kanal.validation import (
    CURRENCIES,
    clean,
    clean_patch,
    money,
    summary,
    unknown_keys,
    validate,
    validate_patch,
    validate_path_id,
)

CUSTOMER = {
    "external_id": "207119551",
    "phone": "+33612345678",
    "first_name": "Léa",
    "last_name": "Martin",
    "email": "lea@example.fr",
    "locale": "fr",
    "tags": ["vip"],
    "lifetime_value": 120,
    "orders_count": 3,
}

VALID: dict[str, dict[str, Any]] = {
    "orders": {
        "external_id": "820982911946154508",
        "placed_at": "2024-03-01T10:15:00+01:00",
        "total_price": Decimal("49.90"),
        "currency": "EUR",
        "financial_status": "paid",
        "fulfillment_status": "unfulfilled",
        "customer": CUSTOMER,
        "line_items": [
            {
                "title": "Mug",
                "quantity": 1,
                "price": Decimal("49.90"),
                "sku": "MUG-1",
                "product_id": "632910392",
                "variant_id": "808950810",
                "variant_title": "Blue / L",
            }
        ],
        "tags": ["web"],
        "metadata": {"name": "#1001"},
    },
    "checkouts": {
        "external_id": "c1a2b3",
        "abandoned_at": "2024-03-01T09:15:00Z",
        "total_price": 0,
        "currency": "EUR",
        "recovery_url": "https://shop.example/recover/c1a2b3?key=1",
        "customer": {"phone": "+14155552671"},
        "line_items": [],
        "tags": [],
        "metadata": {},
    },
    "customers": CUSTOMER,
    "shipments": {
        "external_id": "s1",
        "order_external_id": "820982911946154508",
        "tracking_number": "1Z999",
        "tracking_url": "http://track.example/1Z999",
        "carrier": "UPS",
        "status": "in_transit",
        "metadata": {"a": 1},
    },
}


def with_(resource: str, path: str, value: Any) -> dict[str, Any]:
    """The valid body of `resource` with `path` (dotted) set to `value`, or removed if ...."""
    body = copy.deepcopy(VALID[resource])
    *parents, last = path.split(".")
    target = body
    for name in parents:
        target = target[name]
    if value is ...:
        target.pop(last, None)
    else:
        target[last] = value
    return body


@pytest.mark.parametrize("resource", sorted(VALID))
def test_valid_bodies_are_accepted(resource: str) -> None:
    assert validate(resource, VALID[resource]) == {}


def test_minimal_order_is_accepted() -> None:
    body = {
        "external_id": "1",
        "placed_at": "2024-03-01T10:15:00Z",
        "total_price": 5,
        "customer": {"phone": "+33612345678"},
    }
    assert validate("orders", body) == {}


# (resource, dotted path, bad value (... = absent), error key, message)
FAILING = [
    ("orders", "external_id", ..., "external_id", "The external id field is required."),
    ("orders", "external_id", "  ", "external_id", "The external id field is required."),
    ("orders", "external_id", 820982911946154508, "external_id", "The external id field must be a string."),
    ("orders", "external_id", "x" * 256, "external_id", "The external id field must not be greater than 255 characters."),
    ("orders", "placed_at", ..., "placed_at", "The placed at field is required."),
    ("orders", "placed_at", "2024-03-01", "placed_at", "The placed at field must be a valid ISO 8601 date with a time zone offset."),
    ("orders", "placed_at", "2024-03-01T10:15:00", "placed_at", "The placed at field must be a valid ISO 8601 date with a time zone offset."),
    ("orders", "placed_at", "2024-02-30T10:15:00Z", "placed_at", "The placed at field must be a valid ISO 8601 date with a time zone offset."),
    ("orders", "total_price", ..., "total_price", "The total price field is required."),
    ("orders", "total_price", "49.90", "total_price", "The total price field must be a number."),
    ("orders", "total_price", True, "total_price", "The total price field must be a number."),
    ("orders", "total_price", Decimal("NaN"), "total_price", "The total price field must be a number."),
    ("orders", "total_price", Decimal("-0.01"), "total_price", "The total price field must be at least 0."),
    ("orders", "currency", "EURO", "currency", "The currency field must be 3 characters."),
    ("orders", "currency", "eur", "currency", "The currency field must be a valid ISO 4217 currency code."),
    ("orders", "currency", "XYZ", "currency", "The currency field must be a valid ISO 4217 currency code."),
    ("orders", "currency", "HRK", "currency", "The currency field must be a valid ISO 4217 currency code."),
    ("orders", "total_price", Decimal("10.005"), "total_price", "The total price field must have 0-2 decimal places."),
    ("orders", "total_price", 0.001, "total_price", "The total price field must have 0-2 decimal places."),
    ("orders", "total_price", Decimal("10000000000"), "total_price", "The total price field must not be greater than 9999999999.99."),
    ("orders", "total_price", 10**12, "total_price", "The total price field must not be greater than 9999999999.99."),
    ("orders", "financial_status", "p" * 65, "financial_status", "The financial status field must not be greater than 64 characters."),
    ("orders", "fulfillment_status", 3, "fulfillment_status", "The fulfillment status field must be a string."),
    ("orders", "customer", ..., "customer", "The customer field is required."),
    ("orders", "customer", ..., "customer.phone", "The customer.phone field is required."),
    ("orders", "customer", "Léa", "customer", "The customer field must be an object."),
    ("orders", "customer.phone", ..., "customer.phone", "The customer.phone field is required."),
    ("orders", "customer.phone", "0612345678", "customer.phone", "The customer.phone field must be a valid phone number in E.164 format."),
    ("orders", "customer.phone", "+33 6 12 34 56 78", "customer.phone", "The customer.phone field must be a valid phone number in E.164 format."),
    ("orders", "customer.phone", "+336123456781234567", "customer.phone", "The customer.phone field must be a valid phone number in E.164 format."),
    ("orders", "customer.phone", "+33612345678\n", "customer.phone", "The customer.phone field must be a valid phone number in E.164 format."),
    ("orders", "customer.phone", "+٣٣٦١٢٣٤٥٦٧٨", "customer.phone", "The customer.phone field must be a valid phone number in E.164 format."),
    ("orders", "customer.phone", 33612345678, "customer.phone", "The customer.phone field must be a string."),
    ("orders", "customer.email", "lea at example.fr", "customer.email", "The customer.email field must be a valid email address."),
    ("orders", "customer.email", "lea..m@example.fr", "customer.email", "The customer.email field must be a valid email address."),
    ("orders", "customer.email", "a" * 251 + "@x.fr", "customer.email", "The customer.email field must not be greater than 255 characters."),
    ("orders", "customer.first_name", "n" * 256, "customer.first_name", "The customer.first name field must not be greater than 255 characters."),
    ("orders", "customer.locale", "fr-FR-x-long", "customer.locale", "The customer.locale field must not be greater than 10 characters."),
    ("orders", "customer.tags", "vip", "customer.tags", "The customer.tags field must be an array."),
    ("orders", "customer.lifetime_value", Decimal("120.50"), "customer.lifetime_value", "The customer.lifetime value field must be an integer."),
    ("orders", "customer.orders_count", -1, "customer.orders_count", "The customer.orders count field must be at least 0."),
    ("orders", "customer.orders_count", 2**63, "customer.orders_count", "The customer.orders count field must be an integer."),
    ("orders", "customer.first_name", ..., "customer.first_name", None),
    ("orders", "customer.fist_name", "Léa", "customer.fist_name", "The customer.fist name field is prohibited."),
    ("orders", "customer.tags", ["t"] * 251, "customer.tags", "The customer.tags field must not have more than 250 items."),
    ("orders", "line_items", {"title": "Mug"}, "line_items", "The line items field must be an array."),
    ("orders", "line_items", [{"title": "Mug"}, "Mug"], "line_items.1", "The line items.1 field must be an object."),
    ("orders", "line_items", [{"title": "Mug"}] * 501, "line_items", "The line items field must not have more than 500 items."),
    ("orders", "line_items", [{"titel": "Mug"}], "line_items.0.titel", "The line items.0.titel field is prohibited."),
    ("orders", "line_items", [{"title": "M" * 256}], "line_items.0.title", "The line items.0.title field must not be greater than 255 characters."),
    ("orders", "line_items", [{"quantity": "2"}], "line_items.0.quantity", "The line items.0.quantity field must be an integer."),
    ("orders", "line_items", [{"price": "9.90"}], "line_items.0.price", "The line items.0.price field must be a number."),
    ("orders", "line_items", [{"price": -1}], "line_items.0.price", "The line items.0.price field must be at least 0."),
    ("orders", "line_items", [{"product_id": 632910392}], "line_items.0.product_id", "The line items.0.product id field must be a string."),
    ("orders", "tags", ["web", 7], "tags.1", "The tags.1 field must be a string."),
    ("orders", "tags", [f"t{i}" for i in range(251)], "tags", "The tags field must not have more than 250 items."),
    ("orders", "tags", ["t" * 256], "tags.0", "The tags.0 field must not be greater than 255 characters."),
    ("orders", "total", Decimal(1), "total", "The total field is prohibited."),
    ("orders", "metadata", {"blob": "x" * 65536}, "metadata", "The metadata field must not be greater than 64 kilobytes."),
    ("orders", "metadata", ["#1001"], "metadata", "The metadata field must be an object."),
    ("checkouts", "external_id", ..., "external_id", "The external id field is required."),
    ("checkouts", "abandoned_at", ..., "abandoned_at", "The abandoned at field is required."),
    ("checkouts", "abandoned_at", "yesterday", "abandoned_at", "The abandoned at field must be a valid ISO 8601 date with a time zone offset."),
    ("checkouts", "total_price", ..., "total_price", "The total price field is required."),
    ("checkouts", "recovery_url", "shop.example/recover", "recovery_url", "The recovery url field must be a valid URL."),
    ("checkouts", "recovery_url", "https://shop.example/" + "r" * 1010, "recovery_url", "The recovery url field must not be greater than 1024 characters."),
    ("checkouts", "customer.phone", ..., "customer.phone", "The customer.phone field is required."),
    ("customers", "phone", ..., "phone", "The phone field is required."),
    ("customers", "external_id", 5, "external_id", "The external id field must be a string."),
    ("customers", "orders_count", "3", "orders_count", "The orders count field must be an integer."),
    ("shipments", "external_id", ..., "external_id", "The external id field is required."),
    ("shipments", "order_external_id", ..., "order_external_id", "The order external id field is required."),
    ("shipments", "status", "shipped", "status", "The selected status is invalid."),
    ("shipments", "tracking_url", "ftp://track", "tracking_url", "The tracking url field must be a valid URL."),
    ("shipments", "metadata", "x", "metadata", "The metadata field must be an object."),
    ("shipments", "tracking", "1Z999", "tracking", "The tracking field is prohibited."),
    ("customers", "line_items", [], "line_items", "The line items field is prohibited."),
]  # fmt: skip


@pytest.mark.parametrize(("resource", "path", "value", "key", "message"), FAILING)
def test_rule_refuses(resource: str, path: str, value: Any, key: str, message: str | None) -> None:
    errors = validate(resource, with_(resource, path, value))
    if message is None:  # an optional field left out is fine
        assert errors == {}
    else:
        assert errors.get(key) == [message], errors


PASSING = [
    ("orders", "placed_at", "2024-03-01T10:15:00.123456Z"),
    ("orders", "placed_at", "2024-03-01T10:15:00-0500"),
    ("orders", "total_price", 0),
    ("orders", "total_price", 12.5),
    ("orders", "total_price", Decimal("49.900")),
    ("orders", "total_price", Decimal("9999999999.99")),
    ("orders", "total_price", Decimal("1E+3")),
    ("orders", "currency", "KWD"),
    ("orders", "currency", "XXX"),
    ("orders", "currency", None),
    ("orders", "currency", ""),
    ("orders", "customer.email", "a@b"),
    ("orders", "customer.email", '"lea martin"@example.fr'),
    ("orders", "customer.email", "léa@exämple.fr"),
    ("orders", "customer.phone", "+1415555"),
    ("orders", "customer.phone", "+123456789012345"),
    ("orders", "customer.lifetime_value", 0),
    ("orders", "customer.tags", []),
    ("orders", "external_id", "x" * 255),
    ("orders", "financial_status", "some-new-status"),
    ("orders", "line_items", [{}]),
    ("orders", "line_items", [{"title": "Mug"}] * 500),
    ("orders", "line_items", [{"quantity": 0, "price": Decimal("0.125")}]),
    ("orders", "tags", [f"t{i}" for i in range(250)]),
    ("orders", "metadata", {"anything": {"goes": [1, 2]}, "blob": "x" * 60000}),
    ("orders", "customer.orders_count", 2**63 - 1),
    ("checkouts", "recovery_url", "https://shop.example:8443/r?a=b#c"),
    ("shipments", "status", "returned"),
    ("shipments", "status", None),
]


@pytest.mark.parametrize(("resource", "path", "value"), PASSING)
def test_rule_accepts(resource: str, path: str, value: Any) -> None:
    assert validate(resource, with_(resource, path, value)) == {}


def test_all_errors_are_reported_in_rule_order() -> None:
    errors = validate("orders", {"placed_at": "soon", "customer": {"email": "x"}})
    assert list(errors) == [
        "external_id",
        "placed_at",
        "total_price",
        "customer.phone",
        "customer.email",
    ]


def test_unknown_keys_are_listed_and_allowed_only_when_asked() -> None:
    body = with_("orders", "note", "gift")
    body["customer"]["fist_name"] = "Léa"
    body["line_items"][0]["qty"] = 2
    body["metadata"]["free"] = {"form": True}
    paths = ["customer.fist_name", "line_items.0.qty", "note"]
    assert sorted(validate("orders", body)) == paths
    assert unknown_keys("orders", body) == ["customer.fist_name", "line_items.0.qty", "note"]
    assert validate("orders", body, allow_unknown=True) == {}
    assert unknown_keys("orders", VALID["orders"]) == []


def test_currencies_are_iso_4217_list_one() -> None:
    assert {"EUR", "USD", "JPY", "KWD", "XOF", "XXX"} <= CURRENCIES
    assert not {"EURO", "XYZ", "BTC", "HRK", "eur"} & CURRENCIES
    assert 150 < len(CURRENCIES) < 200


@pytest.mark.parametrize(
    ("external_id", "errors"),
    [
        ("820982911946154508", {}),
        ("c" * 255, {}),
        (" ", {"external_id": ["The external id field is required."]}),
        ("\t", {"external_id": ["The external id field is required."]}),
        ("c" * 256, {"external_id": ["The external id field must not be greater than 255 characters."]}),
    ],
)  # fmt: skip
def test_path_ids(external_id: str, errors: dict[str, list[str]]) -> None:
    assert validate_path_id(external_id) == errors


def test_a_body_that_is_not_an_object_is_refused() -> None:
    assert validate("orders", [VALID["orders"]]) != {}


def test_summary_counts_the_other_errors() -> None:
    assert summary({"a": ["First."]}) == "First."
    assert summary({"a": ["First."], "b": ["Second."]}) == "First. (and 1 more error)"
    assert summary({"a": ["First."], "b": ["2.", "3."]}) == "First. (and 2 more errors)"


@pytest.mark.parametrize(
    "body",
    [
        {"financial_status": "refunded"},
        {"fulfillment_status": "fulfilled", "tags": ["a"], "metadata": {"k": "v"}},
        {"financial_status": None},
        {},
    ],
)
def test_order_patch_accepts_its_fields(body: dict[str, Any]) -> None:
    assert validate_patch("orders", body) == {}


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        ({"total_price": 5}, "total_price", "The total price field is prohibited."),
        ({"customer": {}}, "customer", "The customer field is prohibited."),
        ({"financial_status": 1}, "financial_status", "The financial status field must be a string."),
        ({"tags": "a"}, "tags", "The tags field must be an array."),
        ({"metadata": []}, "metadata", "The metadata field must be an object."),
        ({"tags": ["t"] * 251}, "tags", "The tags field must not have more than 250 items."),
        ({"fulfilment_status": "fulfilled"}, "fulfilment_status", "The fulfilment status field is prohibited."),
    ],
)  # fmt: skip
def test_order_patch_refuses(body: dict[str, Any], key: str, message: str) -> None:
    assert validate_patch("orders", body) == {key: [message]}


@pytest.mark.parametrize("status", ["active", "abandoned", "recovered", "completed", "expired"])
def test_checkout_patch_accepts_each_status(status: str) -> None:
    assert (
        validate_patch("checkouts", {"status": status, "recovery_url": "https://x.example"}) == {}
    )


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        ({"status": "closed"}, "status", "The selected status is invalid."),
        ({"status": None}, "status", "The selected status is invalid."),
        ({"recovery_url": "nope"}, "recovery_url", "The recovery url field must be a valid URL."),
        ({"abandoned_at": "2024-03-01T09:15:00Z"}, "abandoned_at", "The abandoned at field is prohibited."),
    ],
)  # fmt: skip
def test_checkout_patch_refuses(body: dict[str, Any], key: str, message: str) -> None:
    assert validate_patch("checkouts", body) == {key: [message]}


def test_clean_keeps_known_fields_clears_absent_ones_and_formats_the_price() -> None:
    body = {**VALID["shipments"], "unknown": 1}
    assert clean("shipments", body) == VALID["shipments"]
    order = clean("orders", {**VALID["orders"], "total_price": Decimal("49.9")})
    assert order["total_price"] == "49.90"
    minimal = clean("orders", {"external_id": "1", "total_price": 5, "customer": {"phone": "+1"}})
    assert minimal["currency"] is None
    assert minimal["total_price"] == "5.00"
    assert minimal["customer"]["email"] is None
    assert clean_patch("orders", {"tags": ["x"], "metadata": {}}) == {"tags": ["x"], "metadata": {}}


def test_money_has_two_decimals_even_for_huge_or_tiny_amounts() -> None:
    assert money(Decimal("0.005")) == "0.01"
    assert money(12.5) == "12.50"
    assert money(Decimal("1E+40")) == "1" + "0" * 40 + ".00"
