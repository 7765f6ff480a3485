"""Operating the real processes: /metrics and /rq over HTTP, logs free of personal data and
secrets after a full run, and shutdown within Heroku's 30 seconds."""

from __future__ import annotations

import json
import os
import shlex
import signal
import time

import httpx
import pytest
from harness import (
    KANAL_KEY,
    SHOPIFY_SECRET,
    WOO_SECRET,
    Bridge,
    Emulator,
    Process,
    shopify_bytes,
    shopify_order,
    sign,
    wait_for_http,
    wait_until,
    woo_order,
)
from prometheus_client.parser import text_string_to_metric_families

from bridge.ops.localredis import pick_free_port

pytestmark = pytest.mark.e2e

DASHBOARD = ("admin", "e2e-dashboard-password")


def scrape(bridge: Bridge) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = bridge.http.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(
    scraped: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def test_metrics_of_web_and_worker_over_http(bridge: Bridge, emulator: Emulator) -> None:
    calls = (
        "kanal_bridge_kanal_calls_total",
        {"store": "shopify-shop", "resource": "orders", "method": "POST", "status": "?"},
    )
    accepted = (
        "kanal_bridge_webhooks_total",
        {
            "platform": "shopify",
            "store": "shopify-shop",
            "topic": "orders/updated",
            "answer": "accepted",
        },
    )
    before = scrape(bridge)
    assert bridge.shopify(shopify_order(8101, 1)).json() == {"status": "accepted"}
    wait_until(lambda: emulator.records(7).get("8101"), 30)
    status = emulator.requests(7)[-1]["status"]
    calls[1]["status"] = str(status)

    def moved() -> bool:  # the worker flushes its counts every few seconds
        after = scrape(bridge)
        return (
            sample(after, calls[0], **calls[1]) > sample(before, calls[0], **calls[1])
            and sample(after, accepted[0], **accepted[1])
            == sample(before, accepted[0], **accepted[1]) + 1
        )

    wait_until(moved, 15, 0.5)
    after = scrape(bridge)
    assert sample(after, "kanal_bridge_workers") >= 1
    assert sample(after, "kanal_bridge_kanal_requests_per_minute", kanal_store="7") == 600


def test_the_dashboard_over_http_needs_the_password(bridge: Bridge, emulator: Emulator) -> None:
    emulator.fault(status=422, count=1, store_id=7, body={"message": "invalid"})
    bridge.shopify(shopify_order(8102, 1))
    wait_until(lambda: emulator.requests(7), 15)
    assert bridge.http.get("/rq/").status_code == 401
    assert bridge.http.get("/rq/", auth=("admin", "nope")).status_code == 401

    def failed_row() -> list[dict[str, str]]:
        listing = bridge.http.get("/rq/0/data/jobs/kanal/failed/50/asc/1.json", auth=DASHBOARD)
        return [j for j in listing.json()["jobs"] if j["description"].endswith("orders:8102")]

    [row] = wait_until(failed_row, 15)
    assert "Kanal answered 422" in row["exc_info"]
    page = bridge.http.get("/rq/0/view/jobs/kanal/failed/8/asc/1", auth=DASHBOARD)
    assert page.status_code == 200
    assert "/rq/static/" in page.text


PHONES = ["+33 6 12 34 56 71", "+33 6 12 34 56 72", "+33 6 12 34 56 73"]
E164 = ["+33612345671", "+33612345672", "+33612345673", "+14155550181", "+14155550182"]
WOO_PHONES = ["(415) 555-0181", "(415) 555-0182"]
EMAILS = [
    "marie.curie@example.org",
    "pierre.curie@example.org",
    "ada.lovelace@example.net",
    "alan.turing@example.net",
    "grace.hopper@example.com",
]


def test_a_full_run_logs_no_phone_email_secret_or_key(bridge: Bridge, emulator: Emulator) -> None:
    # the failure's body echoes personal data, as validation errors sometimes do
    emulator.fault(
        status=422,
        count=1,
        store_id=7,
        body={
            "message": f"customer.phone {E164[0]} is not on WhatsApp ({EMAILS[0]})",
            "errors": {"customer.phone": [f"{E164[0]} is invalid"]},
        },
    )
    for index, phone in enumerate(PHONES):
        order = shopify_order(8200 + index, 1, phone=phone)
        order["email"] = order["contact_email"] = EMAILS[index]
        order["customer"]["email"] = EMAILS[index]
        assert bridge.shopify(order).json() == {"status": "accepted"}
    for index, phone in enumerate(WOO_PHONES):
        order = woo_order(8300 + index, 1, phone=phone)
        order["billing"]["email"] = EMAILS[3 + index]
        assert bridge.woocommerce(order).json() == {"status": "accepted"}
    assert bridge.shopify(shopify_order(8299, 1), secret="wrong-secret").status_code == 401
    wait_until(lambda: len(emulator.requests(7)) >= 3 and len(emulator.requests(8)) >= 2, 30)
    wait_until(bridge.drained, 30)
    time.sleep(6)  # RQ's failure lines and the last flushes

    output = bridge.output()
    forbidden = [
        *PHONES,
        *E164,
        *WOO_PHONES,
        *EMAILS,
        *(e.replace("+", "") for e in E164),
        *(e[-9:] for e in E164),
        SHOPIFY_SECRET,
        WOO_SECRET,
        KANAL_KEY,
        DASHBOARD[1],
    ]
    leaks = [text for text in forbidden if text in output]
    assert leaks == []

    lines = [json.loads(line) for line in output.splitlines() if line.startswith('{"time"')]
    webhooks = [e for e in lines if e["logger"] == "bridge.intake.webhooks"]
    assert {"8200", "8201", "8202", "8300", "8301"} <= {e.get("external_id") for e in webhooks}
    for entry in webhooks:
        assert {"store", "platform", "answer", "status_code", "duration_ms", "request_id"} <= set(
            entry
        )
    calls = [e for e in lines if e["logger"] == "bridge.delivery.push" and "method" in e]
    for entry in calls:
        assert {"store", "resource", "external_id", "status", "duration_ms", "outcome"} <= set(
            entry
        )
    assert {"8200", "8201", "8202", "8300", "8301"} <= {e["external_id"] for e in calls}
    assert any(e["status"] == 422 and e["outcome"] == "permanent" for e in calls)
    assert not any(e["logger"] == "uvicorn.access" for e in lines)  # the webhook line replaces it
    assert "+3361*****71" in output  # the failure was logged, masked
    assert "m***@example.org" in output


def test_web_and_worker_stop_within_herokus_30_seconds(bridge: Bridge, emulator: Emulator) -> None:
    port = pick_free_port()
    env = {**bridge.env, "PORT": str(port)}
    web = Process("web-sigterm", shlex.split(bridge.commands["web"]), env, bridge.logs)
    worker = Process("worker-sigterm", shlex.split(bridge.commands["worker"]), env, bridge.logs)
    wait_for_http(f"http://127.0.0.1:{port}/healthz")
    wait_until(lambda: os.path.getsize(worker.log_path) > 0, 20)
    time.sleep(1)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        assert client.get("/healthz").status_code == 200
    for process in (web, worker):
        started = time.monotonic()
        process.signal(signal.SIGTERM)
        process.popen.wait(30)
        assert time.monotonic() - started < 30
        process.stop()


def _spawned_workers(pid: int) -> list[int]:
    """The uvicorn worker processes a web process spawned (multiprocessing's spawn_main)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"spawn_main" in command:
            found.append(int(entry))
    return found


def test_web_serves_on_port_with_web_concurrency_processes(bridge: Bridge) -> None:
    """`kanal-bridge web` as Heroku runs it: PORT and WEB_CONCURRENCY from the environment."""
    port = pick_free_port()
    env = {**bridge.env, "PORT": str(port), "WEB_CONCURRENCY": "2"}
    web = Process("web-concurrency", shlex.split(bridge.commands["web"]), env, bridge.logs)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=30)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert client.get("/readyz").status_code == 200
            body = shopify_bytes(shopify_order(8400, 1))
            headers = {
                "Content-Type": "application/json",
                "X-Shopify-Topic": "orders/create",
                "X-Shopify-Hmac-Sha256": sign(body, SHOPIFY_SECRET),
                "X-Shopify-Shop-Domain": "shopify-shop.myshopify.com",
                "X-Shopify-Webhook-Id": "web-concurrency-8400",
            }
            answer = client.post("/webhooks/shopify/shopify-shop", content=body, headers=headers)
        assert answer.json() == {"status": "accepted"}
        assert len(wait_until(lambda: _spawned_workers(web.popen.pid), 10)) == 2
    finally:
        assert web.stop() is not None
