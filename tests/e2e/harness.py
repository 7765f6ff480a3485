"""Runs the real processes: the Kanal emulator, and the bridge's web and worker per the Procfile."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis

from bridge.ops.localredis import pick_free_port

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
BIN = Path(sys.executable).parent

# Versions of the orders the tests send are seconds after this moment: an hour ago, since
# the bridge refuses Shopify deliveries older than its replay window (README, Security).
BASE_EPOCH = int(time.time()) - 3600
SHOPIFY_DOMAIN = "shopify-shop.myshopify.com"

KANAL_KEY = "e2eKanalKey0123456789abc"
SHOPIFY_SECRET = "e2e-shopify-secret"
WOO_SECRET = "e2eWooSecretAlphaNumeric42"

CONFIG = """
[kanal]
api_url = "http://127.0.0.1:{emulator_port}"
requests_per_minute = 600
timeout_seconds = {kanal_timeout}

[delivery]
settle_seconds = {settle}

[stores.shopify-shop]
platform = "shopify"
kanal_store_id = 7
kanal_api_key = "${{KANAL_KEY}}"
webhook_secrets = ["${{SHOPIFY_SECRET}}", "an-old-secret"]
default_country = "US"
shop_domain = "shopify-shop.myshopify.com"

[stores.woo-shop]
platform = "woocommerce"
kanal_store_id = 8
kanal_api_key = "${{KANAL_KEY}}"
webhook_secrets = ["${{WOO_SECRET}}"]
default_country = "US"

[stores.flash-shop]
platform = "shopify"
kanal_store_id = 9
kanal_api_key = "${{KANAL_KEY}}"
webhook_secrets = ["${{SHOPIFY_SECRET}}"]
default_country = "US"
requests_per_minute = 300

[stores.checkout-shop]
platform = "shopify"
kanal_store_id = 10
kanal_api_key = "${{KANAL_KEY}}"
webhook_secrets = ["${{SHOPIFY_SECRET}}"]
default_country = "US"
abandoned_after_minutes = 0
checkouts_require_consent = false

[stores.delayed-checkout-shop]
platform = "shopify"
kanal_store_id = 11
kanal_api_key = "${{KANAL_KEY}}"
webhook_secrets = ["${{SHOPIFY_SECRET}}"]
default_country = "US"
abandoned_after_minutes = 0.1
checkouts_require_consent = false

[stores.prefixed-shopify]
platform = "shopify"
kanal_store_id = 12
kanal_api_key = "${{KANAL_KEY}}"
webhook_secrets = ["${{SHOPIFY_SECRET}}"]
default_country = "US"
external_id_prefix = "sh-"

[stores.prefixed-woo]
platform = "woocommerce"
kanal_store_id = 12
kanal_api_key = "${{KANAL_KEY}}"
webhook_secrets = ["${{WOO_SECRET}}"]
default_country = "US"
external_id_prefix = "wc-"

[stores.held-shop]
platform = "woocommerce"
kanal_store_id = 13
kanal_api_key = "${{KANAL_KEY}}"
webhook_secrets = ["${{WOO_SECRET}}"]
default_country = "US"
"""


def procfile() -> dict[str, str]:
    """The process types of the project's Procfile."""
    kinds = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if ":" in line and not line.startswith("#"):
            name, command = line.split(":", 1)
            kinds[name.strip()] = command.strip()
    return kinds


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """Poll until `predicate()` is truthy; its value, or AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def wait_for_http(url: str, timeout: float = 20.0) -> None:
    def answers() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    wait_until(answers, timeout, 0.1)


def started(url: str, processes: list[Process]) -> None:
    """Wait until `url` answers; else stop the processes and fail with the end of their logs."""
    try:
        wait_for_http(url)
    except AssertionError:
        tails = []
        for process in processes:
            process.stop()
            text = process.log_path.read_text(errors="replace").splitlines()[-15:]
            tails.append(f"--- {process.name} ---\n" + "\n".join(text))
        raise AssertionError(f"{url} did not answer; logs:\n" + "\n".join(tails)) from None


class Process:
    """One child process in its own session, its output captured to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            argv,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=ROOT,
        )

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(5)
        self._log.close()
        return self.popen.returncode


