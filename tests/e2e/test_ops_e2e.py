"""What the people running the bridge see and are told, from the real processes: /status and
/status.json over HTTP, and an alert from the processes' alert threads to a chat webhook."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from harness import Bridge, Emulator, wait_until, woo_order

from tests.support import ChatServer

pytestmark = pytest.mark.e2e

DASHBOARD = ("admin", "e2e-dashboard-password")


@pytest.fixture(scope="module")
def chat() -> Iterator[ChatServer]:
    server = ChatServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def ops_bridge(
    logs: Path, emulator: Emulator, e2e_redis: str, chat: ChatServer
) -> Iterator[Bridge]:
    extra = f"""
[bridge]
public_url = "https://bridge.example.com"

[alerts]
webhook_url = "{chat.url}"
check_every_seconds = 1
start_after_seconds = 0
clear_after_seconds = 0

[stores.woo-shop.alerts]
failed_per_hour = 2
"""
    bridge = Bridge(logs, emulator, e2e_redis, extra_config=extra)
    yield bridge
    bridge.stop()


class Rows(HTMLParser):
    """Each store row's state (its class) and the links inside it."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.states: dict[str, str] = {}
        self.links: dict[str, list[str]] = {}
        self._store: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and (found.get("id") or "").startswith("store-"):
            self._store = str(found["id"]).removeprefix("store-")
            self.states[self._store] = str(found["class"])
            self.links[self._store] = []
        elif tag == "a" and self._store is not None:
            self.links[self._store].append(found.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._store = None


def test_records_kanal_refuses_show_on_status_and_are_alerted_once(
    ops_bridge: Bridge, emulator: Emulator, chat: ChatServer
) -> None:
    refusal = {"message": "The given data was invalid.", "errors": {"total_price": ["bad"]}}
    emulator.fault(status=422, count=3, store_id=8, body=refusal)
    for number in range(3):
        assert ops_bridge.woocommerce(woo_order(9301 + number, 1)).json() == {"status": "accepted"}

    def alerted() -> list[str]:
        return [line for line in chat.lines if "woo-shop" in line]

    [message] = wait_until(alerted, 45, 0.25)
    assert message.startswith("🔴 woo-shop is failing: 3 records failed in the last hour")
    assert message.endswith(" https://bridge.example.com/status#store-woo-shop")
    assert "555" not in message  # the order's phone number
    time.sleep(3)  # three more evaluations by whichever process holds the lock
    assert alerted() == [message]

    page = ops_bridge.http.get("/status", auth=DASHBOARD)
    assert page.status_code == 200
    rows = Rows(page.text)
    assert rows.states["woo-shop"] == "failing"
    assert rows.states["shopify-shop"] == "ok"
    job_links = [link for link in rows.links["woo-shop"] if link.startswith("rq/0/view/job/")]
    assert len(job_links) == 3
    assert ops_bridge.http.get("/" + job_links[0], auth=DASHBOARD).status_code == 200
    assert ops_bridge.http.get("/status").status_code == 401

    data = ops_bridge.http.get("/status.json", auth=DASHBOARD).json()
    woo = next(store for store in data["stores"] if store["store"] == "woo-shop")
    assert (woo["state"], woo["failed"]) == ("failing", 3)
    assert woo["push_at"] is None and woo["webhook_at"] is not None
    assert sum(woo["hourly"]["failures"]) >= 3
    assert data["deployment"]["workers"] == 1
    assert "(415) 555-0132" not in json.dumps(data)


def test_status_json_answers_quickly_enough_for_a_monitor(ops_bridge: Bridge) -> None:
    started = time.monotonic()
    response = httpx.get(f"{ops_bridge.url}/status.json", auth=DASHBOARD, timeout=10)
    assert response.status_code == 200
    assert time.monotonic() - started < 5
    assert {store["store"] for store in response.json()["stores"]} >= {"shopify-shop", "woo-shop"}
