from decimal import Decimal
from typing import Any

import pytest
from mapper_fixtures import sole_reason, sole_upsert

from bridge.emulators.kanal.validation import validate_patch
from mappers import Ignored, Patch, StoreContext, Upsert
from mappers.woocommerce import STATUSES, TOPICS, map_order, map_trashed

CTX = StoreContext(default_country="FR")


def order(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 727,
        "number": "WC-727",
        "status": "processing",
        "currency": "EUR",
        "created_via": "checkout",
        "date_created": "2017-03-22T16:28:02",
        "date_created_gmt": "2017-03-22T19:28:02",
        "date_modified_gmt": "2017-03-22T19:28:08",
        "date_paid_gmt": "2017-03-22T19:28:08",
        "total": "29.35",
        "customer_id": 26,
        "billing": {
            "first_name": "Jeanne",
            "last_name": "Roux",
            "country": "FR",
            "email": "jeanne@example.com",
            "phone": "06 12 34 56 78",
        },
        "shipping": {"first_name": "Paul", "last_name": "Roux", "country": "FR"},
        "line_items": [],
        "refunds": [],
        "meta_data": [],
    }
    base.update(fields)
    return base


def upsert(payload: dict[str, Any], ctx: StoreContext = CTX) -> Upsert:
    return sole_upsert(map_order(payload, ctx))


def reason(payload: dict[str, Any], ctx: StoreContext = CTX) -> str:
    return sole_reason(map_order(payload, ctx))


def test_topics() -> None:
    assert set(TOPICS) == {"order.created", "order.updated", "order.restored", "order.deleted"}
    for topic in ("order.created", "order.updated", "order.restored"):
        assert isinstance(TOPICS[topic](order(), CTX)[0], Upsert)


def test_external_id_is_the_order_id_and_the_number_goes_in_metadata() -> None:
    action = upsert(order())
    assert action.external_id == action.body["external_id"] == "727"
    assert action.body["metadata"]["order_number"] == "WC-727"


def test_dates_are_the_gmt_fields_read_as_utc() -> None:
    action = upsert(order())
    assert action.body["placed_at"] == "2017-03-22T19:28:02+00:00"
    assert action.version == 1_490_210_888_000_000


def test_placed_at_falls_back_to_date_modified_never_to_local_time() -> None:
    assert upsert(order(date_created_gmt=None)).body["placed_at"] == "2017-03-22T19:28:08+00:00"
    assert reason(order(date_created_gmt=None, date_modified_gmt="")) == "no_date"


def test_version_is_zero_without_a_modification_date() -> None:
    assert upsert(order(date_modified_gmt=None)).version == 0


def test_total_is_the_exact_decimal_string() -> None:
    assert upsert(order(total="18000")).body["total_price"] == Decimal("18000")
    assert reason(order(total=None)) == "no_total"


def test_a_total_kanal_cannot_hold_is_rounded_to_cents_or_not_sent() -> None:
    assert upsert(order(total="7.125", currency="BHD")).body["total_price"] == Decimal("7.13")
    assert reason(order(total="12345678901")) == "total_out_of_range"


def test_a_currency_outside_iso_4217_is_left_out_and_line_items_are_capped() -> None:
    item = {"name": "Mug", "quantity": 1, "subtotal": "5.00", "product_id": 9}
    body = upsert(order(currency="BTC", line_items=[item] * 501)).body
    assert "currency" not in body
    assert len(body["line_items"]) == 500


@pytest.mark.parametrize(
    ("status", "paid", "financial", "fulfillment"),
    [
        ("pending", False, "pending", "unfulfilled"),
        ("processing", True, "paid", "unfulfilled"),
        ("processing", False, "pending", "unfulfilled"),  # cash on delivery
        ("on-hold", False, "pending", "unfulfilled"),
        ("completed", True, "paid", "fulfilled"),
        ("cancelled", False, "voided", "cancelled"),
        ("refunded", True, "refunded", "cancelled"),
        ("failed", False, "failed", "unfulfilled"),
        ("trash", True, "paid", "cancelled"),
        ("trash", False, "pending", "cancelled"),
        ("ready-for-pickup", True, "paid", "ready_for_pickup"),
        ("some-plugin-status", True, "paid", "unfulfilled"),
        ("some-plugin-status", False, "pending", "unfulfilled"),
        (None, False, "pending", "unfulfilled"),
        (7, False, "pending", "unfulfilled"),
    ],
)
def test_status_table(status: object, paid: bool, financial: str, fulfillment: str) -> None:
    payload = order(status=status, date_paid_gmt="2017-03-22T19:28:08" if paid else None)
    body = upsert(payload).body
    assert (body["financial_status"], body["fulfillment_status"]) == (financial, fulfillment)


@pytest.mark.parametrize("status", ["checkout-draft", "draft", "auto-draft"])
def test_drafts_are_not_sent(status: str) -> None:
    assert reason(order(status=status)) == "draft"


def test_the_raw_status_is_kept_in_metadata() -> None:
    assert (
        upsert(order(status="wc-shipped-custom")).body["metadata"]["status"] == "wc-shipped-custom"
    )


def test_partial_refunds_mark_a_paid_order_partially_refunded() -> None:
    payload = order(
        status="completed", refunds=[{"total": "-10.00"}, {"total": "-9.00"}, {"total": None}]
    )
    body = upsert(payload).body
    assert body["financial_status"] == "partially_refunded"
    assert body["fulfillment_status"] == "fulfilled"
    assert body["metadata"]["refunded_total"] == Decimal("19.00")


