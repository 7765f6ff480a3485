from decimal import Decimal
from typing import Any

import pytest
from mapper_fixtures import sole_reason, sole_upsert

from mappers import StoreContext, Upsert
from mappers.kanal import encode
from mappers.shopify import TOPICS, map_order

CTX = StoreContext(default_country="FR")


def order(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 820982911946154508,
        "name": "#1001",
        "created_at": "2025-03-01T10:00:00+01:00",
        "processed_at": "2025-03-01T10:00:05+01:00",
        "updated_at": "2025-03-02T08:30:00+01:00",
        "total_price": "49.90",
        "currency": "EUR",
        "financial_status": "paid",
        "fulfillment_status": None,
        "customer": {"id": 115310627314723954, "first_name": "Jeanne", "last_name": "Roux"},
        "shipping_address": {"phone": "06 12 34 56 78", "country_code": "FR"},
        "line_items": [],
    }
    base.update(fields)
    return base


def upsert(payload: dict[str, Any], ctx: StoreContext = CTX) -> Upsert:
    return sole_upsert(map_order(payload, ctx))


def reason(payload: dict[str, Any], ctx: StoreContext = CTX) -> str:
    return sole_reason(map_order(payload, ctx))


def test_every_order_topic_upserts_the_order() -> None:
    assert set(TOPICS) == {
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/fulfilled",
        "orders/partially_fulfilled",
        "orders/cancelled",
    }
    for mapper in TOPICS.values():
        (action,) = mapper(order(), CTX)
        assert isinstance(action, Upsert) and action.resource == "orders"


def test_ids_above_2_53_stay_exact_decimal_strings() -> None:
    action = upsert(order())
    assert action.external_id == action.body["external_id"] == "820982911946154508"
    assert action.body["customer"]["external_id"] == "115310627314723954"


def test_merchant_order_name_goes_in_metadata() -> None:
    assert upsert(order()).body["metadata"]["order_name"] == "#1001"


def test_version_is_updated_at_in_microseconds() -> None:
    assert upsert(order()).version == 1_740_900_600_000_000
    assert upsert(order(updated_at=None)).version == 0
    assert upsert(order(updated_at="garbage")).version == 0


def test_placed_at_is_processed_at_then_created_at_then_updated_at() -> None:
    assert upsert(order()).body["placed_at"] == "2025-03-01T10:00:05+01:00"
    assert upsert(order(processed_at=None)).body["placed_at"] == "2025-03-01T10:00:00+01:00"
    later = order(processed_at="", created_at=None)
    assert upsert(later).body["placed_at"] == "2025-03-02T08:30:00+01:00"


def test_an_order_with_no_usable_date_is_ignored() -> None:
    assert reason(order(processed_at=None, created_at="soon", updated_at=12)) == "no_date"


def test_total_is_an_exact_decimal() -> None:
    body = upsert(order(total_price="409.94")).body
    assert body["total_price"] == Decimal("409.94")
    assert b'"total_price":409.94' in encode(body)


def test_total_falls_back_to_the_shop_money_set_and_is_required() -> None:
    payload = order(total_price=None, total_price_set={"shop_money": {"amount": "12.50"}})
    assert upsert(payload).body["total_price"] == Decimal("12.50")
    assert reason(order(total_price="free")) == "no_total"
    assert reason(order(total_price="-1.00")) == "no_total"


def test_a_total_kanal_cannot_hold_is_rounded_to_cents_or_not_sent() -> None:
    # decimal(12,2): three-decimal currencies are rounded as the column would round them.
    assert upsert(order(total_price="12.345", currency="KWD")).body["total_price"] == Decimal(
        "12.35"
    )
    assert upsert(order(total_price="12.340")).body["total_price"] == Decimal("12.340")
    assert upsert(order(total_price="9999999999.99")).body["total_price"] == Decimal(
        "9999999999.99"
    )
    assert reason(order(total_price="10000000000")) == "total_out_of_range"
    assert reason(order(total_price="9999999999.995")) == "total_out_of_range"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("eur", "EUR"), (" KWD ", "KWD"), ("XYZ", None), ("HRK", None), ("EURO", None)],
)
def test_only_an_iso_4217_currency_is_sent(sent: str, kept: str | None) -> None:
    assert upsert(order(currency=sent)).body.get("currency") == kept


