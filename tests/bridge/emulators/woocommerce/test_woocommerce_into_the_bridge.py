"""The emulator's deliveries, received by the bridge's own web app (a real uvicorn, real Redis):
the ping gets its exact 200, signed deliveries are accepted, a wrong secret is a failure."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
import uvicorn

from bridge.app import create_app
from bridge.config import Settings, parse_config
from bridge.emulators.woocommerce import BackgroundWooCommerce
from tests.woocommerce_shop import RW, fresh, shop

SECRET = "intakeTestSecretAlnum0123456789"
CONFIG = f"""
[stores.eu-shop]
platform = "woocommerce"
kanal_store_id = 8
kanal_api_key = "kanal-key-intake-test"
webhook_secrets = ["{SECRET}"]
default_country = "US"
"""


@pytest.fixture
def bridge(redis_url: str, redis_client: redis.Redis) -> Iterator[str]:
    """The bridge's web app served by uvicorn (with its lifespan) on a free port."""
    app = create_app(Settings.from_env({"REDIS_URL": redis_url}), parse_config(CONFIG, {}))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the bridge did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def emulator() -> Iterator[BackgroundWooCommerce]:
    emulator = fresh(shop())
    yield emulator
    emulator.stop()


def subscribe(emulator: BackgroundWooCommerce, url: str, secret: str) -> dict[str, Any]:
    body = {"topic": "order.created", "delivery_url": url, "secret": secret}
    response = httpx.post(f"{emulator.url}/wp-json/wc/v3/webhooks", auth=RW, json=body)
    assert response.status_code == 201
    item: dict[str, Any] = response.json()
    return item


def test_the_bridge_answers_the_ping_and_accepts_what_the_emulator_delivers(
    bridge: str, emulator: BackgroundWooCommerce, redis_client: redis.Redis
) -> None:
    webhook = subscribe(emulator, f"{bridge}/webhooks/woocommerce/eu-shop", SECRET)
    assert emulator.control.webhook(webhook["id"])["pending_delivery"] is False  # exact 200
    order = emulator.control.create_order(status="processing")
    [delivery] = emulator.control.wait_for_deliveries(1, kind="delivery")
    assert (delivery["status"], delivery["outcome"]) == (200, "success")
    assert '"accepted"' in delivery["answer"]
    stored = [key.decode() for key in redis_client.scan_iter("kb:rec:*")]
    assert [key for key in stored if key.endswith(f":orders:{order['id']}")], stored


def test_a_delivery_signed_with_another_secret_is_refused_and_counts_as_a_failure(
    bridge: str, emulator: BackgroundWooCommerce
) -> None:
    webhook = subscribe(emulator, f"{bridge}/webhooks/woocommerce/eu-shop", "notTheStoreSecret1")
    emulator.control.create_order(status="processing")
    [delivery] = emulator.control.wait_for_deliveries(1, kind="delivery")
    assert (delivery["status"], delivery["outcome"]) == (401, "failure")
    assert emulator.control.webhook(webhook["id"])["failure_count"] == 1
