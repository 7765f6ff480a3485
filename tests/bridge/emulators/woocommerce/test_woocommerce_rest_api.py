"""The WooCommerce emulator's REST API over HTTP: auth, webhooks, orders, customers, errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bridge.emulators.woocommerce import BackgroundWooCommerce
from tests.woocommerce_shop import NOT_MANAGER, READ_ONLY, RW, WRITE_ONLY, fresh, shop

API = "/wp-json/wc/v3"


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundWooCommerce]:
    emulator = shop()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(server: BackgroundWooCommerce) -> BackgroundWooCommerce:
    return fresh(server)


@pytest.fixture
def api(emulator: BackgroundWooCommerce) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url + API, auth=RW, trust_env=False) as client:
        yield client


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert body["data"]["status"] == response.status_code
    return response.status_code, body["code"], body["message"]


def new_webhook(api: httpx.Client, emulator: BackgroundWooCommerce, **fields: Any) -> Any:
    body = {"topic": "order.created", "delivery_url": f"{emulator.url}/hook", **fields}
    response = api.post("/webhooks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


# --- authentication ---


def test_basic_auth_and_query_parameters_both_authenticate(
    emulator: BackgroundWooCommerce,
) -> None:
    basic = httpx.get(f"{emulator.url}{API}/orders", auth=RW)
    key, secret = RW
    query = httpx.get(
        f"{emulator.url}{API}/orders", params={"consumer_key": key, "consumer_secret": secret}
    )
    assert (basic.status_code, query.status_code) == (200, 200)
    logged = emulator.control.requests()
    assert [r["auth"] for r in logged] == ["basic", "query"]
    assert all(r["consumer_key"] == key for r in logged)
    assert "consumer_secret" not in str(logged) and secret not in str(logged)


def test_no_credentials_or_an_unknown_key_is_refused_by_the_endpoint_itself(
    emulator: BackgroundWooCommerce,
) -> None:
    for auth in (None, ("ck_unknown", "cs_unknown")):
        response = httpx.get(f"{emulator.url}{API}/webhooks", auth=auth)
        assert error(response) == (
            401,
            "woocommerce_rest_cannot_view",
            "Sorry, you cannot list resources.",
        )


def test_a_wrong_secret_is_refused_before_anything_else(emulator: BackgroundWooCommerce) -> None:
    response = httpx.get(f"{emulator.url}{API}/no-such-route", auth=(RW[0], "cs_wrong"))
    assert error(response) == (
        401,
        "woocommerce_rest_authentication_error",
        "Consumer secret is invalid.",
    )


def test_a_read_only_key_reads_but_cannot_write_webhooks(emulator: BackgroundWooCommerce) -> None:
    url = f"{emulator.url}{API}/webhooks"
    assert httpx.get(url, auth=READ_ONLY).status_code == 200
    body = {"topic": "order.created", "delivery_url": "https://bridge.example/hook"}
    response = httpx.post(url, auth=READ_ONLY, json=body)
    assert error(response) == (
        401,
        "woocommerce_rest_authentication_error",
        "The API key provided does not have write permissions.",
    )
    read = httpx.get(url, auth=WRITE_ONLY)
    assert error(read)[2] == "The API key provided does not have read permissions."
    assert emulator.control.webhooks() == []


def test_a_key_of_a_user_who_cannot_manage_the_shop_gets_403(
    emulator: BackgroundWooCommerce,
) -> None:
    response = httpx.get(f"{emulator.url}{API}/orders", auth=NOT_MANAGER)
    assert error(response) == (
        403,
        "woocommerce_rest_cannot_view",
        "Sorry, you cannot list resources.",
    )


def test_arguments_are_checked_before_permissions_and_all_reported_at_once(
    emulator: BackgroundWooCommerce,
) -> None:
    response = httpx.get(f"{emulator.url}{API}/webhooks?per_page=101&status=gone&order=up")
    status, code, message = error(response)
    assert (status, code) == (400, "rest_invalid_param")
    assert message == "Invalid parameter(s): per_page, order, status"  # in argument order
    params = response.json()["data"]["params"]
    assert params["per_page"] == "per_page must be between 1 (inclusive) and 100 (inclusive)"
    assert params["status"] == "status is not one of all, active, paused, and disabled."
    assert response.json()["data"]["details"]["per_page"]["code"] == "rest_out_of_bounds"


def test_unknown_routes_and_pages_outside_the_api(emulator: BackgroundWooCommerce) -> None:
    assert error(httpx.get(f"{emulator.url}{API}/products", auth=RW)) == (
        404,
        "rest_no_route",
        "No route was found matching the URL and request method.",
    )
    page = httpx.get(f"{emulator.url}/shop/")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


# --- webhooks ---


def test_a_created_webhook_is_active_and_never_shows_its_secret(
    api: httpx.Client, emulator: BackgroundWooCommerce
) -> None:
    response = api.post(
        "/webhooks",
        json={
            "name": "kanal-bridge order.created",
            "topic": "order.created",
            "delivery_url": "https://bridge.example/webhooks/woocommerce/eu",
            "secret": "s3cretAlnum",
            "status": "paused",  # WooCommerce creates every REST webhook active
        },
    )
    assert response.status_code == 201
    item = response.json()
    assert response.headers["location"].endswith(f"{API}/webhooks/{item['id']}")
    assert item["status"] == "active"
    assert item["hooks"] == ["woocommerce_new_order"]
    assert (item["resource"], item["event"]) == ("order", "created")
    assert "secret" not in item and "secret" not in api.get(f"/webhooks/{item['id']}").json()
    assert '"https:\\/\\/bridge.example' in response.text  # PHP escapes slashes
    held = emulator.control.webhook(item["id"])
    assert held["secret"] == "s3cretAlnum"
    assert (held["api_version"], held["failure_count"]) == ("wp_api_v3", 0)


def test_a_webhook_created_without_a_secret_gets_fifty_random_characters(
    api: httpx.Client, emulator: BackgroundWooCommerce
) -> None:
    first = new_webhook(api, emulator)
    second = new_webhook(api, emulator)
    secrets = [emulator.control.webhook(w["id"])["secret"] for w in (first, second)]
    assert [len(s) for s in secrets] == [50, 50] and secrets[0] != secrets[1]
    assert first["name"].startswith("Webhook created on ")


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({}, "rest_missing_callback_param", "Missing parameter(s): topic, delivery_url"),
        (
            {"topic": "order.paid", "delivery_url": "https://b.example"},
            "woocommerce_rest_shop_webhook_invalid_topic",
            "Webhook topic is required and must be valid.",
        ),
        (
            {"topic": "order.created", "delivery_url": "ftp://b.example"},
            "woocommerce_rest_shop_webhook_invalid_delivery_url",
            "Webhook delivery URL must be a valid URL starting with http:// or https://.",
        ),
        (
            {"topic": "order.created", "delivery_url": "https://b.example", "status": "on"},
            "rest_invalid_param",
            "Invalid parameter(s): status",
        ),
    ],
)
def test_webhook_creation_errors_are_worded_as_woocommerce_words_them(
    api: httpx.Client, body: dict[str, Any], code: str, message: str
) -> None:
    assert error(api.post("/webhooks", json=body)) == (400, code, message)


def test_an_uppercase_topic_passes_validation_but_is_stored_empty(
    api: httpx.Client, emulator: BackgroundWooCommerce
) -> None:
    item = new_webhook(api, emulator, topic="Order.Created")
    assert item["topic"] == "" and item["hooks"] == []


def test_list_filters_by_status_and_pages_with_total_headers_and_links(
    api: httpx.Client, emulator: BackgroundWooCommerce
) -> None:
    made = [new_webhook(api, emulator, name=f"hook {n}") for n in range(5)]
    api.put(f"/webhooks/{made[1]['id']}", json={"status": "paused"})
    first = api.get("/webhooks", params={"per_page": 2, "orderby": "id", "order": "asc"})
    assert [w["id"] for w in first.json()] == [made[0]["id"], made[1]["id"]]
    assert (first.headers["x-wp-total"], first.headers["x-wp-totalpages"]) == ("5", "3")
    assert first.links["next"]["url"].endswith("page=2")
    last = api.get("/webhooks", params={"per_page": 2, "orderby": "id", "order": "asc", "page": 3})
    assert [w["id"] for w in last.json()] == [made[4]["id"]]
    assert "next" not in last.links and "page=2" in last.links["prev"]["url"]
    paused = api.get("/webhooks", params={"status": "paused"}).json()
    assert [w["id"] for w in paused] == [made[1]["id"]]
    assert api.get("/webhooks", params={"page": 9}).json() == []
    single = api.get("/webhooks", params={"per_page": 1})  # WooCommerce's own miscount
    assert (single.headers["x-wp-totalpages"], "next" in single.links) == ("1", False)


def test_retrieve_update_and_the_odd_not_found_answers(
    api: httpx.Client, emulator: BackgroundWooCommerce
) -> None:
    item = new_webhook(api, emulator)
    updated = api.put(
        f"/webhooks/{item['id']}",
        json={"status": "paused", "name": "renamed", "secret": "newSecret1"},
    )
    assert (updated.json()["status"], updated.json()["name"]) == ("paused", "renamed")
    assert emulator.control.webhook(item["id"])["secret"] == "newSecret1"
    assert error(api.get("/webhooks/999")) == (
        400,
        "woocommerce_rest_shop_webhook_invalid_id",
        "ID is invalid.",
    )
    assert error(api.put("/webhooks/999", json={"status": "active"}))[:2] == (
        400,
        "woocommerce_rest_shop_webhook_invalid_id",
    )
    bad_topic = api.put(f"/webhooks/{item['id']}", json={"topic": "order.paid"})
    assert error(bad_topic)[2] == "Webhook topic must be valid."


def test_delete_needs_force_and_answers_the_deleted_webhook(
    api: httpx.Client, emulator: BackgroundWooCommerce
) -> None:
    item = new_webhook(api, emulator)
    assert error(api.delete(f"/webhooks/{item['id']}")) == (
        501,
        "woocommerce_rest_trash_not_supported",
        "Webhooks do not support trashing.",
    )
    deleted = api.delete(f"/webhooks/{item['id']}", params={"force": "true"})
    assert deleted.status_code == 200 and deleted.json()["id"] == item["id"]
    again = api.delete(f"/webhooks/{item['id']}", params={"force": "true"})
    assert error(again) == (404, "woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.")


def test_batch_creates_updates_and_deletes_with_errors_in_place(
    api: httpx.Client, emulator: BackgroundWooCommerce
) -> None:
    kept = new_webhook(api, emulator)
    gone = new_webhook(api, emulator)
    response = api.post(
        "/webhooks/batch",
        json={
            "create": [
                {"topic": "order.updated", "delivery_url": f"{emulator.url}/hook"},
                {"topic": "nope", "delivery_url": f"{emulator.url}/hook"},
            ],
            "update": [{"id": kept["id"], "status": "paused"}],
            "delete": [gone["id"], 4242],
        },
    )
    result = response.json()
    assert result["create"][0]["topic"] == "order.updated"
    assert result["create"][1]["error"]["code"] == "woocommerce_rest_shop_webhook_invalid_topic"
    assert result["update"][0]["status"] == "paused"
    assert result["delete"][0]["id"] == gone["id"]
    assert result["delete"][1]["error"]["data"]["status"] == 404
    too_many = api.post("/webhooks/batch", json={"delete": list(range(1, 102))})
    assert error(too_many)[:2] == (413, "woocommerce_rest_request_entity_too_large")


def test_every_integrations_webhooks_are_visible_to_any_key(
    emulator: BackgroundWooCommerce,
) -> None:
    url = f"{emulator.url}{API}/webhooks"
    body = {"topic": "order.created", "delivery_url": "https://other-integration.example/h"}
    assert httpx.post(url, auth=WRITE_ONLY, json=body).status_code == 201
    listed = httpx.get(url, auth=READ_ONLY).json()
    assert [w["delivery_url"] for w in listed] == [body["delivery_url"]]


# --- orders and customers ---


def seed_orders(emulator: BackgroundWooCommerce) -> list[dict[str, Any]]:
    return emulator.control.create_orders(
        [
            {
                "status": "completed",
                "date_created_gmt": "2026-10-01T08:00:00",
                "date_modified_gmt": "2026-10-02T10:00:00",
            },
            {
                "status": "processing",
                "date_created_gmt": "2026-10-03T08:00:00",
                "date_modified_gmt": "2026-10-03T10:00:00",
            },
            {
                "status": "on-hold",
                "date_created_gmt": "2026-10-03T09:00:00",
                "date_modified_gmt": "2026-10-03T10:00:00",
            },
        ],
        webhooks=False,
    )


def ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


def test_orders_modified_after_a_gmt_time_oldest_change_first_with_the_id_as_tie_break(
    api: httpx.Client, emulator: BackgroundWooCommerce
) -> None:
    a, b, c = (order["id"] for order in seed_orders(emulator))
    query = {"orderby": "modified", "order": "asc", "dates_are_gmt": "true"}
    assert ids(api.get("/orders", params={**query, "modified_after": "2026-10-02T10:00:00"})) == [
        b,
        c,
    ]
    assert ids(api.get("/orders", params={**query, "modified_after": "2026-10-02T09:59:59"})) == [
        a,
        b,
        c,
    ]
    before = api.get("/orders", params={**query, "modified_before": "2026-10-03T10:00:00"})
    assert ids(before) == [a]
    assert ids(api.get("/orders", params={**query, "order": "desc"})) == [c, b, a]


def test_order_dates_are_local_unless_dates_are_gmt_and_an_offset_is_converted_to_local(
    api: httpx.Client, emulator: BackgroundWooCommerce
) -> None:
    a, b, c = (order["id"] for order in seed_orders(emulator))
    order = api.get(f"/orders/{a}").json()
    assert (order["date_modified_gmt"], order["date_modified"]) == (
        "2026-10-02T10:00:00",
        "2026-10-02T07:00:00",  # the emulated site is at UTC-3
    )
    local = {"orderby": "id", "order": "asc", "modified_after": "2026-10-02T08:00:00"}
    assert ids(api.get("/orders", params=local)) == [b, c]
    # WordPress turns "…Z" into the site's local wall time before comparing it with the GMT
    # column: 10:00Z becomes 07:00, so order a (10:00 GMT) is wrongly included.
    trap = {**local, "dates_are_gmt": "true", "modified_after": "2026-10-02T10:00:00Z"}
    assert ids(api.get("/orders", params=trap)) == [a, b, c]


def test_order_status_any_leaves_out_the_trash_which_is_asked_for_by_name(
    api: httpx.Client, emulator: BackgroundWooCommerce
) -> None:
    a, b, c = (order["id"] for order in seed_orders(emulator))
    emulator.control.trash_order(b, webhooks=False)
    asc = {"orderby": "id", "order": "asc"}
    assert ids(api.get("/orders", params=asc)) == [a, c]
    assert ids(api.get("/orders", params={**asc, "status": "trash"})) == [b]
    assert ids(api.get("/orders", params={**asc, "status": "completed,on-hold"})) == [a, c]
    bad = api.get("/orders", params={"status": "paid"})
    assert error(bad)[:2] == (400, "rest_invalid_param")
    assert "status[0] is not one of any, trash, pending" in bad.json()["data"]["params"]["status"]


def test_a_missing_order_is_404_and_a_page_past_the_end_is_empty(
    api: httpx.Client, emulator: BackgroundWooCommerce
) -> None:
    seed_orders(emulator)
    assert error(api.get("/orders/7")) == (
        404,
        "woocommerce_rest_shop_order_invalid_id",
        "Invalid ID.",
    )
    past = api.get("/orders", params={"page": 5, "per_page": 2})
    assert past.json() == [] and past.headers["x-wp-total"] == "3"


def test_customers_have_no_date_filter_and_list_only_customers_by_default(
    api: httpx.Client, emulator: BackgroundWooCommerce
) -> None:
    first = emulator.control.create_customer(first_name="Zoé", webhooks=False)
    second = emulator.control.create_customer(first_name="Ana", webhooks=False)
    emulator.control.create_customer(role="subscriber", webhooks=False)
    assert ids(api.get("/customers")) == [second["id"], first["id"]]  # by name, ascending
    assert ids(api.get("/customers", params={"orderby": "id"})) == [first["id"], second["id"]]
    assert api.get("/customers", params={"role": "all"}).headers["x-wp-total"] == "3"
    # No date filter: WooCommerce ignores an argument it does not know.
    assert len(ids(api.get("/customers", params={"modified_after": "2099-01-01T00:00:00"}))) == 2
    assert "\\u00e9" in api.get(f"/customers/{first['id']}").text  # PHP writes \uXXXX
    assert error(api.get("/customers/999"))[:2] == (404, "woocommerce_rest_invalid_id")