def test_tags_and_line_items_stay_within_kanals_limits() -> None:
    tags = ",".join(f"t{i}" for i in range(300))
    items = [{"title": f"item {i}", "quantity": 1, "price": "1.00"} for i in range(600)]
    body = upsert(order(tags=tags, line_items=items, customer={"tags": tags})).body
    assert body["tags"] == [f"t{i}" for i in range(250)]
    assert body["customer"]["tags"] == body["tags"]
    assert [item["title"] for item in body["line_items"]] == [f"item {i}" for i in range(500)]


@pytest.mark.parametrize(
    "status",
    ["pending", "authorized", "partially_paid", "paid", "partially_refunded", "refunded", "voided"],
)
def test_financial_status_keeps_shopify_vocabulary(status: str) -> None:
    assert upsert(order(financial_status=status)).body["financial_status"] == status


def test_unknown_financial_status_passes_through_and_null_is_left_out() -> None:
    assert upsert(order(financial_status="x" * 100)).body["financial_status"] == "x" * 64
    assert "financial_status" not in upsert(order(financial_status=None)).body


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, "unfulfilled"),
        ("", "unfulfilled"),
        ("partial", "partial"),
        ("fulfilled", "fulfilled"),
        ("restocked", "restocked"),
        ("on_hold", "on_hold"),
        (42, "unfulfilled"),
    ],
)
def test_fulfillment_status(raw: object, expected: str) -> None:
    assert upsert(order(fulfillment_status=raw)).body["fulfillment_status"] == expected


def test_a_cancelled_order_is_never_a_live_unfulfilled_one() -> None:
    body = upsert(
        order(
            cancelled_at="2025-03-02T08:30:00+01:00", cancel_reason="fraud", fulfillment_status=None
        )
    ).body
    assert body["fulfillment_status"] == "cancelled"
    assert body["metadata"]["cancel_reason"] == "fraud"


def test_cancel_reason_is_only_reported_for_cancelled_orders() -> None:
    assert "cancel_reason" not in upsert(order(cancel_reason="customer")).body["metadata"]


def test_phone_candidates_are_tried_in_shopify_order() -> None:
    payload = order(
        customer={"phone": "+33 6 98 76 54 32"},
        phone="+33 6 00 00 00 02",
        shipping_address={"phone": "06 12 34 56 78", "country_code": "FR"},
        billing_address={"phone": "07911 123456", "country_code": "GB"},
    )
    assert upsert(payload).body["customer"]["phone"] == "+33698765432"
    payload["customer"]["phone"] = "not a phone"
    assert upsert(payload).body["customer"]["phone"] == "+33600000002"
    payload["phone"] = None
    assert upsert(payload).body["customer"]["phone"] == "+33612345678"
    payload["shipping_address"]["phone"] = "555-555-SHIP"
    assert upsert(payload).body["customer"]["phone"] == "+447911123456"


def test_default_address_phone_is_the_last_resort_with_its_own_country() -> None:
    payload = order(
        shipping_address=None,
        customer={"default_address": {"phone": "(21) 98765-4321", "country_code": "BR"}},
    )
    assert upsert(payload).body["customer"]["phone"] == "+5521987654321"


def test_a_national_customer_phone_uses_the_buyer_address_country() -> None:
    payload = order(
        customer={"phone": "(574) 217-7025"},
        shipping_address={"country_code": "US"},
    )
    assert upsert(payload).body["customer"]["phone"] == "+15742177025"


def test_no_usable_phone_is_ignored() -> None:
    payload = order(
        shipping_address={"phone": "555-555-SHIP", "country_code": "US"},
        billing_address={"phone": "555-555-SHIP", "country_code": "US"},
        customer={"default_address": {"phone": "123-123-1234", "country_code": "CA"}},
    )
    assert reason(payload) == "no_phone"


def test_names_fall_back_to_the_addresses() -> None:
    payload = order(
        customer={"first_name": None, "last_name": ""},
        shipping_address={"phone": "06 12 34 56 78", "country_code": "FR", "first_name": "Steve"},
        billing_address={"last_name": "Shipper"},
    )
    customer = upsert(payload).body["customer"]
    assert (customer["first_name"], customer["last_name"]) == ("Steve", "Shipper")


