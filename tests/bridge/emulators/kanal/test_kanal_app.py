from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bridge.emulators.kanal import __all__ as exported
from bridge.emulators.kanal.app import create_app
from bridge.emulators.kanal.cli import main
from bridge.emulators.kanal.server import BackgroundEmulator, parse_store_specs
from bridge.emulators.kanal.state import EmulatorStore
from bridge.ops.localredis import pick_free_port

KEY = "k1" * 12
TEAM = "tm" * 12
OTHER = "ot" * 12
ORDERS = "/api/v1/stores/1/orders"

ORDER = {
    "external_id": "1001",
    "placed_at": "2024-03-01T10:15:00+01:00",
    "total_price": 49.9,
    "currency": "EUR",
    "financial_status": "pending",
    "customer": {"phone": "+33612345678", "first_name": "Léa"},
    "tags": ["web"],
    "metadata": {"name": "#1001"},
}


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def stores(rpm: int = 1000) -> dict[int, EmulatorStore]:
    return {
        1: EmulatorStore(1, {KEY, TEAM}, rpm),
        2: EmulatorStore(2, {TEAM}, rpm),
        3: EmulatorStore(3, {OTHER}, rpm),
    }


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[BackgroundEmulator, Clock]]:
    """One real server (uvicorn in a thread) for the module, reset before each test."""
    clock = Clock()
    with BackgroundEmulator(stores(), clock=clock) as emulator:
        yield emulator, clock


@pytest.fixture
def clock(server: tuple[BackgroundEmulator, Clock]) -> Clock:
    emulator, clock = server
    state = emulator.state
    state.stores.clear()
    state.limiters.clear()
    state.records.clear()
    for store in stores().values():
        state.put_store(store)
    state.reset()
    clock.now = 5000.0
    return clock


@pytest.fixture
def url(server: tuple[BackgroundEmulator, Clock], clock: Clock) -> str:
    return server[0].url


@pytest.fixture
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, headers=auth()) as client:
        yield client


def records(client: httpx.Client, resource: str = "orders", store: int = 1) -> dict[str, Any]:
    held: dict[str, Any] = client.get("/_emulator/records").json()["stores"][str(store)][resource]
    return held


# --- upserts ---


def test_post_order_creates_then_updates_with_prices_as_strings(client: httpx.Client) -> None:
    created = client.post(ORDERS, json=ORDER)
    assert created.status_code == 201
    assert created.json()["total_price"] == "49.90"
    assert created.json()["customer"]["phone"] == "+33612345678"
    updated = client.post(ORDERS, json={**ORDER, "total_price": 50, "financial_status": "paid"})
    assert updated.status_code == 200
    assert updated.json()["total_price"] == "50.00"
    held = records(client)["1001"]
    assert held["version"] == 2
    assert held["body"] == updated.json()
    assert held["deleted"] is False


def test_post_replaces_the_record_so_a_field_left_out_is_cleared(client: httpx.Client) -> None:
    client.post(ORDERS, json=ORDER)
    body = {k: v for k, v in ORDER.items() if k != "tags"}
    assert client.post(ORDERS, json=body).json()["tags"] is None
    assert records(client)["1001"]["body"]["tags"] is None


@pytest.mark.parametrize(
    ("extra", "key", "message"),
    [
        ({"note": "gift"}, "note", "The note field is prohibited."),
        (
            {"customer": {**ORDER["customer"], "fist_name": "Léa"}},
            "customer.fist_name",
            "The customer.fist name field is prohibited.",
        ),
        (
            {"line_items": [{"title": "Mug", "qty": 1}]},
            "line_items.0.qty",
            "The line items.0.qty field is prohibited.",
        ),
        ({"shipping_address": {}}, "shipping_address", "The shipping address field is prohibited."),
    ],
)
def test_a_misspelled_or_unknown_field_is_refused_at_any_depth(
    client: httpx.Client, extra: dict[str, Any], key: str, message: str
) -> None:
    response = client.post(ORDERS, json={**ORDER, **extra})
    assert response.status_code == 422
    assert response.json()["errors"] == {key: [message]}
    assert records(client) == {}


