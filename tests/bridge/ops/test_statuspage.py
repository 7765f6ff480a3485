"""/status and /status.json: behind the dashboard's basic auth, one row per store with its
state, figures and 24-hour charts, links into rq-dashboard, and no personal data. The HTML is
parsed: no browser needed."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from starlette.applications import Starlette

from bridge import metrics
from bridge.app import create_app
from bridge.config import BridgeConfig, Settings, parse_config
from bridge.delivery import jobs
from bridge.delivery.limiter import pace_key
from bridge.delivery.records import PENDING_KEY
from bridge.intake.signatures import ShopifyVerifier
from bridge.ops import health
from tests.support import fresh_shopify_order

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SECRET = "status-page-secret-77"
KANAL_KEY = "status-page-kanal-key-123456"
PASSWORD = "status-page-password"
CONFIG = f"""
[stores.main-shop]
platform = "shopify"
kanal_store_id = 7
kanal_api_key = "{KANAL_KEY}"
webhook_secrets = ["{SECRET}"]

[stores.eu-shop]
platform = "woocommerce"
kanal_store_id = 8
kanal_api_key = "{KANAL_KEY}"
webhook_secrets = ["{SECRET}"]

[stores.calm-shop]
platform = "shopify"
kanal_store_id = 9
kanal_api_key = "{KANAL_KEY}"
webhook_secrets = ["{SECRET}"]
"""
PHONE = "+33 6 12 34 56 78"
ORDER = fresh_shopify_order(
    (FIXTURES / "shopify" / "docs-sample-orders-create-customer-phone-on-addresses-only.json")
    .read_bytes()
    .replace(b"555-555-SHIP", PHONE.encode()),
    shop="main-shop.myshopify.com",
)


@pytest.fixture
def config() -> BridgeConfig:
    return parse_config(CONFIG, {})


def auth(password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()}


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://bridge") as client:
            yield client


def app_for(redis_url: str, config: BridgeConfig | None, password: str | None = PASSWORD) -> Any:
    env = {"REDIS_URL": redis_url}
    if password:
        env["DASHBOARD_PASSWORD"] = password
    return create_app(Settings.from_env(env), config, config_error=None if config else "bad")


class Page(HTMLParser):
    """The parts of the page the tests look at: rows, their cells' text, links and charts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, Any]] = {}
        self.links: list[str] = []
        self.text: list[str] = []
        self._row: dict[str, Any] | None = None
        self._chart: dict[str, Any] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "tr" and (attributes.get("id") or "").startswith("store-"):
            self._row = {"class": attributes["class"], "charts": {}, "text": [], "links": []}
            self.rows[str(attributes["id"]).removeprefix("store-")] = self._row
        elif tag == "a":
            self.links.append(attributes.get("href") or "")
            if self._row is not None:
                self._row["links"].append(attributes.get("href") or "")
        elif tag == "svg" and self._row is not None:
            name = (attributes.get("class") or "").split()[-1]
            self._chart = self._row["charts"][name] = {"bars": 0}
        elif tag == "rect" and self._chart is not None:
            self._chart["bars"] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None
        elif tag == "svg":
            self._chart = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._row is not None:
            self._row["text"].append(data)

    def row_text(self, store: str) -> str:
        return " ".join(" ".join(self.rows[store]["text"]).split())


async def test_status_is_404_without_a_dashboard_password(
    redis_url: str, config: BridgeConfig
) -> None:
    async with serve(app_for(redis_url, config, password=None)) as client:
        assert (await client.get("/status")).status_code == 404
        assert (await client.get("/status.json")).status_code == 404


async def test_status_needs_the_dashboard_credentials(redis_url: str, config: BridgeConfig) -> None:
    async with serve(app_for(redis_url, config)) as client:
        for path in ("/status", "/status.json"):
            refused = await client.get(path)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("Basic")
            assert (await client.get(path, headers=auth("wrong"))).status_code == 401
            assert (await client.get(path, headers=auth())).status_code == 200