def test_email_falls_back_to_the_order_then_contact_email_and_invalid_ones_are_dropped() -> None:
    payload = order(customer={"email": "not-an-email"}, email="", contact_email="jon@example.com")
    assert upsert(payload).body["customer"]["email"] == "jon@example.com"
    payload["contact_email"] = "jon@localhost"
    assert "email" not in upsert(payload).body["customer"]


def test_locale_is_cut_to_ten_characters() -> None:
    assert upsert(order(customer_locale="en-NL")).body["customer"]["locale"] == "en-NL"
    long_locale = order(customer_locale="zh-Hant-TW-x-private")
    assert upsert(long_locale).body["customer"]["locale"] == "zh-Hant-TW"


def test_legacy_customer_stats_and_tags_are_sent_when_present() -> None:
    payload = order(
        customer={"orders_count": 3, "total_spent": "120.50", "tags": "vip, , wholesale"}
    )
    customer = upsert(payload).body["customer"]
    assert customer["orders_count"] == 3
    assert customer["lifetime_value"] == 121
    assert customer["tags"] == ["vip", "wholesale"]


def test_missing_customer_stats_are_never_invented() -> None:
    customer = upsert(order(customer={"id": 5})).body["customer"]
    assert {"orders_count", "lifetime_value", "tags"}.isdisjoint(customer)
    odd = upsert(order(customer={"orders_count": -1, "total_spent": "lots"})).body["customer"]
    assert {"orders_count", "lifetime_value"}.isdisjoint(odd)


def test_a_payload_without_customer_still_maps_from_the_order_fields() -> None:
    payload = order(customer=None, email="x@example.com")
    assert upsert(payload).body["customer"] == {"phone": "+33612345678", "email": "x@example.com"}


def test_line_items_carry_exact_prices_and_string_ids() -> None:
    item = {
        "title": "IPod Nano - 8gb",
        "quantity": 2,
        "price": "199.00",
        "sku": "IPOD2008GREEN",
        "product_id": 632910392,
        "variant_id": 39072856,
        "variant_title": "green",
    }
    (mapped,) = upsert(order(line_items=[item])).body["line_items"]
    assert mapped == {
        **item,
        "price": Decimal("199.00"),
        "product_id": "632910392",
        "variant_id": "39072856",
    }


def test_custom_line_items_without_ids_or_titles_are_kept_null_safe() -> None:
    items = [
        {"name": "Gift wrap", "price_set": {"shop_money": {"amount": "2.50"}}, "product_id": None},
        "garbage",
        {"quantity": True, "price": "free"},
    ]
    assert upsert(order(line_items=items)).body["line_items"] == [
        {"title": "Gift wrap", "price": Decimal("2.50")},
        {},
    ]


def test_tags_are_split_and_trimmed() -> None:
    assert upsert(order(tags=" tag1,tag2 , ,tag1")).body["tags"] == ["tag1", "tag2"]
    assert upsert(order(tags=None)).body["tags"] == []


def test_metadata_is_small_and_useful() -> None:
    payload = order(
        source_name="pos",
        test=False,
        order_number=1001,
        note_attributes=[{"name": "gift", "value": "yes"}, {"name": "n", "value": {"x": 1}}, "x"],
        note="long private note",
    )
    assert upsert(payload).body["metadata"] == {
        "platform": "shopify",
        "order_name": "#1001",
        "order_number": "1001",
        "source_name": "pos",
        "test": False,
        "note_attributes": {"gift": "yes"},
    }


def test_test_orders_are_ignored_only_when_the_store_skips_them() -> None:
    skipping = StoreContext(default_country="FR", skip_test_orders=True)
    assert reason(order(test=True), skipping) == "test_order"
    assert upsert(order(test=True)).body["metadata"]["test"] is True
    assert isinstance(map_order(order(test="true"), skipping)[0], Upsert)


@pytest.mark.parametrize("bad_id", [None, 0, -5, "", "gid://shopify/Order/1", 1.5, True, []])
def test_an_order_without_a_usable_id_is_ignored(bad_id: object) -> None:
    assert reason(order(id=bad_id)) == "no_id"


def test_long_strings_are_cut_to_kanal_limits() -> None:
    payload = order(
        customer={"first_name": "A" * 300, "last_name": "B" * 300},
        line_items=[{"title": "T" * 300, "sku": "S" * 300}],
    )
    body = upsert(payload).body
    assert len(body["customer"]["first_name"]) == 255
    assert len(body["line_items"][0]["title"]) == 255