class Emulator:
    """The Kanal emulator as a separate process, and its control API."""

    def __init__(self, logs: Path, rates: dict[int, int]) -> None:
        self.port = pick_free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        stores = [f"--store={sid}:{KANAL_KEY}:{rpm}" for sid, rpm in rates.items()]
        self.process = Process(
            "emulator",
            [sys.executable, "-m", "bridge.emulators.kanal", f"--port={self.port}", *stores],
            dict(os.environ),
            logs,
        )
        started(f"{self.url}/_emulator/stats", [self.process])
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def reset(self) -> None:
        self.http.post("/_emulator/reset").raise_for_status()
        self.http.delete("/_emulator/faults").raise_for_status()

    def requests(self, store_id: int | None = None) -> list[dict[str, Any]]:
        params = {"store_id": store_id} if store_id is not None else {}
        return list(self.http.get("/_emulator/requests", params=params).json()["requests"])

    def records(self, store_id: int, resource: str = "orders") -> dict[str, Any]:
        held = self.http.get("/_emulator/records", params={"store_id": store_id}).json()["stores"]
        return dict(held.get(str(store_id), {}).get(resource, {}))

    def fault(self, **fault: Any) -> None:
        self.http.post("/_emulator/faults", json=fault).raise_for_status()

    def set_keys(self, store_id: int, keys: list[str] | None) -> None:
        """Give a store other API keys (None: back to the bridge's own key)."""
        body = {"id": store_id, "keys": [KANAL_KEY] if keys is None else keys}
        self.http.post("/_emulator/stores", json=body).raise_for_status()

    def pause(self, store_ids: list[int]) -> None:
        """Pause these stores in Kanal (404 to every call), and only these."""
        self.http.post("/_emulator/faults", json={"paused": store_ids}).raise_for_status()

    def set_rate(self, store_id: int, requests_per_minute: int) -> None:
        self.http.post(
            "/_emulator/stores",
            json={"id": store_id, "keys": [KANAL_KEY], "requests_per_minute": requests_per_minute},
        ).raise_for_status()

    def stop(self) -> None:
        self.http.close()
        self.process.stop()


