"""Alerts against a real HTTP receiver standing in for Slack's incoming webhook: each condition
starts once and clears once, nothing loops, a failing chat server gets the messages later,
and nothing else waits for it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from bridge import metrics
from bridge.config import BridgeConfig, parse_config
from bridge.delivery.limiter import pace_key
from bridge.delivery.records import PENDING_KEY
from bridge.ops import alerts, health
from bridge.ops.alerts import Alerts, AlertThread, Timing
from bridge.ops.localredis import pick_free_port
from tests.pushes import accept, drain, install, order
from tests.support import ChatServer

KANAL_KEY = "alerts-kanal-key-0123456789"
SECRET = "alerts-webhook-secret-42"
QUICK = Timing(
    evaluate_every=0.1,
    start_after=0,
    clear_after=0,
    send_spacing=0,
    retry_delays=(0.3,),
    tick=0.05,
    lock_seconds=5,
    lock_retry=0.1,
)


CONFIG = """
[bridge]
public_url = "https://bridge.example.com"

[alerts]
webhook_url = "{url}"
failed_per_hour = 10
oldest_pending_minutes = 30

[stores.main-shop]
platform = "shopify"
kanal_store_id = 7
kanal_api_key = "{key}"
webhook_secrets = ["{secret}"]
shop_domain = "main-shop.myshopify.com"
admin_api_token = "{secret}"
quiet_hours = 6

