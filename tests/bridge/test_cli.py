"""The kanal-bridge command: check-config, send-sample, demo mode and the run Procfile."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import phonenumbers
import pytest
import redis

from bridge import cli
from bridge.errors import SignatureError
from bridge.intake.signatures import ShopifyVerifier, WooCommerceVerifier
from bridge.ops import demo, localredis

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
[kanal]
api_url = "http://kanal.test"

[stores.main-shop]
platform = "shopify"
kanal_store_id = 7
kanal_api_key = "${KANAL_KEY}"
webhook_secrets = ["${SHOPIFY_SECRET}", "old-shopify-secret-123"]
default_country = "fr"
shop_domain = "main-shop.myshopify.com"
requests_per_minute = 120

[stores.woo-shop]
platform = "woocommerce"
kanal_store_id = 8
kanal_api_key = "woo-kanal-key-987654321"
webhook_secrets = ["woo-secret-abcdef"]
"""
ENV = {
    "KANAL_KEY": "main-kanal-key-123456789",
    "SHOPIFY_SECRET": "shopify-secret-live-42",
    "REDIS_URL": "rediss://:redis-password-xyz@redis.test:6380/0",
}
SECRET_VALUES = [
    "main-kanal-key-123456789",
    "shopify-secret-live-42",
    "old-shopify-secret-123",
    "woo-kanal-key-987654321",
    "woo-secret-abcdef",
    "redis-password-xyz",
]


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "bridge.toml"
    path.write_text(CONFIG, encoding="utf-8")
    monkeypatch.delenv("BRIDGE_CONFIG_TOML", raising=False)
    monkeypatch.delenv("KANAL_API_URL", raising=False)
    monkeypatch.setenv("BRIDGE_CONFIG", str(path))
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return path