def test_metadata_is_free_form(client: httpx.Client) -> None:
    metadata = {"anything": {"nested": [1, "two"]}, "note_attributes": {"gift": "yes"}}
    assert client.post(ORDERS, json={**ORDER, "metadata": metadata}).status_code == 201


def warn_mode_post(body: dict[str, Any]) -> httpx.Response:
    app = create_app(stores(), unknown_keys="warn")

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emu") as client:
            response = await client.post(ORDERS, json=body, headers=auth())
            response.read()
            held = await client.get("/_emulator/records")
            response.extensions["held"] = held.json()["stores"]["1"]["orders"]
            return response

    return asyncio.run(post())


def test_demo_mode_accepts_unknown_fields_drops_them_and_warns_with_their_names(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = {**ORDER, "note": "gift", "customer": {**ORDER["customer"], "fist_name": "Zoé"}}
    with caplog.at_level("WARNING", logger="bridge.emulators.kanal"):
        response = warn_mode_post(body)
    assert response.status_code == 201
    held = response.extensions["held"]["1001"]["body"]
    assert "note" not in held and "fist_name" not in held["customer"]
    [record] = caplog.records
    assert "unknown fields customer.fist_name, note " in record.getMessage()
    assert "gift" not in record.getMessage() and "Zoé" not in record.getMessage()


def test_demo_mode_still_refuses_what_kanal_refuses() -> None:
    response = warn_mode_post({**ORDER, "note": "gift", "currency": "XYZ"})
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["currency"]


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="reject, warn"):
        create_app(stores(), unknown_keys="ignore")  # type: ignore[arg-type]


def test_each_resource_upserts_on_its_own_key(client: httpx.Client) -> None:
    checkout = {
        "external_id": "tok",
        "abandoned_at": "2024-03-01T10:00:00Z",
        "total_price": 10,
        "customer": {"phone": "+33612345678"},
    }
    shipment = {"external_id": "s1", "order_external_id": "1001", "status": "pending"}
    assert client.post("/api/v1/stores/1/checkouts", json=checkout).status_code == 201
    assert client.post("/api/v1/stores/1/shipments", json=shipment).status_code == 201
    assert client.post("/api/v1/stores/1/shipments", json=shipment).status_code == 200
    customer = {"phone": "+33612345678", "first_name": "Léa"}
    assert client.post("/api/v1/stores/1/customers", json=customer).status_code == 201
    assert client.post("/api/v1/stores/1/customers", json=customer).status_code == 200
    with_id = {**customer, "external_id": "c9"}
    assert client.post("/api/v1/stores/1/customers", json=with_id).status_code == 201
    assert set(records(client, "customers")) == {"+33612345678", "c9"}
    assert records(client, "checkouts")["tok"]["body"]["total_price"] == "10.00"
    assert records(client, "shipments")["s1"]["version"] == 2


def test_stores_do_not_share_records(client: httpx.Client) -> None:
    client.post(ORDERS, json=ORDER)
    response = client.patch("/api/v1/stores/2/orders/1001", json={}, headers=auth(TEAM))
    assert response.status_code == 404


# --- PATCH and DELETE ---


def test_patch_is_404_until_the_order_exists(client: httpx.Client) -> None:
    patch = {"financial_status": "paid", "tags": ["vip"]}
    missing = client.patch(f"{ORDERS}/1001", json=patch)
    assert missing.status_code == 404
    assert set(missing.json()) == {"error"}
    assert client.post(ORDERS, json=ORDER).status_code == 201
    patched = client.patch(f"{ORDERS}/1001", json=patch)
    assert patched.status_code == 200
    body = patched.json()
    assert body["financial_status"] == "paid"
    assert body["tags"] == ["vip"]  # replaced, not merged
    assert body["total_price"] == "49.90"  # untouched
    assert body["metadata"] == {"name": "#1001"}
    assert records(client)["1001"]["version"] == 2


