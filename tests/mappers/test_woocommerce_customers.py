"""WooCommerce customers."""

from mappers import Delete, Ignored, StoreContext, Upsert, map_webhook

CTX = StoreContext(default_country="US")


def test_the_billing_then_shipping_phone_makes_the_customer() -> None:
    customer = {
        "id": 3,
        "email": "",
        "first_name": "",
        "billing": {"first_name": "Jo", "phone": ""},
        "shipping": {"phone": "(415) 555-0132", "country": "US"},
        "date_modified_gmt": None,
        "date_created_gmt": "2026-01-01T00:00:00",
    }
    [action] = map_webhook("woocommerce", "customer.created", customer, CTX)
    assert isinstance(action, Upsert)
    assert action.body == {"external_id": "3", "phone": "+14155550132", "first_name": "Jo"}
    assert action.version == 1767225600 * 10**6


def test_deleted_and_unusable_customers() -> None:
    assert map_webhook("woocommerce", "customer.deleted", {"id": 3}, CTX) == [
        Delete("customers", "3")
    ]
    unusable = {"id": 3, "email": None}
    assert map_webhook("woocommerce", "customer.updated", unusable, CTX) == [Ignored("no_phone")]
    assert map_webhook("woocommerce", "customer.deleted", {"id": 0}, CTX) == [Ignored("no_id")]