def test_check_config_prints_a_summary_without_secrets(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "main-shop: platform=shopify kanal_store_id=7 secrets=2 default_country=FR" in out
    assert "rpm=120" in out
    assert "woo-shop: platform=woocommerce kanal_store_id=8 secrets=1" in out
    assert "http://kanal.test" in out
    assert "rediss://:***@redis.test:6380/0" in out
    for secret in SECRET_VALUES:
        assert secret not in out


def test_check_config_warns_when_stores_share_a_secret(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configured.write_text(
        CONFIG.replace(
            'webhook_secrets = ["woo-secret-abcdef"]', 'webhook_secrets = ["${SHOPIFY_SECRET}"]'
        ),
        encoding="utf-8",
    )
    assert cli.main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "warning: stores main-shop, woo-shop share a webhook secret" in out
    assert "shopify-secret-live-42" not in out


def test_check_config_says_which_stores_have_api_access_and_what_connect_needs(
    configured: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    assert cli.main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "api=none" in out and "platform API access: none" in out

    api = (
        CONFIG.replace(
            "requests_per_minute = 120",
            'requests_per_minute = 120\nclient_id = "app-id"\n'
            'client_secret = "app-client-secret-1"',
        )
        + 'site_url = "https://eu.example"\nconsumer_key = "ck_1"\nconsumer_secret = "cs_2"\n'
    )
    configured.write_text(api, encoding="utf-8")
    assert cli.main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "main-shop: platform=shopify" in out
    assert "api=admin-api(client-credentials, https://main-shop.myshopify.com, 2026-04)" in out
    assert "api=rest-key(https://eu.example)" in out
    assert "public_url: not set" in out
    assert "reconciliation: every 15 min (main-shop, woo-shop)" in out
    assert "warning: PUBLIC_URL (or [bridge] public_url) is not set" in out
    assert "warning: stores.main-shop: client_secret is not among webhook_secrets" in out
    assert "app-client-secret-1" not in out and "cs_2" not in out

    monkeypatch.setenv("PUBLIC_URL", "https://bridge.example.com")
    assert cli.main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "public_url: https://bridge.example.com" in out and "watchdog: every 10 min" in out
    monkeypatch.setenv("PUBLIC_URL", "http://bridge.example.com")
    assert cli.main(["check-config"]) == 1
    assert "PUBLIC_URL: must use https" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda text: text.replace('platform = "shopify"', 'platfrom = "shopify"'), "platfrom"),
        (lambda text: text.replace('"${SHOPIFY_SECRET}", ', '"${MISSING_SECRET}", '), "MISSING"),
        (
            lambda text: text.replace('default_country = "fr"', 'default_country = "XX"'),
            "default_country",
        ),
        (lambda text: text.replace('["woo-secret-abcdef"]', "[]"), "webhook_secrets"),
        (lambda text: text.replace("kanal_store_id = 8", "kanal_store_id = 0"), "kanal_store_id"),
        (lambda text: text.replace("[stores.woo-shop]", "[stores.Woo_Shop]"), "Woo_Shop"),
        (lambda text: text.replace("api_url", "api_url = 1\nbogus"), "kanal"),
    ],
)
def test_each_config_error_exits_1_naming_the_key(
    configured: Path,
    capsys: pytest.CaptureFixture[str],
    change: Any,
    named: str,
) -> None:
    configured.write_text(change(CONFIG), encoding="utf-8")
    assert cli.main(["check-config"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert named in captured.err


def test_check_config_without_a_file_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BRIDGE_CONFIG_TOML", raising=False)
    monkeypatch.setenv("BRIDGE_CONFIG", str(tmp_path / "absent.toml"))
    assert cli.main(["check-config"]) == 1
    assert "BRIDGE_CONFIG" in capsys.readouterr().err


def test_a_bad_environment_setting_exits_1(
    configured: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORT", "eighty")
    assert cli.main(["check-config"]) == 1
    assert "PORT" in capsys.readouterr().err


class _Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, dict(self.headers.items()), body))
        answer = b'{"status":"accepted"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    received: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []
    handler = type("Recorder", (_Recorder,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_send_sample_signs_a_shopify_order_with_the_stores_first_secret(
    configured: Path,
    receiver: tuple[str, list[tuple[str, dict[str, str], bytes]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    base, received = receiver
    url = f"{base}/webhooks/shopify/main-shop"
    assert cli.main(["send-sample", "--store", "main-shop", "--url", url, "--id", "42"]) == 0
    assert cli.main(["send-sample", "--store", "main-shop", "--url", url]) == 0
    assert "200" in capsys.readouterr().out
    (path, headers, body), (_, second_headers, second_body) = received
    assert path == "/webhooks/shopify/main-shop"
    ShopifyVerifier([b"shopify-secret-live-42"]).verify(body, headers)
    with pytest.raises(SignatureError):
        ShopifyVerifier([b"old-shopify-secret-123"]).verify(body, headers)
    assert headers["X-Shopify-Topic"] == "orders/create"
    assert headers["X-Shopify-Shop-Domain"] == "main-shop.myshopify.com"
    order = json.loads(body)
    assert order["id"] == 42
    assert order["order_status_url"].startswith("https://main-shop.myshopify.com/")  # its shop
    assert b"gid:\\/\\/shopify\\/Order\\/42" in body  # written the way Shopify writes it
    # A second send is a new order and a new delivery, not a duplicate.
    assert json.loads(second_body)["id"] != 42
    assert second_headers["X-Shopify-Webhook-Id"] != headers["X-Shopify-Webhook-Id"]


def test_send_sample_signs_a_woocommerce_order(
    configured: Path, receiver: tuple[str, list[tuple[str, dict[str, str], bytes]]]
) -> None:
    base, received = receiver
    url = f"{base}/hook"
    args = ["send-sample", "--store", "woo-shop", "--url", url, "--topic", "order.updated"]
    assert cli.main(args) == 0
    [(_, headers, body)] = received
    WooCommerceVerifier([b"woo-secret-abcdef"]).verify(body, headers)
    assert headers["X-WC-Webhook-Topic"] == "order.updated"
    assert headers["X-WC-Webhook-Event"] == "updated"
    order = json.loads(body)
    assert order["number"] == str(order["id"])
    assert order["date_modified_gmt"] > "2026-11-20T09:15:02"
    assert b"\\/" in body and b"/" not in body.replace(b"\\/", b"")


def test_send_sample_with_explicit_secret_needs_no_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    receiver: tuple[str, list[tuple[str, dict[str, str], bytes]]],
) -> None:
    monkeypatch.setenv("BRIDGE_CONFIG", str(tmp_path / "absent.toml"))
    base, received = receiver
    args = ["send-sample", "--url", base, "--platform", "woocommerce", "--secret", "s3cret"]
    assert cli.main(args) == 0
    [(_, headers, body)] = received
    WooCommerceVerifier([b"s3cret"]).verify(body, headers)


def test_send_sample_reports_an_unreachable_bridge(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.ops.localredis import pick_free_port

    url = f"http://127.0.0.1:{pick_free_port()}/webhooks/shopify/main-shop"
    assert cli.main(["send-sample", "--store", "main-shop", "--url", url]) == 1
    assert "could not reach" in capsys.readouterr().err


def test_send_sample_without_config_uses_the_demo_store(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    receiver: tuple[str, list[tuple[str, dict[str, str], bytes]]],
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("BRIDGE_CONFIG", "BRIDGE_CONFIG_TOML"):
        monkeypatch.delenv(name, raising=False)
    base, received = receiver
    assert cli.main(["send-sample", "--store", demo.DEMO_STORE, "--url", base]) == 0
    [(_, headers, body)] = received
    ShopifyVerifier([demo.DEMO_SECRET.encode()]).verify(body, headers)


@pytest.mark.parametrize("platform", ["shopify", "woocommerce"])
def test_bundled_samples_are_compact_objects_with_a_valid_phone(platform: cli.Platform) -> None:
    raw = (ROOT / "bridge" / "samples" / f"{platform}-order.json").read_bytes()
    order = cli.load_sample(platform)
    assert isinstance(order, dict)
    encode = cli.shopify_json if platform == "shopify" else cli.woocommerce_json
    assert encode(order) == raw  # the file is exactly what the platform would send
    assert b"\n" not in raw
    if platform == "shopify":
        phone, region = order["customer"]["phone"], None
    else:
        phone, region = order["billing"]["phone"], order["billing"]["country"]
    assert phonenumbers.is_valid_number(phonenumbers.parse(phone, region))


def test_demo_mode_applies_only_without_any_configuration(tmp_path: Path) -> None:
    assert demo.demo_wanted({}, tmp_path)
    assert not demo.demo_wanted({"BRIDGE_CONFIG": "elsewhere.toml"}, tmp_path)
    assert not demo.demo_wanted({"BRIDGE_CONFIG_TOML": "[stores]"}, tmp_path)
    (tmp_path / "bridge.toml").write_text("", encoding="utf-8")
    assert not demo.demo_wanted({}, tmp_path)


def test_demo_config_is_valid_and_targets_the_emulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("BRIDGE_CONFIG", "BRIDGE_CONFIG_TOML", "KANAL_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    exports = demo.prepare(tmp_path / ".data", ROOT / "Procfile", port=8123)
    assert "export KANAL_BRIDGE_DEMO=1" in exports
    for line in exports.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        monkeypatch.setenv(name, value.strip("'"))
    assert cli.main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "demo-shop: platform=shopify kanal_store_id=1" in out
    assert demo.EMULATOR_URL in out
    # The simulated shop: API access to the Shopify emulator, its webhooks to this web process.
    assert f"api=admin-api(client-credentials, {demo.SHOPIFY_URL}, " in out
    assert "public_url: http://127.0.0.1:8123" in out and "watchdog: every 1 min" in out
    assert "warning" not in out
    text = demo.banner(8123)
    assert "DEMO MODE" in text
    assert f"curl -sS -X POST {demo.SHOPIFY_URL}/_emulator/orders" in text
    assert f"curl -sS {demo.EMULATOR_URL}/_emulator/records" in text
    assert "kanal-bridge webhooks" in text
    procfile = (tmp_path / ".data" / "Procfile.run").read_text()
    assert demo.DEMO_KANAL_KEY in procfile
    assert f"--app {demo.DEMO_CLIENT_ID}:{demo.DEMO_SECRET}" in procfile


def test_cli_verbs_in_demo_mode_point_the_shop_at_the_web_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("BRIDGE_CONFIG", "BRIDGE_CONFIG_TOML"):
        monkeypatch.delenv(name, raising=False)
    env = demo.effective_env({"PORT": "8321"})
    assert 'public_url = "http://127.0.0.1:8321"' in env["BRIDGE_CONFIG_TOML"]
    assert 'public_url = "http://127.0.0.1:8000"' in demo.effective_env({})["BRIDGE_CONFIG_TOML"]


@pytest.fixture
def make_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> Iterator[Path]:
    """A folder where `make run` runs in demo mode: its demo config, and the local Redis it
    started (recorded as `localredis ensure` records it), no Redis on localhost:6379."""
    monkeypatch.chdir(tmp_path)
    for name in ("BRIDGE_CONFIG", "BRIDGE_CONFIG_TOML", "KANAL_API_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    demo.prepare(tmp_path / ".data", ROOT / "Procfile", env={})
    started = tmp_path / ".data" / "redis"
    started.mkdir()
    (started / localredis.PIDFILE).write_text(str(os.getpid()))
    (started / localredis.URLFILE).write_text(redis_url + "\n")
    monkeypatch.setattr(localredis, "redis_answers", lambda url, timeout=1.0: url == redis_url)
    yield tmp_path


def test_the_operators_verbs_use_make_runs_demo_config_and_redis(
    make_run_folder: Path,
    redis_url: str,
    redis_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "mode: DEMO" in out
    assert "demo-shop: platform=shopify kanal_store_id=1" in out
    assert "kanal: http://127.0.0.1:8099" in out
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "no configuration file" not in out
    assert "kanal store 1: 60/min" in out
    assert cli.main(["failed", "list"]) == 0
    assert capsys.readouterr().out == "no failed pushes\n"
    assert demo.operator_env({})["REDIS_URL"] == redis_url  # the server make run started


def test_without_make_runs_demo_files_check_config_still_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deployment with no configuration at all (Heroku's release phase) is not a demo."""
    monkeypatch.chdir(tmp_path)
    for name in ("BRIDGE_CONFIG", "BRIDGE_CONFIG_TOML", "KANAL_API_URL"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["check-config"]) == 1
    assert "no configuration file at bridge.toml" in capsys.readouterr().err


def test_a_configured_folder_is_not_demo_mode(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo.prepare(configured.parent / ".data", ROOT / "Procfile", env={})
    assert cli.main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "DEMO" not in out and "main-shop" in out


@pytest.mark.parametrize(("terminal", "preset", "expected"), [
    (True, None, "console"),
    (False, None, "json"),
    (True, "json", "json"),
])  # fmt: skip
def test_make_run_logs_readable_lines_on_a_terminal_and_json_elsewhere(
    terminal: bool, preset: str | None, expected: str
) -> None:
    """The Makefile's own line, run by sh with stdout a terminal (a pty) or a pipe."""
    [line] = [
        line
        for line in (ROOT / "Makefile").read_text().splitlines()
        if "LOG_FORMAT=console" in line
    ]
    snippet = line.strip().removesuffix("\\").strip().replace("$$", "$")
    script = f'{snippet} echo "format=${{LOG_FORMAT:-json}}" >&2'
    env = {"PATH": os.environ["PATH"], **({"LOG_FORMAT": preset} if preset else {})}
    primary, secondary = pty.openpty() if terminal else os.pipe()
    try:
        done = subprocess.run(
            ["sh", "-c", script], stdout=secondary, stderr=subprocess.PIPE, env=env, timeout=10
        )
    finally:
        os.close(primary)
        os.close(secondary)
    assert done.stderr.decode().strip() == f"format={expected}"


def test_make_run_starts_the_procfiles_own_commands(tmp_path: Path) -> None:
    procfile = (ROOT / "Procfile").read_text(encoding="utf-8").splitlines()
    lines = demo.run_procfile("\n".join(procfile), demo=True).splitlines()
    assert lines[0].startswith("web:")  # honcho gives the first process the base PORT
    assert [line for line in procfile if line.split(":")[0] in ("web", "worker")] == lines[:2]
    assert lines[2:] == [demo.EMULATOR_PROCESS, demo.SHOPIFY_PROCESS]
    assert len(demo.run_procfile("\n".join(procfile), demo=False).splitlines()) == 2


def test_procfile_declares_web_worker_and_release() -> None:
    processes = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert processes["web"].strip() == "kanal-bridge web"
    assert processes["worker"].strip() == "kanal-bridge worker"
    assert processes["release"].strip() == "kanal-bridge check-config"


def test_failed_retry_needs_ids_or_all(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["failed", "retry"]) == 2
    assert cli.main(["failed", "retry", "--all", "abc"]) == 2


def test_redact_url() -> None:
    assert cli.redact_url("redis://localhost:6379/0") == "redis://localhost:6379/0"
    assert cli.redact_url("rediss://h:pw@x.test:1/0") == "rediss://h:***@x.test:1/0"


def test_web_hands_port_web_concurrency_and_proxy_settings_to_uvicorn(
    configured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The options only; tests/e2e/test_operations_e2e.py serves a real process on PORT."""
    import logging

    import uvicorn

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(app=app, **options))
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("DYNO", "web.1")
    saved = logging.root.handlers[:], logging.root.level
    try:
        assert cli.main(["web"]) == 0
    finally:
        logging.root.handlers, logging.root.level = saved
    assert served["app"] == "bridge.app:create_app_from_env"
    assert served["factory"] is True
    assert (served["host"], served["port"], served["workers"]) == ("0.0.0.0", 8123, 3)
    assert served["proxy_headers"] is True and served["forwarded_allow_ips"] == "*"  # on Heroku
    assert served["http"] == cli.BOUNDED_HTTP  # request heads bounded
    assert served["access_log"] is False
    assert served["timeout_graceful_shutdown"] < 30  # inside Heroku's SIGTERM grace


def test_the_logs_mask_the_shops_api_credentials_and_the_alert_url() -> None:
    from bridge.config import Settings, parse_config

    config = parse_config(
        """
        [alerts]
        webhook_url = "https://hooks.slack.test/services/T0/B0/alert-url-secret"

        [stores.eu-shop]
        platform = "woocommerce"
        kanal_store_id = 8
        kanal_api_key = "woo-kanal-key-987654321"
        webhook_secrets = ["woo-secret-abcdef"]
        site_url = "https://eu-shop.example"
        consumer_key = "ck_consumer_key_0123456789"
        consumer_secret = "cs_consumer_secret_0123456789"
        """,
        {},
    )
    masked = cli._secrets(Settings.from_env({}), config)
    for value in (
        "woo-kanal-key-987654321",
        "woo-secret-abcdef",
        "ck_consumer_key_0123456789",
        "cs_consumer_secret_0123456789",
        "https://hooks.slack.test/services/T0/B0/alert-url-secret",
    ):
        assert value in masked


def test_backfill_and_reconcile_are_verbs_that_need_api_credentials(
    configured: Path,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert cli.main(["backfill", "main-shop", "--status"]) == 2
    assert "main-shop has no API credentials" in capsys.readouterr().out
    assert cli.main(["reconcile"]) == 0
    assert "no store has API credentials: nothing to reconcile" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["backfill"])  # a store is required
    assert "STORE" in capsys.readouterr().err
