"""The metrics buffer: bucketing, flushing deltas to Redis, keeping them when Redis fails."""

from __future__ import annotations

import socket

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