def test_patch_refuses_fields_it_cannot_change(client: httpx.Client) -> None:
    client.post(ORDERS, json=ORDER)
    response = client.patch(f"{ORDERS}/1001", json={"total_price": 1})
    assert response.status_code == 422
    assert response.json()["errors"] == {"total_price": ["The total price field is prohibited."]}
    assert records(client)["1001"]["body"]["total_price"] == "49.90"


def test_patch_checkout_status(client: httpx.Client) -> None:
    checkout = {
        "external_id": "tok",
        "abandoned_at": "2024-03-01T10:00:00Z",
        "total_price": 10,
        "customer": {"phone": "+33612345678"},
    }
    path = "/api/v1/stores/1/checkouts/tok"
    assert client.patch(path, json={"status": "recovered"}).status_code == 404
    client.post("/api/v1/stores/1/checkouts", json=checkout)
    assert client.patch(path, json={"status": "closed"}).status_code == 422
    response = client.patch(path, json={"status": "recovered"})
    assert response.status_code == 200
    assert records(client, "checkouts")["tok"]["body"]["status"] == "recovered"


def test_delete_customer_is_204_soft_and_idempotent(client: httpx.Client) -> None:
    path = "/api/v1/stores/1/customers/c9"
    unknown = client.delete(path)
    assert unknown.status_code == 204
    assert unknown.content == b""
    assert records(client, "customers") == {}
    client.post("/api/v1/stores/1/customers", json={"external_id": "c9", "phone": "+33612345678"})
    assert client.delete(path).status_code == 204
    assert client.delete(path).status_code == 204
    held = records(client, "customers")["c9"]
    assert held["deleted"] is True
    assert held["version"] == 2
    again = {"external_id": "c9", "phone": "+33612345678"}
    assert client.post("/api/v1/stores/1/customers", json=again).status_code == 201
    assert records(client, "customers")["c9"]["deleted"] is False


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/api/v1/stores/1/orders/%20"),
        ("PATCH", "/api/v1/stores/1/checkouts/%20%09"),
        ("DELETE", "/api/v1/stores/1/customers/%20"),
    ],
)
def test_a_blank_external_id_in_the_path_is_422(
    client: httpx.Client, method: str, path: str
) -> None:
    response = client.request(method, path, json={"status": "expired"})
    assert response.status_code == 422
    assert response.json()["errors"] == {"external_id": ["The external id field is required."]}


def test_an_external_id_over_255_characters_in_the_path_is_422(client: httpx.Client) -> None:
    response = client.delete("/api/v1/stores/1/customers/" + "c" * 256)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["external_id"]
    assert client.delete("/api/v1/stores/1/customers/" + "c" * 255).status_code == 204


