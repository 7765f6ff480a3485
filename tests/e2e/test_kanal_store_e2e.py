"""What Kanal keys by and what it answers about a whole store, end to end: records keyed per
Kanal store (prefixes), a rejected key or a paused store that loses nothing, a POST whose
answer never came, versions that outlive bodies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Bridge, Emulator, shopify_order, wait_until, woo_order

pytestmark = pytest.mark.e2e

SHARED = 12  # prefixed-shopify ("sh-") and prefixed-woo ("wc-") both feed it


@pytest.fixture(scope="module")
def bridge(logs: Path, emulator: Emulator, e2e_redis: str) -> Iterator[Bridge]:
    # A short Kanal timeout, so that a POST left without an answer is given up within a second.
    bridge = Bridge(logs, emulator, e2e_redis, kanal_timeout=1.0)
    yield bridge
    bridge.stop()


def bodies(emulator: Emulator, store_id: int, resource: str = "orders") -> dict[str, Any]:
    return {key: record["body"] for key, record in emulator.records(store_id, resource).items()}


def test_two_shops_feeding_one_kanal_store_never_overwrite_each_other(
    bridge: Bridge, emulator: Emulator
) -> None:
    shopify = shopify_order(9001, 1)
    assert bridge.shopify(shopify, store="prefixed-shopify").json() == {"status": "accepted"}
    woo = woo_order(9001, 2)  # same id, newer version: must not replace the Shopify order
    assert bridge.woocommerce(woo, store="prefixed-woo").json() == {"status": "accepted"}

    wait_until(lambda: {"sh-9001", "wc-9001"} <= set(bodies(emulator, SHARED)), 20)
    held = bodies(emulator, SHARED)
    assert held["sh-9001"]["total_price"] == shopify["total_price"]
    assert held["sh-9001"]["customer"]["external_id"] == f"sh-{shopify['customer']['id']}"
    assert held["wc-9001"]["total_price"] == woo["total"]
    assert {r["body"]["external_id"] for r in emulator.requests(SHARED)} == {"sh-9001", "wc-9001"}
    keys = {k.decode() for k in bridge.redis.scan_iter("kb:rec:12:orders:*")}
    assert keys == {"kb:rec:12:orders:sh-9001", "kb:rec:12:orders:wc-9001"}


HELD = 13  # held-shop (WooCommerce)
OTHER = 8  # woo-shop


def pending(bridge: Bridge) -> int:
    return int(bridge.redis.zcard("kb:pending"))


def failed(bridge: Bridge) -> int:
    return int(bridge.redis.zcard("rq:failed:kanal"))


def refusals_park_everything_then_all_arrives(
    bridge: Bridge, emulator: Emulator, first: int, refused: int, reason: str, restore: Any
) -> None:
    ids = range(first, first + 50)
    for order_id in ids:
        answer = bridge.woocommerce(woo_order(order_id, 1), store="held-shop")
        assert answer.json() == {"status": "accepted"}
    others = {str(first + 100 + n) for n in range(3)}
    for order_id in others:
        bridge.woocommerce(woo_order(int(order_id), 1))

    # The other Kanal store flows; the held one keeps all 50 pending, none failed.
    wait_until(lambda: others <= set(bodies(emulator, OTHER)), 20)
    wait_until(lambda: bridge.redis.zcard("kb:parked:13") == 49, 20)
    assert bridge.redis.hget("kb:pace:13", "held_reason") == reason.encode()
    assert pending(bridge) == 50
    assert failed(bridge) == 0
    assert bodies(emulator, HELD) == {}
    assert {r["status"] for r in emulator.requests(HELD)} == {refused}
    status = bridge.cli("status")
    assert "kanal store 13" in status and "HELD for" in status and "49 record(s) waiting" in status

    restore()  # Kanal accepts the store again: nothing to type, the probe finds out
    wanted = {str(i) for i in ids}
    wait_until(lambda: wanted <= set(bodies(emulator, HELD)), 60, 0.5)
    wait_until(bridge.drained, 20)
    assert failed(bridge) == 0
    assert bridge.redis.hget("kb:pace:13", "held_reason") is None
    posts = [r for r in emulator.requests(HELD) if r["status"] in (200, 201)]
    assert len(posts) == 50  # each order once, after the release


def test_a_rejected_key_loses_nothing_and_resumes_by_itself(
    bridge: Bridge, emulator: Emulator
) -> None:
    emulator.set_keys(HELD, ["a-key-for-another-integration"])  # ours: 403 for this store
    try:
        refusals_park_everything_then_all_arrives(
            bridge, emulator, 9100, 403, "key_rejected", lambda: emulator.set_keys(HELD, None)
        )
    finally:
        emulator.set_keys(HELD, None)


def test_a_store_paused_in_kanal_loses_nothing_and_resumes_by_itself(
    bridge: Bridge, emulator: Emulator
) -> None:
    emulator.pause([HELD])
    try:
        refusals_park_everything_then_all_arrives(
            bridge, emulator, 9300, 404, "store_paused", lambda: emulator.pause([])
        )
    finally:
        emulator.pause([])


def calls(emulator: Emulator, store_id: int) -> list[tuple[str, int]]:
    return [(r["method"], r["status"]) for r in emulator.requests(store_id)]


def test_a_post_that_landed_without_an_answer_is_confirmed_by_a_patch_never_reposted(
    bridge: Bridge, emulator: Emulator
) -> None:
    # Kanal applies the POST but answers after the bridge's 1 s timeout.
    emulator.fault(applied=True, delay_ms=2500, method="POST", store_id=7)
    assert bridge.shopify(shopify_order(9401, 1)).json() == {"status": "accepted"}
    wait_until(lambda: len(emulator.requests(7)) >= 2, 30, 0.2)
    wait_until(bridge.drained, 20)
    assert calls(emulator, 7) == [("POST", 201), ("PATCH", 200)]  # one POST: one automation
    assert emulator.records(7)["9401"]["version"] == 2


def test_a_post_that_did_not_land_is_probed_then_posted_again(
    bridge: Bridge, emulator: Emulator
) -> None:
    # Kanal never applies the POST, and its answer comes after the bridge's timeout.
    emulator.fault(status=503, delay_ms=2500, method="POST", store_id=7)
    assert bridge.shopify(shopify_order(9402, 1)).json() == {"status": "accepted"}
    wait_until(lambda: "9402" in emulator.records(7), 30, 0.2)
    wait_until(bridge.drained, 20)
    assert calls(emulator, 7) == [("POST", 503), ("PATCH", 404), ("POST", 201)]


def test_an_old_body_replayed_after_the_record_expired_is_refused(
    bridge: Bridge, emulator: Emulator
) -> None:
    pending = shopify_order(9501, 1, financial="pending")
    assert bridge.shopify(pending, topic="orders/create").json() == {"status": "accepted"}
    wait_until(lambda: "9501" in emulator.records(7), 20)
    assert bridge.shopify(shopify_order(9501, 2, financial="paid")).json()["status"] == "accepted"
    wait_until(lambda: emulator.records(7)["9501"]["body"]["financial_status"] == "paid", 20)
    wait_until(bridge.drained, 20)
    bridge.redis.delete("kb:rec:7:orders:9501")  # what DELIVERED_RECORD_TTL does after 3 days

    # The genuine, signed orders/create body, re-sent under a new webhook id.
    replay = bridge.shopify(pending, topic="orders/create")
    assert replay.json() == {"status": "ignored", "reason": "stale_version"}
    assert not bridge.redis.exists("kb:rec:7:orders:9501")
    held = emulator.records(7)["9501"]
    assert (held["body"]["financial_status"], held["version"]) == ("paid", 2)
