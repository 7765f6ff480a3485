"""GET /metrics through the app: Prometheus text that prometheus-client parses, counters that
move with webhook traffic and pushes, gauges read from Redis."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from bridge import metrics
from bridge.app import create_app
from bridge.config import Settings
from bridge.intake.signatures import ShopifyVerifier
from tests.pushes import config, drain, failed_push, install
from tests.support import fresh_shopify_order

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures"
ORDER = fresh_shopify_order(
    (FIXTURES / "shopify" / "docs-sample-orders-create-customer-phone-on-addresses-only.json")
    .read_bytes()
    .replace(b"555-555-SHIP", b"+33 6 12 34 56 78"),
    shop="shop.myshopify.com",
)
SECRET = b"a-webhook-secret"


@asynccontextmanager
async def bridge(redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings.from_env({"REDIS_URL": redis_url}), config())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://bridge") as client:
            yield client


def webhook(topic: str = "orders/create", secret: bytes = SECRET) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": ShopifyVerifier.sign(ORDER, secret),
        "X-Shopify-Webhook-Id": f"{topic}-{secret.decode()}",
    }


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: list[Sample] = [
        sample
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]
    return {(s.name, frozenset(s.labels.items())): s.value for s in samples}


def value(
    scraped: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(autouse=True)
def empty_buffer(redis_client: redis.Redis) -> None:
    metrics.BUFFER.take()  # counts left by other tests of this process


async def test_webhook_counters_move_with_traffic(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async with bridge(redis_url) as client:
        before = await scrape(client)
        post = "/webhooks/shopify/shop"
        await client.post(post, content=ORDER, headers=webhook())
        await client.post(post, content=ORDER, headers=webhook())  # same delivery id
        await client.post(post, content=ORDER, headers=webhook(secret=b"wrong"))
        await client.post(post, content=ORDER, headers=webhook("carts/create"))
        await client.post("/webhooks/shopify/nowhere", content=ORDER, headers=webhook())
        after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    shop = {"platform": "shopify", "store": "shop"}
    total = "kanal_bridge_webhooks_total"
    assert moved(total, **shop, topic="orders/create", answer="accepted") == 1
    assert moved(total, **shop, topic="orders/create", answer="duplicate") == 1
    assert moved(total, **shop, topic="none", answer="invalid_signature") == 1
    assert moved(total, **shop, topic="other", answer="ignored") == 1
    assert (
        moved(total, platform="shopify", store="unknown", topic="none", answer="unknown_store") == 1
    )
    assert moved("kanal_bridge_webhook_signature_failures_total", **shop, reason="mismatch") == 1
    assert moved("kanal_bridge_webhooks_ignored_total", **shop, reason="unsupported_topic") == 1
    assert moved("kanal_bridge_webhook_seconds_count", platform="shopify") == 5
    assert value(after, "kanal_bridge_pending_records") == 1
    assert value(after, "kanal_bridge_jobs", state="scheduled") == 1
    assert value(after, "kanal_bridge_kanal_requests_per_minute", kanal_store="7") == 60000


@pytest.fixture
def failed_job(redis_url: str, redis_client: redis.Redis) -> str:
    return failed_push(redis_url, redis_client, "1001")


async def test_push_counters_and_gauges_move_with_pushes(
    redis_url: str, redis_client: redis.Redis, failed_job: str
) -> None:
    async with bridge(redis_url) as client:
        await client.post("/webhooks/shopify/shop", content=ORDER, headers=webhook())
        before = await scrape(client)
        kanal = install(redis_client)
        drain(redis_client)
        after = await scrape(client)
    assert len(kanal.requests) == 1
    calls = "kanal_bridge_kanal_calls_total"
    labels = {"store": "shop", "resource": "orders", "method": "POST"}
    assert value(before, calls, **labels, status="422") == 1
    assert value(after, calls, **labels, status="200") == 1
    assert value(after, "kanal_bridge_push_outcomes_total", store="shop", outcome="delivered") == 1
    assert value(after, "kanal_bridge_push_outcomes_total", store="shop", outcome="failed") == 1
    seconds = "kanal_bridge_kanal_call_seconds"
    assert value(after, f"{seconds}_count", resource="orders", method="POST") == 2
    assert value(after, f"{seconds}_bucket", resource="orders", method="POST", le="+Inf") == 2
    assert value(before, "kanal_bridge_pending_records") == 1
    assert value(after, "kanal_bridge_pending_records") == 0
    assert value(after, "kanal_bridge_jobs", state="failed") == 1
    assert value(after, "kanal_bridge_kanal_budget_ahead_seconds", kanal_store="7") >= 0


async def test_a_held_kanal_store_shows_with_its_reason_and_waiting_records(
    redis_url: str, redis_client: redis.Redis
) -> None:
    kanal = install(redis_client)
    kanal.answers.append(httpx.Response(404, json={"error": "Store not found or paused"}))
    async with bridge(redis_url) as client:
        for n in (1, 2, 3):
            body = ORDER.replace(b"820982911946154508", f"82098291194615450{n}".encode())
            headers = {
                **webhook(),
                "X-Shopify-Hmac-Sha256": ShopifyVerifier.sign(body, SECRET),
                "X-Shopify-Webhook-Id": f"held-{n}",
            }
            answer = await client.post("/webhooks/shopify/shop", content=body, headers=headers)
            assert answer.json() == {"status": "accepted"}
        drain(redis_client, rounds=1)
        after = await scrape(client)
    assert value(after, "kanal_bridge_kanal_held", kanal_store="7", reason="store_paused") == 1
    assert value(after, "kanal_bridge_parked_records", kanal_store="7") == 2
    assert value(after, "kanal_bridge_pending_records") == 3
    assert value(after, "kanal_bridge_kanal_holds_total", store="shop", reason="store_paused") == 1
    assert value(after, "kanal_bridge_push_outcomes_total", store="shop", outcome="parked") == 2


async def test_the_bulk_lane_shows_what_waits_and_what_was_fetched(
    redis_url: str, redis_client: redis.Redis
) -> None:
    from bridge.delivery.records import SyncRecordStore, namespaces
    from tests.pushes import order

    fetched = SyncRecordStore(redis_client, namespaces(config()))
    for n in (1, 2):
        fetched.accept_fetched("shop", [order(1, external_id=str(n))], bulk=True)
    fetched.accept_fetched("shop", [order(1, external_id="2")], bulk=True)
    async with bridge(redis_url) as client:
        after = await scrape(client)
    assert value(after, "kanal_bridge_bulk_pending_records", kanal_store="7") == 2
    assert value(after, "kanal_bridge_pending_records") == 0
    fetched_total = "kanal_bridge_fetched_records_total"
    labels = {"store": "shop", "resource": "orders", "lane": "bulk"}
    assert value(after, fetched_total, **labels, outcome="scheduled") == 2
    assert value(after, fetched_total, **labels, outcome="duplicate") == 1


async def test_metrics_answer_503_when_redis_is_down(redis_url: str) -> None:
    app = create_app(Settings.from_env({"REDIS_URL": "redis://127.0.0.1:1/0"}), config())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://bridge") as client:
            response = await client.get("/metrics")
    assert response.status_code == 503


# With METRICS_TOKEN set, a scrape must present it (or the dashboard's credentials).

TOKEN = "metrics-token-0123456789abcdef"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        (f"Bearer {TOKEN}", 200),
        (f"bearer {TOKEN}", 200),
        (basic("prometheus", TOKEN), 200),  # Prometheus' basic_auth with the token
        (basic("ops", "dash-password"), 200),  # the dashboard's credentials
        ("Bearer wrong-token", 401),
        (basic("ops", TOKEN[:-1]), 401),
        (basic("admin", "dash-password"), 401),
        ("Basic !!!", 401),
        (f"Token {TOKEN}", 401),
    ],
)
async def test_a_metrics_token_protects_the_scrape(
    redis_url: str, redis_client: redis.Redis, authorization: str | None, status: int
) -> None:
    env = {
        "REDIS_URL": redis_url,
        "METRICS_TOKEN": TOKEN,
        "DASHBOARD_USER": "ops",
        "DASHBOARD_PASSWORD": "dash-password",
    }
    app = create_app(Settings.from_env(env), config())
    headers = {"Authorization": authorization} if authorization else {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://bridge") as client:
            response = await client.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert "kanal_bridge" not in response.text
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_without_a_token_the_scrape_is_open(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async with bridge(redis_url) as client:
        assert (await client.get("/metrics")).status_code == 200
