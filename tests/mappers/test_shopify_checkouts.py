"""Checkout rules: the delay, completion, consent, deletion, and the order that recovers one."""

from typing import Any

from mappers import Ignored, Patch, StoreContext, Upsert, map_webhook

CTX = StoreContext(default_country="US", checkouts_require_consent=False)


def checkout(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "token": "tok1",
        "updated_at": "2026-03-01T10:00:00+01:00",
        "total_price": "12.50",
        "currency": "EUR",
        "phone": "+33612345678",
        "abandoned_checkout_url": "https://shop.example/recover?key=1",
        "completed_at": None,
        "line_items": [],
    }
    return {**base, **fields}


def test_the_push_is_held_until_the_delay_after_the_last_update() -> None:
    ctx = StoreContext(abandoned_after_minutes=10, checkouts_require_consent=False)
    [action] = map_webhook("shopify", "checkouts/update", checkout(), ctx)
    assert isinstance(action, Upsert)
    assert action.body["abandoned_at"] == "2026-03-01T10:10:00+01:00"
    assert action.not_before == 1772356200.0  # 2026-03-01T09:10:00Z
    assert action.version == 1772355600 * 10**6


def test_zero_minutes_means_abandoned_at_once() -> None:
    ctx = StoreContext(abandoned_after_minutes=0, checkouts_require_consent=False)
    [action] = map_webhook("shopify", "checkouts/create", checkout(), ctx)
    assert isinstance(action, Upsert)
    assert action.body["abandoned_at"] == "2026-03-01T10:00:00+01:00"


def test_a_completed_checkout_is_a_completion_not_an_upsert() -> None:
    payload = checkout(completed_at="2026-03-01T10:02:00+01:00", phone=None)
    assert map_webhook("shopify", "checkouts/update", payload, CTX) == [
        Patch("checkouts", "tok1", 0, {"status": "completed"})
    ]


def test_consent_is_required_by_default_and_passed_in_metadata() -> None:
    assert map_webhook("shopify", "checkouts/create", checkout(), StoreContext()) == [
        Ignored("no_marketing_consent")
    ]
    [action] = map_webhook(
        "shopify", "checkouts/create", checkout(buyer_accepts_sms_marketing=True), StoreContext()
    )
    assert isinstance(action, Upsert)
    assert action.body["metadata"]["accepts_sms_marketing"] is True
    assert action.body["metadata"]["accepts_marketing"] is False


def test_the_sms_marketing_phone_is_a_last_resort() -> None:
    payload = checkout(phone=None, sms_marketing_phone="+447911123456")
    [action] = map_webhook("shopify", "checkouts/create", payload, CTX)
    assert isinstance(action, Upsert)
    assert action.body["customer"]["phone"] == "+447911123456"


def test_a_bad_recovery_url_is_left_out() -> None:
    [action] = map_webhook(
        "shopify", "checkouts/create", checkout(abandoned_checkout_url="javascript:x"), CTX
    )
    assert isinstance(action, Upsert)
    assert "recovery_url" not in action.body


def test_a_deleted_checkout_expires_when_its_token_is_known() -> None:
    assert map_webhook("shopify", "checkouts/delete", {"id": 1, "token": "tok1"}, CTX) == [
        Patch("checkouts", "tok1", 0, {"status": "expired"})
    ]
    assert map_webhook("shopify", "checkouts/delete", {"id": 1, "cart_token": "c"}, CTX) == [
        Ignored("no_checkout_token")
    ]


def test_an_order_recovers_its_checkout_even_when_it_is_not_sent() -> None:
    order = {
        "id": 5,
        "checkout_token": "tok1",
        "created_at": "2026-03-01T10:05:00+01:00",
        "financial_status": "pending",
        "line_items": [],
    }
    assert map_webhook("shopify", "orders/create", order, CTX) == [
        Ignored("no_total"),
        Patch("checkouts", "tok1", 0, {"status": "recovered"}),
    ]
    assert map_webhook("shopify", "orders/create", {**order, "id": None}, CTX) == [Ignored("no_id")]


def test_an_order_recovers_its_checkout_by_cart_token_too() -> None:
    order = {"id": 5, "checkout_token": "tok1", "cart_token": "Z2NwLXVz", "line_items": []}
    assert map_webhook("shopify", "orders/create", {**order, "financial_status": "paid"}, CTX)[
        1:
    ] == [
        Patch("checkouts", "tok1", 0, {"status": "recovered"}),
        Patch("checkouts", "Z2NwLXVz", 0, {"status": "recovered"}),
    ]


# Shopify's current checkouts: the recovery URL carries the cart token, not `token`
# (RudderStack's recorded checkouts_create event, rudder-transformer
# test/integrations/sources/shopify/pixelTestScenarios).
CURRENT_URL = (
    "https://pixel-testing-rs.myshopify.com/59026964593/checkouts/ac/"
    "Z2NwLXVzLWVhc3QxOjAxSkJaTUVRSjgzNUJUN1BTNjEzRFdRUFFQ/recover?key=0385163be3&locale=en-US"
)


def test_a_checkout_is_keyed_by_the_token_of_its_recovery_url() -> None:
    payload = checkout(
        token="84ad78572dae52a8cbea7d55371afe89",
        cart_token="Z2NwLXVzLWVhc3QxOjAxSkJaTUVRSjgzNUJUN1BTNjEzRFdRUFFQ",
        abandoned_checkout_url=CURRENT_URL,
    )
    [action] = map_webhook("shopify", "checkouts/create", payload, CTX)
    assert isinstance(action, Upsert)
    assert action.external_id == "Z2NwLXVzLWVhc3QxOjAxSkJaTUVRSjgzNUJUN1BTNjEzRFdRUFFQ"
    assert action.body["recovery_url"] == CURRENT_URL
    done = map_webhook("shopify", "checkouts/update", {**payload, "completed_at": "x"}, CTX)
    assert done == [Patch("checkouts", action.external_id, 0, {"status": "completed"})]


def test_recovery_tokens() -> None:
    from mappers.shopify_checkouts import recovery_token

    assert recovery_token(CURRENT_URL) == "Z2NwLXVzLWVhc3QxOjAxSkJaTUVRSjgzNUJUN1BTNjEzRFdRUFFQ"
    old = "https://checkout.local/548380009/checkouts/123123123/recover?key=example-secret-token"
    assert recovery_token(old) == "123123123"
    for url in (
        None,
        42,
        "https://shop.example/recover?key=1",
        "https://shop.example/checkouts/recover",
        "https://shop.example/checkouts/a%20b/recover",
        "https://shop.example/checkouts/abc/recover/more",
        "https://[bad/checkouts/abc/recover",
    ):
        assert recovery_token(url) is None, url