[stores.shop]
platform = "woocommerce"
kanal_store_id = 8
kanal_api_key = "{key}"
webhook_secrets = ["{secret}"]
"""


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    server = ChatServer()
    yield server
    server.close()


def config_for(url: str) -> BridgeConfig:
    return parse_config(CONFIG.format(url=url, key=KANAL_KEY, secret=SECRET), {})


@pytest.fixture
def config(chat: ChatServer) -> BridgeConfig:
    return config_for(chat.url)


@pytest.fixture
def quiet_deployment(redis_client: redis.Redis) -> None:
    """A worker is registered and the stores just heard from their shops: nothing to say."""
    redis_client.sadd(health.WORKERS_KEY, "rq:worker:test")
    for store in ("main-shop", "shop"):
        redis_client.hset(metrics.store_key(store), "webhook_at", time.time())


def alerts_for(client: redis.Redis, config: BridgeConfig, timing: Timing = QUICK) -> Alerts:
    url = config.alerts.webhook_url
    assert url is not None
    return Alerts(client, config, url.get_secret_value(), config.public_url({}), timing)


Change = Callable[[redis.Redis, float], Any]
HOUR = metrics.hour_key


CONDITIONS: dict[str, tuple[str, Change, Change, str]] = {
    # name: (store, cause, cure, words the start message carries)
    "quiet": (
        "main-shop",
        lambda r, now: r.hset(metrics.store_key("main-shop"), "webhook_at", now - 7 * 3600),
        lambda r, now: r.hset(metrics.store_key("main-shop"), "webhook_at", now),
        "is failing: no webhook for 7 h",
    ),
    "subscriptions": (
        "main-shop",
        lambda r, now: r.hset(
            metrics.store_key("main-shop"), "subscriptions", '{"orders/create": "disabled"}'
        ),
        lambda r, now: r.hset(
            metrics.store_key("main-shop"), "subscriptions", '{"orders/create": "active"}'
        ),
        "webhook subscriptions not active: orders/create disabled",
    ),
    "kanal_rejected": (
        "shop",
        lambda r, now: r.hset(pace_key(8), "held_reason", "key_rejected"),
        lambda r, now: r.hdel(pace_key(8), "held_reason"),
        "is paused: Kanal rejects the store's API key",
    ),
    "failed_per_hour": (
        "shop",
        lambda r, now: r.hset(HOUR("shop", int(now // 3600)), "failed", 11),
        lambda r, now: r.delete(HOUR("shop", int(now // 3600))),
        "is failing: 11 records failed in the last hour",
    ),
    "oldest_pending": (
        "shop",
        lambda r, now: r.zadd(PENDING_KEY, {"kb:rec:8:orders:1": now - 45 * 60}),
        lambda r, now: r.zrem(PENDING_KEY, "kb:rec:8:orders:1"),
        "is failing: the oldest pending record has waited 45 min",
    ),
    "reconcile_found": (
        "main-shop",
        lambda r, now: r.hset(metrics.store_key("main-shop"), "reconcile_found", 4),
        lambda r, now: r.hset(metrics.store_key("main-shop"), "reconcile_found", 0),
        "needs a look: the last reconciliation pass found 4 record(s)",
    ),
    "no_worker": (
        "*",
        lambda r, now: r.delete(health.WORKERS_KEY),
        lambda r, now: r.sadd(health.WORKERS_KEY, "rq:worker:test"),
        "kanal-bridge is failing: no worker is running",
    ),
}


@pytest.mark.parametrize("name", sorted(CONDITIONS))
@pytest.mark.usefixtures("quiet_deployment")
def test_each_condition_alerts_once_when_it_starts_and_once_when_it_clears(
    name: str, redis_client: redis.Redis, config: BridgeConfig, chat: ChatServer
) -> None:
    store, cause, cure, words = CONDITIONS[name]
    checker = alerts_for(redis_client, config)
    now = time.time()
    assert checker.evaluate(now) == []
    cause(redis_client, now)
    [started] = checker.evaluate(now + 1)
    assert checker.evaluate(now + 2) == [] and checker.evaluate(now + 3) == []
    cure(redis_client, now)
    [cleared] = checker.evaluate(now + 4)
    assert checker.evaluate(now + 5) == []
    assert words in started
    anchor = "" if store == "*" else f"#store-{store}"
    assert started.endswith(f" https://bridge.example.com/status{anchor}")
    assert cleared.startswith(f"✅ {'kanal-bridge' if store == '*' else store} resolved after")
    assert checker.send_due()
    assert chat.lines == [started, cleared]
    assert not checker.send_due()  # nothing left
    for text in (started, cleared):
        assert KANAL_KEY not in text and SECRET not in text


@pytest.mark.usefixtures("quiet_deployment")
def test_a_condition_alerts_only_once_it_lasted_and_clears_only_once_it_stayed_gone(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    checker = alerts_for(redis_client, config, Timing(start_after=60, clear_after=300))
    _, cause, cure, _ = CONDITIONS["kanal_rejected"]
    now = time.time()
    cause(redis_client, now)
    assert checker.evaluate(now) == [] and checker.evaluate(now + 30) == []
    cure(redis_client, now)
    assert checker.evaluate(now + 40) == []  # gone before a minute: never reported
    cause(redis_client, now)
    assert checker.evaluate(now + 50) == []
    assert len(checker.evaluate(now + 111)) == 1
    for step in range(10):  # flapping around: no message either way
        (cure if step % 2 else cause)(redis_client, now)
        assert checker.evaluate(now + 120 + step * 20) == []
    cure(redis_client, now)
    assert checker.evaluate(now + 400) == []  # gone since 320 (the last flap): not yet 300 s
    assert len(checker.evaluate(now + 700)) == 1


@pytest.mark.usefixtures("quiet_deployment")
def test_a_watchdog_repair_is_one_message(redis_client: redis.Redis, config: BridgeConfig) -> None:
    checker = alerts_for(redis_client, config)
    now = time.time()
    redis_client.hset(metrics.store_key("main-shop"), "repair_at", now - 86400)
    assert checker.evaluate(now) == []  # before the alerts were watching: not news
    redis_client.hset(
        metrics.store_key("main-shop"), mapping={"repair_at": now, "repair_kind": "recreated"}
    )
    [message] = checker.evaluate(now + 1)
    assert "main-shop: the watchdog found a shopify webhook subscription off" in message
    assert "(recreated)" in message
    assert checker.evaluate(now + 2) == []


def test_a_quiet_store_that_never_heard_from_its_shop_counts_from_when_watched(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    redis_client.sadd(health.WORKERS_KEY, "rq:worker:test")
    checker = alerts_for(redis_client, config)
    now = time.time()
    assert checker.evaluate(now) == []
    watched = float(redis_client.hget(metrics.store_key("main-shop"), "watched_at") or 0)
    assert abs(watched - now) < 5
    assert redis_client.hget(metrics.store_key("shop"), "watched_at") is None  # no quiet_hours
    [message] = checker.evaluate(now + 7 * 3600)
    assert "main-shop is failing: no webhook for 7 h" in message


@pytest.mark.usefixtures("quiet_deployment")
def test_a_failing_chat_server_gets_the_messages_later_with_backoff(
    redis_client: redis.Redis, config: BridgeConfig, chat: ChatServer
) -> None:
    chat.statuses = [500, 503]
    checker = alerts_for(redis_client, config)
    _, cause, _, _ = CONDITIONS["kanal_rejected"]
    cause(redis_client, time.time())
    [message] = checker.evaluate()
    assert not checker.send_due()  # 500
    assert not checker.send_due()  # waiting out the backoff: no POST at all
    time.sleep(0.35)
    assert not checker.send_due()  # 503
    time.sleep(0.35)
    assert checker.send_due()
    assert chat.lines == [message]
    assert redis_client.llen(alerts.OUTBOX_KEY) == 0
    assert not redis_client.exists(alerts.RETRY_KEY)


@pytest.mark.usefixtures("quiet_deployment")
def test_an_unreachable_chat_server_keeps_the_messages(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    closed = config_for(f"http://127.0.0.1:{pick_free_port()}/hook")
    checker = alerts_for(redis_client, closed)
    _, cause, _, _ = CONDITIONS["kanal_rejected"]
    cause(redis_client, time.time())
    checker.evaluate()
    started = time.monotonic()
    assert not checker.send_due()
    assert time.monotonic() - started < 3
    assert redis_client.llen(alerts.OUTBOX_KEY) == 1
    assert redis_client.hget(alerts.RETRY_KEY, "failures") == b"1"


@pytest.mark.usefixtures("quiet_deployment")
def test_pushes_never_wait_for_a_slow_failing_chat_server(
    redis_url: str, redis_client: redis.Redis, config: BridgeConfig
) -> None:
    """A worker process's alert thread posts to a chat server that takes 3 s to answer 500,
    then 500 again: the process's pushes all go out while that first POST is still waiting,
    and the alert arrives once the server answers 200."""
    slow = ChatServer(statuses=[500, 500], delays=[3.0])
    try:
        _, cause, _, _ = CONDITIONS["kanal_rejected"]
        cause(redis_client, time.time())
        thread = AlertThread(alerts_for(redis.Redis.from_url(redis_url), config_for(slow.url)))
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not slow.arrived and time.monotonic() < deadline:
                time.sleep(0.02)
            accept(redis_url, [order(external_id=str(n)) for n in range(1, 6)])
            kanal = install(redis_client)
            drain(redis_client)
            assert len(kanal.requests) == 5
            assert slow.statuses == [500, 500]  # the first POST is still unanswered
            while not slow.posts and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            thread.stop()
        assert slow.arrived == 3
        assert len(slow.posts) == 1 and "shop is paused" in slow.posts[0]
    finally:
        slow.close()


@pytest.mark.usefixtures("quiet_deployment")
def test_two_processes_report_each_message_once(
    redis_url: str, redis_client: redis.Redis, config: BridgeConfig, chat: ChatServer
) -> None:
    threads = [AlertThread(alerts_for(redis.Redis.from_url(redis_url), config)) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        _, cause, cure, _ = CONDITIONS["oldest_pending"]
        cause(redis_client, time.time())
        deadline = time.monotonic() + 10
        while not chat.lines and time.monotonic() < deadline:
            time.sleep(0.05)
        cure(redis_client, time.time())
        while len(chat.lines) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # room for a duplicate to show up
    finally:
        for thread in threads:
            thread.stop()
    assert len(chat.lines) == 2
    assert "shop is failing" in chat.lines[0] and "shop resolved" in chat.lines[1]


def test_alerts_are_off_without_a_webhook_url(redis_url: str) -> None:
    config = parse_config(
        CONFIG.replace('webhook_url = "{url}"\n', "").format(key=KANAL_KEY, secret=SECRET), {}
    )
    assert alerts.start(redis_url, config) is None
    assert alerts.start(redis_url, None) is None
