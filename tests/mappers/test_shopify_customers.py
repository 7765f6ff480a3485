"""Shopify customers, purchasing figures and the compliance topics."""

from mappers import Delete, Ignored, Patch, StoreContext, Upsert, map_webhook

CTX = StoreContext(default_country="FR")


def test_a_customer_needs_a_phone_from_any_of_its_addresses() -> None:
    customer = {
        "id": 7,
        "updated_at": "2026-01-01T00:00:00Z",
        "phone": None,
        "addresses": [{"phone": "06 12 34 56 78", "country_code": "FR"}],
        "default_address": {"first_name": "Ana", "phone": ""},
    }
    [action] = map_webhook("shopify", "customers/update", customer, CTX)
    assert isinstance(action, Upsert)
    assert action.body == {"external_id": "7", "phone": "+33612345678", "first_name": "Ana"}
    customer["addresses"] = []
    assert map_webhook("shopify", "customers/update", customer, CTX) == [Ignored("no_phone")]


def test_purchasing_summary_reads_gids_and_rounds_the_amount() -> None:
    summary = {
        "customerId": "gid://shopify/Customer/820982911946154508",
        "numberOfOrders": 4,
        "amountSpent": {"amount": "99.50", "currencyCode": "EUR"},
        "occurredAt": "2026-01-01T00:00:00.000Z",
    }
    [action] = map_webhook("shopify", "customers/purchasing_summary", summary, CTX)
    assert action == Patch(
        "customers",
        "820982911946154508",
        1767225600 * 10**6,
        {"orders_count": 4, "lifetime_value": 100},
    )
    summary = {"customerId": 3, "numberOfOrders": None, "amountSpent": None}
    assert map_webhook("shopify", "customers/purchasing_summary", summary, CTX) == [
        Ignored("no_figures")
    ]


def test_compliance_topics() -> None:
    shop = {"shop_id": 1, "shop_domain": "s.myshopify.com"}
    redact = {**shop, "customer": {"id": 191167}, "orders_to_redact": [1]}
    assert map_webhook("shopify", "customers/redact", redact, CTX) == [
        Delete("customers", "191167")
    ]
    request = {**shop, "customer": {"id": 191167}, "orders_requested": [], "data_request": {}}
    assert map_webhook("shopify", "customers/data_request", request, CTX) == [
        Ignored("data_request_logged")
    ]
    assert map_webhook("shopify", "shop/redact", shop, CTX) == [Ignored("shop_redact_logged")]
    no_id = {**redact, "customer": {}}
    assert map_webhook("shopify", "customers/redact", no_id, CTX) == [Ignored("no_id")]
