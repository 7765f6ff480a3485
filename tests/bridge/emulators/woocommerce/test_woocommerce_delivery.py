"""The WooCommerce emulator's webhook deliveries, received by a real HTTP server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bridge.emulators.woocommerce import BackgroundWooCommerce
from bridge.intake.signatures import WooCommerceVerifier
from tests.woocommerce_shop import RW, Receiver, fresh, shop

SECRET = "e2eWooSecretAlphaNumeric42"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[BackgroundWooCommerce, Receiver]]:
    emulator, receiver = shop(), Receiver().start()
    yield emulator, receiver
    receiver.stop()
    emulator.stop()


@pytest.fixture
def emulator(servers: tuple[BackgroundWooCommerce, Receiver]) -> BackgroundWooCommerce:
    return fresh(servers[0])


@pytest.fixture
def receiver(servers: tuple[BackgroundWooCommerce, Receiver], emulator: Any) -> Receiver:
    return servers[1].reset()


def subscribe(
    emulator: BackgroundWooCommerce, url: str, topic: str = "order.created", secret: str = SECRET
) -> dict[str, Any]:
    body = {"topic": topic, "delivery_url": url, "secret": secret}
    response = httpx.post(f"{emulator.url}/wp-json/wc/v3/webhooks", auth=RW, json=body)
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    return item


def deliveries(emulator: BackgroundWooCommerce, count: int, **filters: Any) -> list[Any]:
    return emulator.control.wait_for_deliveries(count, kind="delivery", **filters)


def test_creation_pings_unsigned_and_form_encoded_and_only_an_exact_200_counts(
    emulator: BackgroundWooCommerce, receiver: Receiver
) -> None:
    receiver.reset(201)
    webhook = subscribe(emulator, f"{receiver.url}/hook")
    ping = receiver.wait_for(1)[0]
    assert ping["body"] == f"webhook_id={webhook['id']}".encode()
    assert ping["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert not any(name.startswith("x-wc-webhook") for name in ping["headers"])
    assert emulator.control.webhook(webhook["id"])["pending_delivery"] is True  # 201 is not 200
    logged = emulator.control.deliveries(kind="ping")[0]
    assert logged["error"] == "Error: Delivery URL returned response code: 201"
    second = subscribe(emulator, f"{receiver.url}/hook")
    assert emulator.control.webhook(second["id"])["pending_delivery"] is False
    assert emulator.control.webhook(webhook["id"])["failure_count"] == 0  # pings never count


def test_a_delivery_is_signed_over_the_exact_bytes_with_woocommerces_headers(
    emulator: BackgroundWooCommerce, receiver: Receiver
) -> None:
    webhook = subscribe(emulator, f"{receiver.url}/webhooks/woocommerce/eu")
    order = emulator.control.create_order(
        status="processing", billing={"first_name": "Zoé", "phone": "+33 6 12 34 56 78"}
    )
    request = receiver.wait_for(2)[1]
    body, headers = request["body"], request["headers"]
    WooCommerceVerifier([SECRET.encode()]).verify(body, headers)
    assert headers["x-wc-webhook-topic"] == "order.created"
    assert (headers["x-wc-webhook-resource"], headers["x-wc-webhook-event"]) == ("order", "created")
    assert headers["x-wc-webhook-id"] == str(webhook["id"])
    assert headers["x-wc-webhook-source"] == f"{emulator.url}/"
    assert len(headers["x-wc-webhook-delivery-id"]) == 32
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("WooCommerce/")
    assert b"Zo\\u00e9" in body and b"http:\\/\\/" in body  # PHP's json_encode
    sent = json.loads(body)
    rest = httpx.get(f"{emulator.url}/wp-json/wc/v3/orders/{order['id']}", auth=RW).json()
    assert sent == rest  # the webhook body is the REST body
    assert (sent["status"], sent["date_paid_gmt"] is not None) == ("processing", True)


def test_a_failed_delivery_is_never_retried_and_counts_one_failure(
    emulator: BackgroundWooCommerce, receiver: Receiver
) -> None:
    webhook = subscribe(emulator, f"{receiver.url}/hook")
    receiver.wait_for(1)  # the ping
    receiver.reset(503)
    emulator.control.create_order()
    assert deliveries(emulator, 1)[0]["outcome"] == "failure"
    emulator.control.create_order()  # a later event is the only thing that posts again
    made = deliveries(emulator, 2)
    assert [d["status"] for d in made] == [503, 200]
    assert len(receiver.received) == 2
    assert emulator.control.webhook(webhook["id"])["failure_count"] == 0  # a success resets it


def test_the_seventh_failure_in_a_row_disables_and_reactivation_keeps_the_count(
    emulator: BackgroundWooCommerce,
) -> None:
    closed = "http://127.0.0.1:9/hook"  # nothing listens there: every delivery fails
    webhook = subscribe(emulator, closed)
    for n in range(1, 8):
        emulator.control.create_order()
        made = deliveries(emulator, n)
        assert made[-1]["outcome"] == "failure" and made[-1]["status"] is None
        held = emulator.control.webhook(webhook["id"])
        expected = ("active", n) if n < 7 else ("disabled", 6)
        assert (held["status"], held["failure_count"]) == expected, n
    emulator.control.create_order()  # a disabled webhook is not even scheduled
    assert emulator.control.stats()["pending"] == 0
    put = httpx.put(
        f"{emulator.url}/wp-json/wc/v3/webhooks/{webhook['id']}",
        auth=RW,
        json={"status": "active"},
    )
    assert put.json()["status"] == "active"
    assert emulator.control.webhook(webhook["id"])["failure_count"] == 6
    emulator.control.create_order()
    assert deliveries(emulator, 8)[-1]["webhook_status"] == "disabled"  # one failure is enough


def test_the_failure_limit_follows_woocommerce_max_webhook_delivery_failures(
    emulator: BackgroundWooCommerce,
) -> None:
    emulator.control.settings(max_failures=1)
    webhook = subscribe(emulator, "http://127.0.0.1:9/hook")
    for n in range(1, 4):
        emulator.control.create_order()
        deliveries(emulator, n)
    assert emulator.control.webhook(webhook["id"])["status"] == "disabled"  # on the 3rd


def test_a_second_event_while_one_is_pending_is_dropped_and_the_body_is_built_late(
    emulator: BackgroundWooCommerce, receiver: Receiver
) -> None:
    subscribe(emulator, f"{receiver.url}/hook", topic="order.updated")
    receiver.wait_for(1)
    emulator.control.settings(paused=True)  # Action Scheduler not running yet
    order = emulator.control.create_order(status="pending")
    emulator.control.update_order(order["id"], status="on-hold")
    emulator.control.update_order(order["id"], status="processing")
    other = emulator.control.create_order()
    emulator.control.update_order(other["id"], customer_note="leave at the door")
    assert len(emulator.control.queue()["pending"]) == 2  # one per order
    made = emulator.control.run_queue()
    assert [d["resource_id"] for d in made] == [order["id"], other["id"]]
    assert json.loads(made[0]["body"])["status"] == "processing"  # the state at delivery
    assert emulator.control.stats()["deliveries"]["coalesced"] == 1


def test_trash_restore_and_deletion_fire_what_woocommerce_fires(
    emulator: BackgroundWooCommerce, receiver: Receiver
) -> None:
    for topic in ("order.deleted", "order.restored", "order.updated"):
        subscribe(emulator, f"{receiver.url}/{topic}", topic=topic)
    receiver.wait_for(3)
    order = emulator.control.create_order(status="processing", webhooks=False)
    emulator.control.trash_order(order["id"])
    deleted = deliveries(emulator, 1)[0]
    assert (deleted["topic"], json.loads(deleted["body"])) == ("order.deleted", {"id": order["id"]})
    emulator.control.restore_order(order["id"])
    restored = deliveries(emulator, 2)[1]
    assert json.loads(restored["body"])["status"] == "processing"
    emulator.control.delete_order(order["id"])  # force-deleted: no webhook at all
    emulator.control.create_order(status="checkout-draft", webhooks=False)
    assert emulator.control.stats()["pending"] == 0
    assert len(emulator.control.deliveries(kind="delivery")) == 2


def test_an_order_gone_before_its_delivery_is_delivered_as_the_rest_error(
    emulator: BackgroundWooCommerce, receiver: Receiver
) -> None:
    subscribe(emulator, f"{receiver.url}/hook")
    receiver.wait_for(1)
    emulator.control.settings(paused=True)
    order = emulator.control.create_order()
    emulator.control.delete_order(order["id"])
    body = json.loads(emulator.control.run_queue()[0]["body"])
    assert body == {
        "code": "woocommerce_rest_shop_order_invalid_id",
        "message": "Invalid ID.",
        "data": {"status": 404},
    }


def test_customer_events_and_deletion_only_for_the_customer_role(
    emulator: BackgroundWooCommerce, receiver: Receiver
) -> None:
    for topic in ("customer.created", "customer.updated", "customer.deleted"):
        subscribe(emulator, f"{receiver.url}/{topic}", topic=topic)
    receiver.wait_for(3)
    customer = emulator.control.create_customer(first_name="Ana")
    emulator.control.update_customer(customer["id"], billing={"phone": "+15550100"})
    deliveries(emulator, 2)  # else the body, built at delivery time, finds the customer gone
    emulator.control.delete_customer(customer["id"])
    editor = emulator.control.create_customer(role="editor", webhooks=False)
    emulator.control.delete_customer(editor["id"])
    made = deliveries(emulator, 3)
    assert [d["topic"] for d in made] == [
        "customer.created",
        "customer.updated",
        "customer.deleted",
    ]
    assert json.loads(made[1]["body"])["billing"]["phone"] == "+15550100"
    assert json.loads(made[2]["body"]) == {"id": customer["id"]}
    assert emulator.control.stats()["pending"] == 0


def test_faults_drop_a_delivery_silently_or_fail_it_without_sending(
    emulator: BackgroundWooCommerce, receiver: Receiver
) -> None:
    webhook = subscribe(emulator, f"{receiver.url}/hook")
    receiver.wait_for(1)
    emulator.control.add_fault("drop")
    emulator.control.add_fault("fail", webhook_id=webhook["id"])
    emulator.control.create_order()
    emulator.control.create_order()
    emulator.control.create_order()
    outcomes = [d["outcome"] for d in deliveries(emulator, 3)]
    assert outcomes == ["dropped", "failure", "success"]
    assert len(receiver.received) == 2  # the ping and the third delivery
    assert emulator.control.webhook(webhook["id"])["failure_count"] == 0