class Bridge:
    """The bridge's web and worker processes, started with the Procfile's commands."""

    def __init__(
        self,
        logs: Path,
        emulator: Emulator,
        redis_url: str,
        settle: float = 1.0,
        kanal_timeout: float = 15.0,
        *,
        extra_config: str = "",
        env: dict[str, str] | None = None,
    ) -> None:
        self.logs = logs
        self.redis_url = redis_url
        self.redis = redis.Redis.from_url(redis_url)
        self.redis.flushdb()
        self.port = pick_free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = logs / "bridge.toml"
        config.write_text(
            CONFIG.format(emulator_port=emulator.port, settle=settle, kanal_timeout=kanal_timeout)
            + extra_config
        )
        self.env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PORT": str(self.port),
            "REDIS_URL": redis_url,
            "BRIDGE_CONFIG": str(config),
            "KANAL_API_URL": emulator.url,
            "KANAL_KEY": KANAL_KEY,
            "SHOPIFY_SECRET": SHOPIFY_SECRET,
            "WOO_SECRET": WOO_SECRET,
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
            "DASHBOARD_PASSWORD": "e2e-dashboard-password",
            **(env or {}),
        }
        self.commands = procfile()
        self.web = self.start("web")
        self.workers = [self.start("worker")]
        started(f"{self.url}/healthz", [self.web, *self.workers])
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def start(self, kind: str, name: str | None = None) -> Process:
        return Process(name or kind, shlex.split(self.commands[kind]), self.env, self.logs)

    def stop_workers(self) -> None:
        """Stop every worker gracefully, once it runs: a worker stopped while it starts can
        die holding the scheduler lock, which then keeps every other scheduler out for 61 s."""
        if self.workers:
            wait_until(self._scheduler_running, 30)
        for worker in self.workers:
            assert worker.stop() == 0, f"{worker.name} did not stop cleanly"
        self.workers = []
        assert not self._scheduler_running(), "the stopped worker kept the scheduler lock"

    def _scheduler_running(self) -> bool:
        lock = self.redis.exists("rq:scheduler-lock:kanal")
        born = any(b"lock" not in key for key in self.redis.scan_iter("rq:scheduler:*"))
        return bool(lock and born)

    def stop_processes(self) -> None:
        """Stop web and workers (SIGTERM, as a deploy or an outage does)."""
        for process in [*self.workers, self.web]:
            process.stop()

    def start_processes(self, **env: str) -> None:
        """Start web and one worker again, with `env` added to their environment."""
        self.env.update(env)
        self.web = self.start("web")
        self.workers = [self.start("worker")]
        started(f"{self.url}/healthz", [self.web, *self.workers])

    def add_worker(self) -> Process:
        worker = self.start("worker", f"worker{len(self.workers) + 1}")
        self.workers.append(worker)
        return worker

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.http.post(path, content=body, headers=headers)

    def shopify(
        self,
        order: dict[str, Any],
        topic: str = "orders/updated",
        store: str = "shopify-shop",
        secret: str = SHOPIFY_SECRET,
        webhook_id: str | None = None,
        domain: str = SHOPIFY_DOMAIN,
    ) -> httpx.Response:
        body = shopify_bytes(order)
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign(body, secret),
            "X-Shopify-Shop-Domain": domain,
            "X-Shopify-API-Version": "2026-04",
            "X-Shopify-Webhook-Id": webhook_id or os.urandom(8).hex(),
        }
        return self.post(f"/webhooks/shopify/{store}", body, headers)

    def woocommerce(
        self,
        order: dict[str, Any],
        topic: str = "order.updated",
        store: str = "woo-shop",
        secret: str = WOO_SECRET,
    ) -> httpx.Response:
        body = json.dumps(order, separators=(",", ":")).replace("/", "\\/").encode()
        headers = {
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": topic.split(".")[0],
            "X-WC-Webhook-Event": topic.split(".")[1],
            "X-WC-Webhook-Signature": sign(body, secret),
            "X-WC-Webhook-Source": "https://woo.example.com/",
            "X-WC-Webhook-ID": "12",
        }
        return self.post(f"/webhooks/woocommerce/{store}", body, headers)

    def cli(self, *args: str) -> str:
        """Run `kanal-bridge ARGS` against this bridge; its output."""
        return subprocess.run(
            [str(BIN / "kanal-bridge"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout

    def drained(self) -> bool:
        """No record waits for a push."""
        return int(self.redis.zcard("kb:pending")) == 0

    def record_status(self, external_id: str, resource: str = "orders") -> str | None:
        """The status of a record (pending, delivered, failed), None when none is stored."""
        keys = list(self.redis.scan_iter(f"kb:rec:*:{resource}:{external_id}"))
        assert len(keys) <= 1, keys
        status = self.redis.hget(keys[0], "status") if keys else None
        return status.decode() if status is not None else None

    def stop(self) -> None:
        self.http.close()
        for process in [*self.workers, self.web]:
            process.stop()
        self.redis.close()

    def output(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs.glob("*.log"))


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_bytes(order: dict[str, Any]) -> bytes:
    """Compact JSON with Shopify's escapes (`\\/`), as Shopify sends it."""
    return json.dumps(order, separators=(",", ":")).replace("/", "\\/").encode()


def fixture(name: str) -> Any:
    data = json.loads((FIXTURES / name).read_text())
    for wrapper in ("order", "data", "response"):
        if isinstance(data, dict) and set(data) == {wrapper}:
            data = data[wrapper]
    return data


def shopify_order(
    order_id: int,
    version: int,
    financial: str = "paid",
    fulfillment: str | None = None,
    phone: str = "+1 613-555-0135",
) -> dict[str, Any]:
    """Shopify's documented order sample with an id, an updated_at and statuses of ours, its
    order status link on the test shop's domain (as a shop without a custom domain has it)."""
    order = fixture("shopify/docs-sample-orders-create-customer-phone-on-addresses-only.json")
    order = json.loads(json.dumps(order))
    order["order_status_url"] = order["order_status_url"].replace(
        "jsmith.myshopify.com", SHOPIFY_DOMAIN
    )
    order["id"] = order_id
    order["name"] = f"#{order_id}"
    order["test"] = False
    order["cancelled_at"] = None
    order["cancel_reason"] = None
    order["financial_status"] = financial
    order["fulfillment_status"] = fulfillment
    order["updated_at"] = _timestamp(BASE_EPOCH + version)
    order["phone"] = phone
    return order


def woo_order(
    order_id: int, version: int, status: str = "processing", phone: str = "(415) 555-0132"
) -> dict[str, Any]:
    """WooCommerce's documented order sample with an id, a modification date and a status."""
    order = fixture("woocommerce/docs-v3-retrieve-order-guest-processing-usd.json")
    order["id"] = order_id
    order["number"] = str(order_id)
    order["status"] = status
    order["date_modified_gmt"] = _timestamp(BASE_EPOCH + version)[:-1]
    order["billing"]["phone"] = phone
    return order


def _timestamp(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
