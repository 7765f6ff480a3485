"""The assembled application: probes, lifespan, the body limit, and webhooks into a real Redis."""

from __future__ import annotations

import gc
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis
import redis.asyncio
from starlette.applications import Starlette

from bridge import defaults
from bridge.app import create_app, create_app_from_env
from bridge.config import BridgeConfig, Settings, parse_config
from bridge.delivery import jobs
from bridge.delivery.records import record_key
from bridge.intake.signatures import ShopifyVerifier
from tests.support import fresh_shopify_order

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"
SECRET = b"test-app-secret-3c2b1a09f8e7"
CONFIG = f"""
[stores.main-shop]
platform = "shopify"
kanal_store_id = 7
kanal_api_key = "kanal-key-app-test"
webhook_secrets = ["{SECRET.decode()}"]
"""
ORDER = fresh_shopify_order(
    (FIXTURES / "shopify" / "docs-sample-orders-create-customer-phone-on-addresses-only.json")
    .read_bytes()
    .replace(b"555-555-SHIP", b"+33 6 12 34 56 78"),
    shop="main-shop.myshopify.com",
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def config() -> BridgeConfig:
    return parse_config(CONFIG, {})


@pytest.fixture
def closed_url() -> str:
    """A Redis URL nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def settings(redis_url: str) -> Settings:
    return Settings.from_env({"REDIS_URL": redis_url})


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://bridge") as client:
            yield client


def signed(body: bytes, webhook_id: str = "6f2f0c1e-0d5a-4b7e-9a51-2b1c3d4e5f60") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": ShopifyVerifier.sign(body, SECRET),
        "X-Shopify-Shop-Domain": "main-shop.myshopify.com",
        "X-Shopify-Webhook-Id": webhook_id,
    }


# probes


async def test_healthz_is_200(closed_url: str, config: BridgeConfig) -> None:
    async with serve(create_app(settings(closed_url), config)) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_200_with_redis(
    redis_url: str, redis_client: redis.Redis, config: BridgeConfig
) -> None:
    async with serve(create_app(settings(redis_url), config)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_readyz_is_503_when_redis_is_unreachable(
    closed_url: str, config: BridgeConfig
) -> None:
    async with serve(create_app(settings(closed_url), config)) as client:
        response = await client.get("/readyz")
        health = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["reason"].startswith("redis:")
    assert health.status_code == 200


async def test_readyz_is_503_without_config(redis_url: str, redis_client: redis.Redis) -> None:
    app = create_app(settings(redis_url), None, config_error="stores.x.platform: unknown key")
    async with serve(app) as client:
        response = await client.get("/readyz")
        webhook = await client.post("/webhooks/shopify/x", content=b"{}")
        health = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "reason": "configuration: stores.x.platform: unknown key",
    }
    assert webhook.status_code == 503
    assert health.status_code == 200


async def test_given_client_is_used_and_left_open(
    redis_url: str, redis_client: redis.Redis, closed_url: str, config: BridgeConfig
) -> None:
    given = redis.asyncio.Redis.from_url(redis_url)
    try:
        # settings point nowhere: only the given client can make /readyz answer 200
        async with serve(create_app(settings(closed_url), config, given)) as client:
            assert (await client.get("/readyz")).status_code == 200
        assert await given.ping()
    finally:
        await given.aclose()


# create_app_from_env


@pytest.fixture(autouse=True)
def unsettled_heap() -> Iterator[None]:
    """The factory tunes the process's garbage collector: undone after each test here."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


async def test_the_factory_settles_the_heap(
    monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("BRIDGE_CONFIG_TOML", CONFIG)
    gc.unfreeze()
    create_app_from_env()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == defaults.GC_YOUNG_THRESHOLD


async def test_bad_config_keeps_the_process_up_but_not_ready(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text(CONFIG.replace("kanal_store_id = 7", "kanal_store_id = 7\ncolour = 1"))
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("BRIDGE_CONFIG", str(path))
    monkeypatch.delenv("BRIDGE_CONFIG_TOML", raising=False)
    async with serve(create_app_from_env()) as client:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        webhook = await client.post(
            "/webhooks/shopify/main-shop", content=ORDER, headers=signed(ORDER)
        )
    assert health.status_code == 200
    assert ready.status_code == 503
    assert "stores.main-shop.colour: unknown key" in ready.json()["reason"]
    assert SECRET.decode() not in ready.text
    assert "kanal-key-app-test" not in ready.text
    assert webhook.status_code == 503


async def test_a_secret_in_the_wrong_key_is_neither_shown_nor_logged(
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    leaked = "shpss-pasted-in-the-wrong-key-0123456789"
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("BRIDGE_CONFIG_TOML", CONFIG + f'default_country = "{leaked}"\n')
    with caplog.at_level("ERROR"):
        app = create_app_from_env()
    async with serve(app) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert "stores.main-shop.default_country" in ready.json()["reason"]
    assert leaked not in ready.text
    assert caplog.records and all(leaked not in r.getMessage() for r in caplog.records)


async def test_stores_sharing_a_secret_are_warned_about_at_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    other = CONFIG.replace("[stores.main-shop]", "[stores.other-shop]").replace("= 7", "= 8")
    monkeypatch.setenv("BRIDGE_CONFIG_TOML", CONFIG + other)
    with caplog.at_level("WARNING", logger="bridge.app"):
        create_app_from_env()
    [record] = [r for r in caplog.records if "share a webhook secret" in r.getMessage()]
    assert "main-shop, other-shop" in record.getMessage()
    assert SECRET.decode() not in caplog.text


async def test_missing_config_file_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("BRIDGE_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("BRIDGE_CONFIG_TOML", raising=False)
    async with serve(create_app_from_env()) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert "BRIDGE_CONFIG" in ready.json()["reason"]


async def test_inline_config_from_env_is_ready(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, redis_client: redis.Redis
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("BRIDGE_CONFIG_TOML", CONFIG)
    async with serve(create_app_from_env()) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 200


# middleware in place


async def test_declared_body_over_the_limit_is_413(closed_url: str, config: BridgeConfig) -> None:
    body = b"x" * (defaults.MAX_BODY_BYTES + 1)
    async with serve(create_app(settings(closed_url), config)) as client:
        response = await client.post(
            "/webhooks/shopify/main-shop", content=body, headers=signed(body)
        )
    assert response.status_code == 413
    assert response.json() == {"error": "body too large", "limit": defaults.MAX_BODY_BYTES}


async def test_chunked_body_over_the_limit_is_413(closed_url: str, config: BridgeConfig) -> None:
    chunk = b"x" * (1024 * 1024)

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(defaults.MAX_BODY_BYTES // len(chunk) + 1):
            yield chunk

    async with serve(create_app(settings(closed_url), config)) as client:
        response = await client.post(
            "/webhooks/shopify/main-shop", content=stream(), headers=signed(b"")
        )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_responses_carry_a_request_id(closed_url: str, config: BridgeConfig) -> None:
    async with serve(create_app(settings(closed_url), config)) as client:
        response = await client.get("/healthz", headers={"X-Request-Id": "req-42"})
    assert response.headers["x-request-id"] == "req-42"


# webhooks into a real Redis


async def test_signed_order_is_stored_then_duplicate(
    redis_url: str, redis_client: redis.Redis, config: BridgeConfig
) -> None:
    async with serve(create_app(settings(redis_url), config)) as client:
        first = await client.post(
            "/webhooks/shopify/main-shop", content=ORDER, headers=signed(ORDER)
        )
        again = await client.post(
            "/webhooks/shopify/main-shop", content=ORDER, headers=signed(ORDER)
        )
    assert (first.status_code, first.json()) == (200, {"status": "accepted"})
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert redis_client.exists(record_key(7, "orders", "820982911946154508"))


async def test_wrong_signature_stores_nothing(
    redis_url: str, redis_client: redis.Redis, config: BridgeConfig
) -> None:
    headers = signed(ORDER)
    headers["X-Shopify-Hmac-Sha256"] = ShopifyVerifier.sign(ORDER, b"not-our-secret")
    async with serve(create_app(settings(redis_url), config)) as client:
        response = await client.post("/webhooks/shopify/main-shop", content=ORDER, headers=headers)
    assert response.status_code == 401
    counters = (b"kb:metrics:", b"kb:hour:")
    stored = [key for key in redis_client.scan_iter() if not key.startswith(counters)]
    assert stored == []  # only the counters of the refused delivery


async def test_a_webhook_endpoint_answers_only_post(
    redis_url: str, redis_client: redis.Redis, config: BridgeConfig
) -> None:
    """The endpoints are plain ASGI apps: the route still refuses other methods, with its id."""
    async with serve(create_app(settings(redis_url), config)) as client:
        for method in ("GET", "PUT", "DELETE"):
            response = await client.request(
                method, "/webhooks/shopify/main-shop", content=ORDER, headers=signed(ORDER)
            )
            assert response.status_code == 405, method
            assert response.headers["allow"] == "POST"
            assert response.headers["x-request-id"]
    assert not redis_client.exists(record_key(7, "orders", "820982911946154508"))


async def test_redis_down_is_503_never_200(closed_url: str, config: BridgeConfig) -> None:
    async with serve(create_app(settings(closed_url), config)) as client:
        response = await client.post(
            "/webhooks/shopify/main-shop", content=ORDER, headers=signed(ORDER)
        )
    assert response.status_code == 503
    assert response.json() == {"error": "storage unavailable, retry later"}


async def test_the_configured_settle_delay_schedules_the_first_push(
    redis_url: str, redis_client: redis.Redis
) -> None:
    config = parse_config("[delivery]\nsettle_seconds = 40\n" + CONFIG, {})
    async with serve(create_app(settings(redis_url), config)) as client:
        before = time.time()
        answer = await client.post(
            "/webhooks/shopify/main-shop", content=ORDER, headers=signed(ORDER)
        )
    assert answer.json() == {"status": "accepted"}
    [(_, due)] = redis_client.zrange(jobs.SCHEDULED_KEY, 0, -1, withscores=True)
    assert before + 40 <= due <= time.time() + 40


def checkout_headers(body: bytes, topic: str, webhook_id: str) -> dict[str, str]:
    return {**signed(body, webhook_id), "X-Shopify-Topic": topic}


# Fresh dates: the bridge refuses Shopify bodies last updated more than 48 hours ago.
STARTED = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
CHECKOUT = {
    "token": "tok-app-1",
    "updated_at": STARTED.isoformat(),
    "total_price": "10.00",
    "currency": "EUR",
    "buyer_accepts_marketing": True,
    "phone": "+33612345678",
    "line_items": [],
}


async def test_a_checkout_completed_before_it_was_seen_is_noted_then_finished(
    redis_url: str, redis_client: redis.Redis, config: BridgeConfig
) -> None:
    """`noted`: the completion of a checkout never seen is kept (accepted); `finished`: the
    checkout arriving after it is refused, so no reminder follows a purchase."""
    completion = (STARTED + timedelta(minutes=5)).isoformat()
    completed = json.dumps({**CHECKOUT, "completed_at": completion}).encode()
    created = json.dumps(CHECKOUT).encode()
    async with serve(create_app(settings(redis_url), config)) as client:
        first = await client.post(
            "/webhooks/shopify/main-shop",
            content=completed,
            headers=checkout_headers(completed, "checkouts/update", "d-completed"),
        )
        second = await client.post(
            "/webhooks/shopify/main-shop",
            content=created,
            headers=checkout_headers(created, "checkouts/create", "d-created"),
        )
    assert (first.status_code, first.json()) == (200, {"status": "accepted"})
    assert (second.status_code, second.json()) == (200, {"status": "ignored", "reason": "finished"})
    record = redis_client.hgetall(record_key(7, "checkouts", "tok-app-1"))
    assert b"body" not in record  # the checkout itself was never stored for sending
    assert redis_client.zcard(jobs.SCHEDULED_KEY) == 0


async def test_an_order_without_a_phone_that_completes_a_checkout_says_no_phone(
    redis_url: str, redis_client: redis.Redis, config: BridgeConfig
) -> None:
    order = json.loads(ORDER)
    for place in ("customer", "shipping_address", "billing_address"):
        if isinstance(order.get(place), dict):
            order[place]["phone"] = None
            if isinstance(order[place].get("default_address"), dict):
                order[place]["default_address"]["phone"] = None
    order["phone"] = None
    order["checkout_token"] = "tok-app-2"
    body = json.dumps(order).encode()
    async with serve(create_app(settings(redis_url), config)) as client:
        answer = await client.post(
            "/webhooks/shopify/main-shop", content=body, headers=signed(body, "d-order")
        )
    assert (answer.status_code, answer.json()) == (200, {"status": "ignored", "reason": "no_phone"})
    assert redis_client.exists(record_key(7, "checkouts", "tok-app-2"))  # noted
    assert redis_client.zcard(jobs.SCHEDULED_KEY) == 0