def test_a_fully_refunded_order_stays_refunded() -> None:
    body = upsert(order(status="refunded", refunds=[{"total": "-29.35"}])).body
    assert body["financial_status"] == "refunded"
    assert body["metadata"]["refunded_total"] == Decimal("29.35")


def test_guest_orders_have_no_customer_external_id() -> None:
    assert "external_id" not in upsert(order(customer_id=0)).body["customer"]
    assert upsert(order(customer_id=26)).body["customer"]["external_id"] == "26"


def test_customer_comes_from_billing_with_shipping_names_as_fallback() -> None:
    payload = order()
    payload["billing"]["first_name"] = ""
    assert upsert(payload).body["customer"] == {
        "phone": "+33612345678",
        "external_id": "26",
        "first_name": "Paul",
        "last_name": "Roux",
        "email": "jeanne@example.com",
    }


def test_invalid_billing_email_is_dropped() -> None:
    payload = order()
    payload["billing"]["email"] = "jeanne at example"
    assert "email" not in upsert(payload).body["customer"]


def test_phone_is_billing_then_shipping_each_with_its_own_country() -> None:
    payload = order()
    payload["billing"]["phone"] = "724-024-2595"
    payload["billing"]["country"] = "BB"
    payload["shipping"] = {"phone": "07911 123456", "country": "GB"}
    assert upsert(payload).body["customer"]["phone"] == "+447911123456"


def test_legacy_shipping_phone_meta_is_the_last_candidate() -> None:
    payload = order(meta_data=[{"key": "_shipping_phone", "value": "2022611000"}])
    payload["billing"] = {"phone": "", "country": "US"}
    payload["shipping"] = {"country": "US"}
    assert upsert(payload).body["customer"]["phone"] == "+12022611000"


def test_no_usable_phone_is_ignored() -> None:
    assert reason(order(billing={"phone": ""}, shipping=None)) == "no_phone"


def test_line_item_prices_come_from_decimal_strings_never_the_float_price() -> None:
    item = {
        "name": "Premium Quality",
        "quantity": 3,
        "subtotal": "32.40",
        "total": "30.00",
        "price": 10.799999999999999,
        "sku": "POSTER",
        "product_id": 48,
        "variation_id": 0,
    }
    (mapped,) = upsert(order(line_items=[item])).body["line_items"]
    assert mapped == {
        "title": "Premium Quality",
        "quantity": 3,
        "price": Decimal("10.80"),
        "sku": "POSTER",
        "product_id": "48",
    }


def test_line_item_price_includes_tax_when_the_shop_prices_include_it() -> None:
    item = {"name": "Beanie", "quantity": 1, "subtotal": "17.65", "subtotal_tax": "0.35"}
    body = upsert(order(prices_include_tax=True, line_items=[item])).body
    assert body["line_items"][0]["price"] == Decimal("18.00")


def test_uneven_unit_prices_are_rounded_to_the_shop_decimals() -> None:
    item = {"name": "Third", "quantity": 3, "subtotal": "10.00"}
    assert upsert(order(line_items=[item])).body["line_items"][0]["price"] == Decimal("3.33")
    clp = {"name": "Peso", "quantity": 7, "subtotal": "18000"}
    assert upsert(order(line_items=[clp])).body["line_items"][0]["price"] == Decimal("2571")


def test_variations_get_a_variant_title_from_visible_meta_and_names_are_unescaped() -> None:
    item = {
        "name": "Ship Your Idea &ndash; Black",
        "product_id": 22,
        "variation_id": 23,
        "quantity": 1,
        "meta_data": [
            {"key": "pa_color", "value": "black", "display_value": "Black"},
            {"key": "_reduced_stock", "value": "1"},
            {"key": "size", "value": "M"},
        ],
    }
    (mapped,) = upsert(order(line_items=[item])).body["line_items"]
    assert mapped["title"] == "Ship Your Idea \u2013 Black"
    assert mapped["variant_id"] == "23"
    assert mapped["variant_title"] == "Black / M"


def test_test_mode_payments_are_skipped_only_when_the_store_says_so() -> None:
    payload = order(meta_data=[{"key": "_wcpay_mode", "value": "test"}])
    skipping = StoreContext(default_country="FR", skip_test_orders=True)
    assert reason(payload, skipping) == "test_order"
    assert upsert(payload).body["metadata"]["test"] is True


def test_trashed_order_is_a_patch_of_what_trash_maps_to() -> None:
    (action,) = map_trashed({"id": 727}, CTX)
    assert action == Patch("orders", "727", version=0, fields={"fulfillment_status": "cancelled"})
    assert STATUSES["trash"][1] == "cancelled"
    assert validate_patch("orders", action.fields) == {}


@pytest.mark.parametrize(
    "payload",
    [
        {"code": "woocommerce_rest_cannot_view", "message": "no", "data": {"status": 401}},
        {"id": None},
        {"id": "abc"},
        {"id": 0},
    ],
)
def test_bodies_without_a_usable_id_are_ignored(payload: dict[str, Any]) -> None:
    assert map_order(payload, CTX) == [Ignored("no_id")]
    assert map_trashed(payload, CTX) == [Ignored("no_id")]
