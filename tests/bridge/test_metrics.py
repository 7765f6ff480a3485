"""The metrics buffer: bucketing, flushing deltas to Redis, keeping them when Redis fails."""

from __future__ import annotations

import os
import socket
import time

import pytest
import redis

from bridge import metrics
from bridge.metrics import KANAL_SECONDS, WEBHOOKS, Buffer, Flusher


def test_an_observation_lands_in_the_smallest_bucket_that_holds_it() -> None:
    buffer = Buffer()
    buffer.observe(KANAL_SECONDS, 0.3, "orders", "POST")
    buffer.observe(KANAL_SECONDS, 99.0, "orders", "POST")
    fields = buffer.take()[KANAL_SECONDS.key]
    assert fields["orders\tPOST\tb4"] == 1  # 0.25 < 0.3 <= 0.5, the fifth bound
    assert fields[f"orders\tPOST\tb{len(KANAL_SECONDS.buckets)}"] == 1  # +Inf
    assert fields["orders\tPOST\tsum"] == pytest.approx(99.3)


def test_flush_adds_deltas_to_what_other_processes_wrote(redis_client: redis.Redis) -> None:
    ours, theirs = Buffer(), Buffer()
    ours.inc(WEBHOOKS, "shopify", "main", "orders/create", "accepted")
    theirs.inc(WEBHOOKS, "shopify", "main", "orders/create", "accepted", amount=2)
    metrics.flush(redis_client, ours)
    metrics.flush(redis_client, theirs)
    assert redis_client.hgetall(WEBHOOKS.key) == {b"shopify\tmain\torders/create\taccepted": b"3"}
    assert ours.take() == {}


def test_deltas_survive_a_failed_flush() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = redis.Redis(port=port, socket_connect_timeout=0.5)
    buffer = Buffer()
    buffer.inc(WEBHOOKS, "woocommerce", "w", "order.created", "accepted")
    with pytest.raises(redis.ConnectionError):
        metrics.flush(down, buffer)
    buffer.inc(WEBHOOKS, "woocommerce", "w", "order.created", "accepted")
    assert buffer.take()[WEBHOOKS.key] == {"woocommerce\tw\torder.created\taccepted": 2}


def test_the_worker_flusher_writes_what_is_left_when_stopped(redis_client: redis.Redis) -> None:
    metrics.BUFFER.take()
    metrics.push_outcome("main", "delivered")
    flusher = Flusher(redis_client, interval=60)
    flusher.start()
    flusher.stop()
    assert not flusher.is_alive()
    assert redis_client.hget(metrics.PUSH_OUTCOMES.key, "main\tdelivered") == b"1"


@pytest.mark.parametrize(
    ("topic", "label"),
    [("orders/create", "orders/create"), ("orders/mystery", "other"), (None, "none")],
)
def test_webhook_topics_are_bounded(topic: str | None, label: str) -> None:
    metrics.BUFFER.take()
    metrics.webhook("shopify", "main", topic, "accepted", None, 0.01)
    [field] = metrics.BUFFER.take()[WEBHOOKS.key]
    assert field.split("\t")[2] == label


def test_unknown_stores_and_free_text_reasons_do_not_become_labels() -> None:
    metrics.BUFFER.take()
    metrics.webhook("shopify", None, "orders/create", "ignored", "Some Free Text 123", 0.01)
    taken = metrics.BUFFER.take()
    assert list(taken[WEBHOOKS.key]) == ["shopify\tunknown\torders/create\tignored"]
    assert list(taken[metrics.IGNORED.key]) == ["shopify\tunknown\tother"]


def _fresh() -> None:
    metrics.BUFFER.take()
    metrics.BUFFER.take_latest()


def test_a_verified_webhook_records_when_it_came_by_topic_and_family(
    redis_client: redis.Redis,
) -> None:
    _fresh()
    before = time.time()
    metrics.webhook("shopify", "main", "orders/paid", "accepted", None, 0.01)
    metrics.webhook("shopify", "main", "checkouts/create", "ignored", "no_phone", 0.01)
    metrics.flush(redis_client)
    state = {k.decode(): float(v) for k, v in redis_client.hgetall("kb:store:main").items()}
    assert set(state) == {
        "webhook_at",
        "webhook_at:orders",
        "webhook_at:orders/paid",
        "webhook_at:checkouts",
        "webhook_at:checkouts/create",
    }
    assert all(before <= at <= time.time() for at in state.values())
    hour = metrics.hour_key("main", int(time.time() // 3600))
    assert redis_client.hget(hour, "webhooks") == b"2"
    assert 0 < redis_client.ttl(hour) <= metrics.HOURLY_TTL


def test_refused_pings_and_unknown_stores_are_not_webhooks_received(
    redis_client: redis.Redis,
) -> None:
    _fresh()
    metrics.webhook("shopify", "main", "orders/create", "invalid_signature", "mismatch", 0.01)
    metrics.webhook("woocommerce", "woo", None, "ignored", "ping", 0.01)
    metrics.webhook("shopify", None, "orders/create", "unknown_store", None, 0.01)
    metrics.flush(redis_client)
    assert redis_client.keys("kb:store:*") == []
    hour = metrics.hour_key("main", int(time.time() // 3600))
    assert redis_client.hgetall(hour) == {b"refused": b"1"}


def test_kanal_calls_and_outcomes_fill_the_hour_and_the_last_push(
    redis_client: redis.Redis,
) -> None:
    _fresh()
    metrics.kanal_call("main", "orders", "POST", 201, 0.1)
    metrics.kanal_call("main", "orders", "PATCH", 500, 0.1)
    metrics.kanal_call("main", "orders", "POST", None, 15.0)
    metrics.kanal_call("main", "orders", "POST", 429, 0.1)
    metrics.kanal_call("main", "orders", "POST", 422, 0.1)
    metrics.rate_limited("main")
    metrics.push_outcome("main", "failed")
    metrics.push_outcome("main", "delivered")
    metrics.flush(redis_client)
    hour = metrics.hour_key("main", int(time.time() // 3600))
    assert redis_client.hgetall(hour) == {
        b"calls": b"5",
        b"pushes": b"1",
        b"errors": b"2",
        b"rejected": b"1",
        b"rate_limited": b"1",
        b"failed": b"1",
    }
    assert redis_client.hexists("kb:store:main", "push_at")


def test_the_newest_time_wins_and_survives_a_failed_flush() -> None:
    buffer = Buffer()
    buffer.seen("kb:store:main", 200.0, "push_at")
    buffer.seen("kb:store:main", 100.0, "push_at")
    down = redis.Redis(port=_free_port(), socket_connect_timeout=0.5)
    with pytest.raises(redis.ConnectionError):
        metrics.flush(down, buffer)
    assert buffer.take_latest() == {"kb:store:main": {"push_at": 200.0}}


def test_an_announced_process_is_present_until_it_stops_flushing(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYNO", "web.1")
    monkeypatch.setattr(metrics, "_presence", None)
    redis_client.zadd(metrics.PRESENCE_KEY, {"worker:worker.1:7:5": time.time() - 3600})
    metrics.announce("web", 8)
    metrics.flush(redis_client, Buffer())
    members = [m.decode() for m in redis_client.zrange(metrics.PRESENCE_KEY, 0, -1)]
    assert members == [f"web:web.1:{os.getpid()}:8"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