async def test_one_row_per_store_with_its_state_figures_and_charts(
    redis_client: redis.Redis, redis_url: str, config: BridgeConfig
) -> None:
    redis_client.hset(pace_key(8), mapping={"held_reason": "store_paused", "held_since": 1})
    job_id = "f" * 32
    redis_client.hset(jobs.job_key(job_id), "description", "push 7:orders:1001")
    redis_client.zadd(health.FAILED_KEY, {job_id: 4e9})
    async with serve(app_for(redis_url, config)) as client:
        headers = {**signed(ORDER), **auth()}
        assert await client.post("/webhooks/shopify/main-shop", content=ORDER, headers=headers)
        response = await client.get("/status", headers=auth())
    assert response.headers["content-type"].startswith("text/html")
    page = Page(response.text)
    assert list(page.rows) == ["eu-shop", "main-shop", "calm-shop"]  # worst first
    assert [row["class"] for row in page.rows.values()] == ["paused", "degraded", "ok"]
    assert "paused or unknown in Kanal" in page.row_text("eu-shop")
    main = page.row_text("main-shop")
    assert "last " in main and "ago" in main  # the webhook just received
    assert "1 failed record(s)" in main
    assert f"rq/0/view/job/{job_id}" in page.rows["main-shop"]["links"]
    assert any(link.startswith("rq/0/view/jobs/kanal/failed/") for link in page.links)
    assert "not available" in page.row_text("calm-shop")  # no API credentials
    for row in page.rows.values():
        assert set(row["charts"]) == {"webhooks", "pushes", "failures"}
    assert page.rows["main-shop"]["charts"]["webhooks"]["bars"] == 1  # this hour's one webhook
    assert page.rows["calm-shop"]["charts"]["webhooks"]["bars"] == 0


async def test_the_page_has_no_script_no_external_asset_and_no_personal_data(
    redis_client: redis.Redis, redis_url: str, config: BridgeConfig
) -> None:
    redis_client.zadd(PENDING_KEY, {"kb:rec:7:orders:450789469": 1.0})
    async with serve(app_for(redis_url, config)) as client:
        headers = {**signed(ORDER), **auth()}
        await client.post("/webhooks/shopify/main-shop", content=ORDER, headers=headers)
        page = (await client.get("/status", headers=auth())).text
        data = (await client.get("/status.json", headers=auth())).text
    assert "<script" not in page and " src=" not in page and "url(" not in page
    assert "http://" not in page and "https://" not in page  # every link is relative
    private = (PHONE, "+33612345678", "john@example.com", "jon@example.com", "Steve")
    for text in (page, data):
        for value in (*private, "450789469", KANAL_KEY, SECRET):
            assert value not in text


async def test_the_json_twin_has_the_same_states_and_figures(
    redis_client: redis.Redis, redis_url: str, config: BridgeConfig
) -> None:
    redis_client.hset(pace_key(8), "held_reason", "key_rejected")
    redis_client.hset(
        metrics.store_key("main-shop"),
        mapping={"subscriptions": json.dumps({"orders/create": "missing"}), "watchdog_at": 5},
    )
    async with serve(app_for(redis_url, config)) as client:
        response = await client.get("/status.json", headers=auth())
    body = response.json()
    stores = {store["store"]: store for store in body["stores"]}
    assert body["states"] == {"failing": 1, "paused": 1, "degraded": 0, "ok": 1}
    assert stores["main-shop"]["state"] == "failing"
    assert stores["main-shop"]["subscriptions"] == {"orders/create": "missing"}
    assert stores["eu-shop"]["held_reason"] == "key_rejected"
    assert stores["calm-shop"]["reconcile_at"] is None  # not available
    assert len(stores["calm-shop"]["hourly"]["webhooks"]) == 24
    assert body["deployment"]["redis"]["maxclients"] > 0


async def test_status_answers_503_without_a_usable_configuration(redis_url: str) -> None:
    async with serve(app_for(redis_url, None)) as client:
        response = await client.get("/status", headers=auth())
    assert response.status_code == 503
    assert "configuration" in response.text


def signed(body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": ShopifyVerifier.sign(body, SECRET.encode()),
        "X-Shopify-Shop-Domain": "main-shop.myshopify.com",
        "X-Shopify-Webhook-Id": "0c9e2b8f-5a47-4d0e-8e1f-4a2b3c4d5e6f",
    }


async def test_a_running_backfill_is_shown_with_its_store(
    redis_client: redis.Redis, redis_url: str, config: BridgeConfig
) -> None:
    redis_client.hset(
        "kb:backfill:main-shop",
        mapping={"state": "running", "started_at": time.time(), "total:orders": 8, "rate": 60},
    )
    redis_client.hset("kb:backfill:main-shop", mapping={"fetched:orders": 4, "queued:orders": 2})
    async with serve(app_for(redis_url, config)) as client:
        page = Page((await client.get("/status", headers=auth())).text)
    assert "backfill running: 4 of 8 read, 2 queued, ~2 delivered, about" in page.row_text(
        "main-shop"
    )
