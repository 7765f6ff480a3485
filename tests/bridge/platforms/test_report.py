"""`kanal-bridge connect` and `kanal-bridge webhooks`: tables, exit statuses, and what they say
when they cannot start."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest
import redis

from bridge import cli, metrics
from bridge.emulators.woocommerce import BackgroundWooCommerce
from bridge.platforms.report import connect_command, host_and_path, webhooks_command
from tests.woocommerce_shop import READ_ONLY, RW, Receiver, fresh
from tests.woocommerce_shop import shop as start_woocommerce

SECRET = "reportWooSecret0123456"
CONFIG = """
[stores.eu-shop]
platform = "woocommerce"
kanal_store_id = 2
kanal_api_key = "kanal-key-456"
webhook_secrets = ["{secret}"]
site_url = "{site_url}"
consumer_key = "{key}"
consumer_secret = "{key_secret}"

[stores.hooks-only]
platform = "shopify"
kanal_store_id = 3
kanal_api_key = "kanal-key-789"
webhook_secrets = ["shopify-secret"]
"""


@pytest.fixture(scope="module")
def woocommerce() -> Iterator[BackgroundWooCommerce]:
    shop = start_woocommerce()
    yield shop
    shop.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def env(
    woocommerce: BackgroundWooCommerce,
    receiver: Receiver,
    redis_url: str,
    redis_client: redis.Redis,
) -> dict[str, str]:
    fresh(woocommerce)
    toml = CONFIG.format(secret=SECRET, site_url=woocommerce.url, key=RW[0], key_secret=RW[1])
    return {"BRIDGE_CONFIG_TOML": toml, "REDIS_URL": redis_url, "PUBLIC_URL": receiver.url}


def run(command: object, *args: object, **options: object) -> tuple[int, str]:
    out = io.StringIO()
    status = command(*args, out=out, **options)  # type: ignore[operator]
    return status, out.getvalue()


def test_connect_makes_what_is_missing_then_says_nothing_changes(env: dict[str, str]) -> None:
    status, text = run(connect_command, [], False, env=env)
    assert status == 0
    assert "eu-shop  woocommerce  http://127.0.0.1:" in text
    assert "order.created     missing  created" in text
    assert "7 change(s) made: in line" in text
    assert "hooks-only: skipped, no API credentials" in text
    status, text = run(connect_command, ["eu-shop"], False, env=env)
    assert status == 0 and "in line: nothing to change" in text
    assert SECRET not in text and RW[1] not in text


def test_a_dry_run_changes_nothing(env: dict[str, str], woocommerce: BackgroundWooCommerce) -> None:
    status, text = run(connect_command, ["eu-shop"], True, env=env)
    assert status == 0
    assert "would create" in text and "dry run: 7 change(s) to make, none made" in text
    assert woocommerce.control.webhooks() == []


def test_connect_exits_1_when_a_store_cannot_be_brought_in_line(env: dict[str, str]) -> None:
    env["BRIDGE_CONFIG_TOML"] = (
        env["BRIDGE_CONFIG_TOML"].replace(RW[0], READ_ONLY[0]).replace(RW[1], READ_ONLY[1])
    )
    status, text = run(connect_command, ["eu-shop"], False, env=env)
    assert status == 1
    assert "FAILED:" in text and "give the REST key Read/Write permissions" in text
    status, text = run(connect_command, ["hooks-only"], False, env=env)
    assert status == 1 and "no API credentials" in text


def test_connect_refuses_to_start_without_a_public_url_or_with_an_unknown_store(
    env: dict[str, str],
) -> None:
    status, text = run(connect_command, ["no-such-shop"], False, env=env)
    assert status == 2 and "no store no-such-shop" in text
    del env["PUBLIC_URL"]
    status, text = run(connect_command, [], False, env=env)
    assert status == 2 and "set PUBLIC_URL (or [bridge] public_url" in text


def test_webhooks_shows_each_topic_next_to_the_last_delivery_received(
    env: dict[str, str], woocommerce: BackgroundWooCommerce, redis_client: redis.Redis
) -> None:
    run(connect_command, ["eu-shop"], False, env=env)
    now = time.time()
    redis_client.hset(
        metrics.store_key("eu-shop"),
        mapping={"webhook_at": now - 120, "webhook_at:order.created": now - 120},
    )
    status, text = run(webhooks_command, "eu-shop", env=env)
    assert status == 0
    assert "order.created     active    2 min ago (" in text
    assert "order.restored    active    never" in text
    assert "last webhook (any topic): 2 min ago" in text

    hook = next(h for h in woocommerce.control.webhooks() if h["topic"] == "order.updated")
    woocommerce.control.set_webhook(hook["id"], status="disabled")
    status, text = run(webhooks_command, None, env=env)
    assert status == 1
    assert "order.updated     disabled" in text
    assert "hooks-only  shopify" in text and "platform state unknown: no API credentials" in text


def test_the_cli_parses_connect_and_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[object, ...]] = []
    monkeypatch.setattr(
        "bridge.platforms.report.connect_command", lambda *a, **k: seen.append(a) or 0
    )
    monkeypatch.setattr(
        "bridge.platforms.report.webhooks_command", lambda *a, **k: seen.append(a) or 0
    )
    assert cli.main(["connect", "a-shop", "b-shop", "--dry-run"]) == 0
    assert cli.main(["connect"]) == 0
    assert cli.main(["webhooks", "a-shop"]) == 0
    assert seen == [(["a-shop", "b-shop"], True), ([], False), ("a-shop",)]


def test_addresses_are_shown_without_their_query() -> None:
    assert host_and_path("https://hooks.example/catch/1?token=abc") == "hooks.example/catch/1"
    assert host_and_path("https://crm.example/") == "crm.example"
