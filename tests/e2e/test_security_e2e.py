"""What an attacker can do over HTTP, against the real processes (issue 11): replay genuine
signed bodies under another topic or long after the fact, and reach the dashboard's actions by
odd spellings of their paths. None of it may change anything in Kanal."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx
import pytest
from harness import (
    SHOPIFY_DOMAIN,
    SHOPIFY_SECRET,
    WOO_SECRET,
    Bridge,
    Emulator,
    shopify_bytes,
    shopify_order,
    sign,
    wait_until,
    woo_order,
)

pytestmark = pytest.mark.e2e

DASHBOARD = ("admin", "e2e-dashboard-password")
HOUR = 3600.0


def shopify_replay(
    bridge: Bridge, body: bytes, topic: str, triggered_at: float | None = None
) -> httpx.Response:
    """Re-send signed bytes as an attacker would: a new webhook id, any topic and time."""
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body, SHOPIFY_SECRET),
        "X-Shopify-Shop-Domain": SHOPIFY_DOMAIN,
        "X-Shopify-Webhook-Id": os.urandom(8).hex(),
        "X-Shopify-Triggered-At": time.strftime(
            "%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(triggered_at or time.time())
        ),
    }
    return bridge.post("/webhooks/shopify/shopify-shop", body, headers)


def woo_replay(bridge: Bridge, body: bytes, topic: str) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Signature": sign(body, WOO_SECRET),
    }
    return bridge.post("/webhooks/woocommerce/woo-shop", body, headers)


def settled(bridge: Bridge) -> None:
    """Nothing waits for a push, a moment after the last answer (the settle delay is 1 s)."""
    time.sleep(1.5)
    wait_until(bridge.drained, 30)


def calls(emulator: Emulator, store_id: int, method: str | None = None) -> list[dict[str, Any]]:
    return [r for r in emulator.requests(store_id) if method is None or r["method"] == method]


# 1. The topic is not signed: a genuine body re-sent under another topic changes nothing.


def test_a_shopify_order_re_sent_as_an_erasure_deletes_nothing(
    bridge: Bridge, emulator: Emulator
) -> None:
    order = shopify_order(9101, 1)
    body = shopify_bytes(order)
    assert shopify_replay(bridge, body, "orders/create").json() == {"status": "accepted"}
    wait_until(lambda: emulator.records(7).get("9101"), 20)
    before = calls(emulator, 7)

    for topic in (
        "customers/redact",
        "customers/create",
        "checkouts/create",
        "fulfillments/create",
    ):
        answer = shopify_replay(bridge, body, topic)
        assert answer.status_code == 200
        assert answer.json()["status"] == "ignored", topic
        assert answer.json()["reason"].startswith("not_a"), topic
    settled(bridge)
    assert calls(emulator, 7) == before
    assert calls(emulator, 7, "DELETE") == []
    assert not emulator.records(7, "customers")


def test_a_woocommerce_order_re_sent_as_a_deletion_changes_nothing(
    bridge: Bridge, emulator: Emulator
) -> None:
    order = woo_order(9201, 1, status="processing")
    body = json.dumps(order, separators=(",", ":")).replace("/", "\\/").encode()
    assert woo_replay(bridge, body, "order.created").json() == {"status": "accepted"}
    held = wait_until(lambda: emulator.records(8).get("9201"), 20)
    before = calls(emulator, 8)

    for topic in ("order.deleted", "customer.deleted"):
        answer = woo_replay(bridge, body, topic)
        assert answer.json() == {"status": "ignored", "reason": "not_a_deletion"}, topic
    settled(bridge)
    assert calls(emulator, 8) == before
    assert emulator.records(8)["9201"]["body"]["fulfillment_status"] == "unfulfilled"
    assert emulator.records(8)["9201"] == held


# 2. Old deliveries replayed: refused by their age, whatever the bridge still remembers.


def test_an_old_shopify_body_replayed_after_its_record_expired_is_not_applied(
    bridge: Bridge, emulator: Emulator
) -> None:
    # Captured three days ago while the order was pending; the order has been paid since.
    pending = shopify_order(9301, 1, financial="pending")
    pending["updated_at"] = time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 72 * HOUR)
    )
    captured = shopify_bytes(pending)
    paid = shopify_order(9301, 2, financial="paid")
    assert shopify_replay(bridge, shopify_bytes(paid), "orders/paid").json()["status"] == "accepted"
    wait_until(lambda: emulator.records(7).get("9301"), 20)
    bridge.redis.delete(*bridge.redis.keys("kb:rec:*:orders:9301"))  # its state expired
    before = calls(emulator, 7)

    answer = shopify_replay(bridge, captured, "orders/updated")  # a fresh header: a claim
    assert answer.json() == {"status": "ignored", "reason": "too_old"}
    settled(bridge)
    assert calls(emulator, 7) == before
    assert emulator.records(7)["9301"]["body"]["financial_status"] == "paid"


def test_a_shopify_delivery_triggered_long_ago_is_not_applied(
    bridge: Bridge, emulator: Emulator
) -> None:
    body = shopify_bytes(shopify_order(9302, 1))
    answer = shopify_replay(bridge, body, "orders/create", triggered_at=time.time() - 49 * HOUR)
    assert answer.json() == {"status": "ignored", "reason": "too_old"}
    late = shopify_replay(bridge, body, "orders/create", triggered_at=time.time() - 28 * HOUR)
    assert late.json() == {"status": "accepted"}  # a day late and retried: Shopify may do that
    wait_until(lambda: emulator.records(7).get("9302"), 20)


# 3. The dashboard's actions: no state change by GET, however spelled; POSTs from its pages.


def failed_ids(bridge: Bridge) -> list[str]:
    listing = bridge.http.get("/rq/0/data/jobs/kanal/failed/50/asc/1.json", auth=DASHBOARD)
    return [job["id"] for job in listing.json()["jobs"]]


def test_the_dashboard_changes_nothing_by_get_or_from_elsewhere(
    bridge: Bridge, emulator: Emulator
) -> None:
    emulator.fault(status=422, count=1, store_id=7, body={"message": "invalid"})
    assert shopify_replay(
        bridge, shopify_bytes(shopify_order(9401, 1)), "orders/create"
    ).json() == {"status": "accepted"}
    failed = wait_until(lambda: failed_ids(bridge), 20)
    before = calls(emulator, 7)

    for path in (
        "/rq//requeue/kanal",
        "/rq/%2Frequeue/kanal",
        "/rq/%2frequeue%2fkanal",
        "/rq///requeue//kanal",
        "/rq/requeue/kanal/",
        "/rq/REQUEUE/kanal",
        "/rq/requeue/kanal",
    ):
        response = bridge.http.get(path, auth=DASHBOARD, follow_redirects=True)
        assert response.status_code in (403, 404, 405), path
    for headers in ({}, {"Origin": "https://evil.example"}, {"Referer": "https://evil.example/"}):
        response = bridge.http.post("/rq/requeue/kanal", auth=DASHBOARD, headers=headers)
        assert response.status_code == 403, headers
    settled(bridge)
    assert failed_ids(bridge) == failed
    assert calls(emulator, 7) == before

    redirect = bridge.http.get("/rq", auth=DASHBOARD, headers={"Host": "evil.example"})
    assert redirect.headers["location"] == "/rq/"

    own_page = {"Origin": bridge.url}
    response = bridge.http.post("/rq/requeue/kanal", auth=DASHBOARD, headers=own_page)
    assert response.json()["status"] == "OK"  # the dashboard's own button still works
    wait_until(lambda: emulator.records(7).get("9401"), 20)