# --- errors ---


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, "API key is missing"),
        ({"Authorization": "Basic abc"}, "API key is missing"),
        ({"Authorization": "Bearer"}, "API key is missing"),
        (auth("nope" * 6), "Invalid API key"),
    ],
)
def test_401(url: str, headers: dict[str, str], error: str) -> None:
    response = httpx.post(url + ORDERS, json=ORDER, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": error}


def test_403_for_a_key_of_another_store(client: httpx.Client) -> None:
    response = client.post(ORDERS, json=ORDER, headers=auth(OTHER))
    assert response.status_code == 403
    assert response.json() == {"error": "API key does not authorize this store"}
    assert records(client) == {}


def test_a_team_key_works_for_each_of_its_stores(client: httpx.Client) -> None:
    assert client.post(ORDERS, json=ORDER, headers=auth(TEAM)).status_code == 201
    response = client.post("/api/v1/stores/2/orders", json=ORDER, headers=auth(TEAM))
    assert response.status_code == 201


def test_404_for_an_unknown_store(client: httpx.Client) -> None:
    response = client.post("/api/v1/stores/99/orders", json=ORDER)
    assert response.status_code == 404
    assert response.json() == {"error": "Store not found or paused"}


def test_404_for_a_paused_store_until_unpaused(client: httpx.Client) -> None:
    assert client.post("/_emulator/faults", json={"paused": [1]}).json()["paused"] == [1]
    response = client.post(ORDERS, json=ORDER)
    assert response.status_code == 404
    assert response.json() == {"error": "Store not found or paused"}
    client.post("/_emulator/faults", json={"paused": []})
    assert client.post(ORDERS, json=ORDER).status_code == 201


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b'{"external_id": ', "Malformed JSON body."),
        (b"", "The request body is empty."),
        (b"[1]", "The request body must be a JSON object."),
        (b'{"total_price": NaN}', "Malformed JSON body."),
        (b"\xff\xfe{}", "Malformed JSON body."),
    ],
)
def test_400_for_a_body_that_is_not_a_json_object(
    client: httpx.Client, content: bytes, error: str
) -> None:
    response = client.post(ORDERS, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": error}


def test_422_in_laravels_shape(client: httpx.Client) -> None:
    body = {**ORDER, "customer": {"phone": "0612345678"}, "total_price": "49.90"}
    del body["placed_at"]
    response = client.post(ORDERS, json=body)
    assert response.status_code == 422
    assert response.json() == {
        "message": "The placed at field is required. (and 2 more errors)",
        "errors": {
            "placed_at": ["The placed at field is required."],
            "total_price": ["The total price field must be a number."],
            "customer.phone": [
                "The customer.phone field must be a valid phone number in E.164 format."
            ],
        },
    }
    assert records(client) == {}


def test_a_body_without_a_json_content_type_is_read_as_empty(client: httpx.Client) -> None:
    response = client.post(
        ORDERS, content=httpx.Request("POST", "/", json=ORDER).content, headers={}
    )
    assert response.status_code == 422
    assert "external_id" in response.json()["errors"]


def test_every_answer_about_a_store_carries_the_rate_headers(client: httpx.Client) -> None:
    answers = [
        client.post(ORDERS, json=ORDER),
        client.post(ORDERS, json={}),
        client.patch(f"{ORDERS}/nope", json={}),
        client.post(ORDERS, json=ORDER, headers={"Authorization": ""}),
        client.post(ORDERS, json=ORDER, headers=auth(OTHER)),
    ]
    for response in answers:
        assert response.headers["X-RateLimit-Limit"] == "1000"
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == [
        "999",
        "998",
        "997",
        "997",  # refused before the limiter: not counted
        "997",
    ]


def test_429_past_the_limit_with_retry_after(client: httpx.Client, clock: Clock) -> None:
    client.post("/_emulator/stores", json={"id": 1, "requests_per_minute": 3})
    answers = []
    for _ in range(3):
        answers.append(client.post(ORDERS, json=ORDER))
        clock.now += 10
    refused = client.post(ORDERS, json=ORDER)
    assert [r.status_code for r in answers] == [201, 200, 200]
    assert refused.status_code == 429
    assert refused.json() == {"message": "Too Many Attempts."}
    assert refused.headers["Retry-After"] == "30"  # the first leaves the window at +60 s
    assert refused.headers["X-RateLimit-Limit"] == "3"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    other_store = client.post("/api/v1/stores/2/orders", json=ORDER, headers=auth(TEAM))
    assert other_store.status_code == 201  # limits are per store
    clock.now += 29
    assert client.post(ORDERS, json=ORDER).status_code == 429
    clock.now += 1
    assert client.post(ORDERS, json=ORDER).status_code == 200
    stats = client.get("/_emulator/stats").json()
    assert stats["rate_limited"] == 2
    assert stats["stores"]["1"]["rate_limited"] == 2
    assert stats["stores"]["1"]["by_status"] == {"200": 3, "201": 1, "429": 2}
    assert stats["stores"]["2"]["rate_limited"] == 0


def test_the_limit_counts_every_endpoint_together(client: httpx.Client) -> None:
    client.post("/_emulator/stores", json={"id": 1, "requests_per_minute": 3})
    assert client.post(ORDERS, json=ORDER).status_code == 201
    assert client.delete("/api/v1/stores/1/customers/x").status_code == 204
    assert client.patch(f"{ORDERS}/1001", json={"tags": []}).status_code == 200
    assert client.post("/api/v1/stores/1/shipments", json={}).status_code == 429


def test_store_limits_and_keys_can_change_at_runtime(client: httpx.Client) -> None:
    new = {"id": 7, "keys": [KEY], "requests_per_minute": 1}
    assert client.post("/_emulator/stores", json=new).status_code == 201
    path = "/api/v1/stores/7/orders"
    assert client.post(path, json=ORDER, headers=auth()).status_code == 201
    assert client.post(path, json=ORDER, headers=auth()).status_code == 429
    raised = client.post("/_emulator/stores", json={"id": 7, "requests_per_minute": 2})
    assert raised.status_code == 200
    assert raised.json() == {"id": 7, "keys": [KEY], "requests_per_minute": 2, "paused": False}
    assert client.post(path, json=ORDER, headers=auth()).status_code == 200
    client.post("/_emulator/stores", json={"id": 7, "keys": [TEAM]})
    assert client.post(path, json=ORDER, headers=auth()).status_code == 403
    listed = client.get("/_emulator/stores").json()["stores"]
    assert [s["id"] for s in listed] == [1, 2, 3, 7]
    assert listed[3] == {"id": 7, "keys": [TEAM], "requests_per_minute": 2, "paused": False}


def test_bad_control_requests_are_400(client: httpx.Client) -> None:
    assert client.post("/_emulator/stores", json={"id": "seven"}).status_code == 400
    assert client.post("/_emulator/faults", json={"status": 500, "count": 0}).status_code == 400
    assert client.post("/_emulator/faults", json={"paused": 1}).status_code == 400
    assert client.get("/_emulator/faults").json()["faults"] == []


def test_unrouted_requests_are_json_404_and_logged(client: httpx.Client) -> None:
    response = client.get(ORDERS)
    assert response.status_code == 405
    assert client.post("/api/v1/stores/1/refunds", json={}).status_code == 404
    log = client.get("/_emulator/requests").json()["requests"]
    assert [(e["method"], e["status"]) for e in log] == [("GET", 405), ("POST", 404)]


# --- faults, log, reset ---


def test_injected_faults_answer_the_next_matching_requests(client: httpx.Client) -> None:
    fault = {"status": 503, "count": 2, "path_contains": "/orders", "retry_after": 7}
    client.post("/_emulator/faults", json=fault)
    shipment = {"external_id": "s1", "order_external_id": "1001"}
    assert client.post("/api/v1/stores/1/shipments", json=shipment).status_code == 201
    first = client.post(ORDERS, json=ORDER)
    assert first.status_code == 503
    assert first.headers["Retry-After"] == "7"
    assert first.json() == {"message": "Service Unavailable"}
    assert client.post(ORDERS, json=ORDER).status_code == 503
    assert records(client) == {}  # a faulted request is not applied
    assert client.post(ORDERS, json=ORDER).status_code == 201
    assert client.get("/_emulator/faults").json()["faults"] == []


def test_faults_match_store_and_method_and_may_carry_a_body(client: httpx.Client) -> None:
    body = {"message": "bad", "errors": {"customer.phone": ["Nope."]}}
    client.post(
        "/_emulator/faults",
        json={"faults": [{"status": 422, "store_id": 2, "method": "patch", "body": body}]},
    )
    assert client.post("/api/v1/stores/2/orders", json=ORDER, headers=auth(TEAM)).status_code == 201
    assert client.patch(f"{ORDERS}/1001", json={}).status_code == 404  # store 1: no fault
    response = client.patch("/api/v1/stores/2/orders/1001", json={}, headers=auth(TEAM))
    assert response.status_code == 422
    assert response.json() == body
    assert client.patch("/api/v1/stores/2/orders/1001", json={}, headers=auth(TEAM)).is_success


def test_delete_faults_clears_them(client: httpx.Client) -> None:
    client.post("/_emulator/faults", json={"status": 500, "count": 5})
    assert len(client.get("/_emulator/faults").json()["faults"]) == 1
    client.delete("/_emulator/faults")
    assert client.post(ORDERS, json=ORDER).status_code == 201


def test_the_request_log_records_every_request_in_order(client: httpx.Client) -> None:
    client.post(ORDERS, json=ORDER)
    client.post(ORDERS, json=ORDER, headers={"Authorization": ""})
    client.post("/api/v1/stores/2/orders", json={"x": 1}, headers=auth(TEAM))
    client.delete("/api/v1/stores/1/customers/c9")
    log = client.get("/_emulator/requests").json()
    entries = log["requests"]
    assert log["last_seq"] == 4
    assert [(e["seq"], e["method"], e["store_id"], e["status"]) for e in entries] == [
        (1, "POST", 1, 201),
        (2, "POST", 1, 401),
        (3, "POST", 2, 422),
        (4, "DELETE", 1, 204),
    ]
    assert entries[0]["path"] == ORDERS
    assert entries[0]["body"]["customer"] == ORDER["customer"]
    assert entries[0]["key"] == KEY
    assert entries[3]["body"] is None
    assert entries[0]["time"] <= entries[3]["time"]
    only_2 = client.get("/_emulator/requests", params={"store_id": 2}).json()["requests"]
    assert [e["seq"] for e in only_2] == [3]
    since = client.get("/_emulator/requests", params={"since": 2}).json()["requests"]
    assert [e["seq"] for e in since] == [3, 4]


def test_the_log_keeps_decimals_exactly_as_sent(client: httpx.Client) -> None:
    raw = b'{"external_id": "1", "placed_at": "2024-03-01T10:15:00Z", "total_price": 49.90,'
    raw += (
        b' "customer": {"phone": "+33612345678"}, "line_items": [{"price": 0.1000000000000000055}]}'
    )
    client.post(ORDERS, content=raw, headers={"Content-Type": "application/json"})
    text = client.get("/_emulator/requests").text
    assert '"total_price":49.90' in text
    assert '"price":0.1000000000000000055' in text


def test_reset_forgets_everything_but_the_stores(client: httpx.Client) -> None:
    client.post(ORDERS, json=ORDER)
    client.post("/_emulator/faults", json={"status": 500, "latency_ms": 5, "paused": [2]})
    assert client.post("/_emulator/reset").json() == {"status": "reset"}
    assert client.get("/_emulator/requests").json() == {"requests": [], "last_seq": 0}
    assert records(client) == {}
    assert client.get("/_emulator/faults").json() == {"faults": [], "latency_ms": 0, "paused": []}
    assert client.get("/_emulator/stats").json()["total"] == 0
    assert client.post(ORDERS, json=ORDER).status_code == 201


# --- a real server over HTTP ---


def test_real_server_over_http() -> None:
    with (
        BackgroundEmulator(stores(rpm=3)) as emulator,
        httpx.Client(base_url=emulator.url, headers=auth()) as http,
    ):
        assert http.patch(f"{ORDERS}/1001", json={"financial_status": "paid"}).status_code == 404
        assert http.post(ORDERS, json=ORDER).status_code == 201
        assert http.patch(f"{ORDERS}/1001", json={"financial_status": "paid"}).status_code == 200
        refused = http.post(ORDERS, json=ORDER)
        assert refused.status_code == 429
        assert 55 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        held = http.get("/_emulator/records").json()["stores"]["1"]["orders"]["1001"]
        assert held["body"]["financial_status"] == "paid"
        assert emulator.state.records[1]["orders"]["1001"].version == 2
        statuses = [e["status"] for e in http.get("/_emulator/requests").json()["requests"]]
        assert statuses == [404, 201, 200, 429]


def test_real_server_latency_and_fault_delay() -> None:
    """Delays are lower bounds, checked as such; that a delay is gone is read from the control
    API, not from a wall-clock limit a loaded machine could miss."""
    with (
        BackgroundEmulator(stores(), latency_ms=300) as emulator,
        httpx.Client(base_url=emulator.url, headers=auth()) as http,
    ):
        started = time.monotonic()
        assert http.post(ORDERS, json=ORDER).status_code == 201
        assert time.monotonic() - started >= 0.3
        http.post("/_emulator/faults", json={"latency_ms": 0})
        http.post("/_emulator/faults", json={"status": 500, "delay_ms": 300})
        with pytest.raises(httpx.ReadTimeout):
            http.post(ORDERS, json=ORDER, timeout=0.1)
        assert http.get("/_emulator/faults").json() == {"faults": [], "latency_ms": 0, "paused": []}
        assert http.post(ORDERS, json=ORDER).status_code == 200


def test_an_applied_fault_writes_the_record_and_answers_too_late() -> None:
    with (
        BackgroundEmulator(stores()) as emulator,
        httpx.Client(base_url=emulator.url, headers=auth()) as http,
    ):
        late = {"applied": True, "delay_ms": 400, "method": "POST", "count": 1}
        assert http.post("/_emulator/faults", json=late).json()["faults"][0]["applied"] is True
        with pytest.raises(httpx.ReadTimeout):
            http.post(ORDERS, json=ORDER, timeout=0.1)
        assert emulator.state.records[1]["orders"]["1001"].version == 1  # the POST landed
        started = time.monotonic()
        assert http.patch(f"{ORDERS}/1001", json={"financial_status": "paid"}).status_code == 200
        assert time.monotonic() - started < 0.3  # only the faulted request was late
        assert http.get("/_emulator/faults").json()["faults"] == []
        assert http.post("/_emulator/faults", json={"applied": "yes"}).status_code == 400


def test_python_m_bridge_emulator_serves_the_given_stores() -> None:
    port = pick_free_port()
    command = [sys.executable, "-m", "bridge.emulators.kanal", "--port", str(port)]
    command += ["--store", f"1:{KEY}:2", "--store", f"1:{TEAM}", "--latency-ms", "0"]
    process = subprocess.Popen(command)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"{url}/_emulator/stats")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.05)
        assert httpx.post(url + ORDERS, json=ORDER, headers=auth()).status_code == 201
        # Started as the e2e harness starts it: unknown fields are refused.
        typo = {**ORDER, "customer": {"phone": "+33612345678", "fist_name": "Léa"}}
        assert httpx.post(url + ORDERS, json=typo, headers=auth(TEAM)).status_code == 422
        assert httpx.post(url + ORDERS, json=ORDER, headers=auth()).status_code == 429
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_store_specs() -> None:
    parsed = parse_store_specs(["1:a", "1:b:120", "2:b"])
    assert parsed[1].keys == {"a", "b"}
    assert parsed[1].requests_per_minute == 120
    assert parsed[2].requests_per_minute == 60
    for bad in ["1", "x:a", "1:a:fast", "1::60", "1:a:60:9", "-1:a"]:
        with pytest.raises(ValueError, match="STORE_ID:KEY"):
            parse_store_specs([bad])


@pytest.mark.parametrize(("argv", "mode"), [([], "reject"), (["--unknown-keys", "warn"], "warn")])
def test_main_passes_the_unknown_keys_mode(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], mode: str
) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(
        "bridge.emulators.kanal.cli.run", lambda *args, **options: served.update(options)
    )
    main(["--store", f"1:{KEY}", *argv])
    assert served["unknown_keys"] == mode


def test_main_refuses_a_bad_store_spec(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--store", "one:key"])
    assert exit_.value.code == 2
    assert "STORE_ID:KEY[:RPM]" in capsys.readouterr().err


def test_public_api() -> None:
    assert exported == [
        "BackgroundEmulator",
        "EmulatorStore",
        "create_app",
        "main",
        "parse_store_specs",
        "run",
        "validate",
        "validate_patch",
    ]
