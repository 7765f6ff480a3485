"""Backfill progress: what was read, queued and delivered, the rate, the time left, and how
it reads in a terminal, in logs and on the status page."""

from __future__ import annotations

import pytest
import redis

from bridge.config import BridgeConfig, parse_config
from bridge.ops import progress
from bridge.platforms import backfill, scan
from tests.scan_fakes import BACKFILL_CONFIG, NOW, FakeSink, run_to_end, shop, started


@pytest.fixture
def config() -> BridgeConfig:
    return parse_config(BACKFILL_CONFIG, {})


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(12, "12 s"), (600, "10 min"), (3 * 3600 + 25 * 60, "3 h 25 min"), (50 * 3600, "2 d 2 h")],
)
def test_durations_read_as_people_write_them(seconds: float, text: str) -> None:
    assert progress.duration(seconds) == text


def test_progress_counts_what_was_read_queued_and_delivered(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    source, sink = shop(orders=6, customers=0), FakeSink()
    found = started(redis_client, config, source)
    backfill.step(redis_client, config, "main", sink, source=source)
    sink.pending = 1  # one of the two queued waits for its call slot
    now = NOW.timestamp() + 120
    seen = progress.progress(redis_client, "main", sink, now=now)
    assert seen is not None
    assert seen.total == {"orders": 6, "customers": 0, "checkouts": 0}
    assert (sum(seen.fetched.values()), sum(seen.queued.values()), seen.delivered) == (2, 2, 1)
    assert seen.calls_per_minute == pytest.approx(0.5)  # 1 delivered in 2 minutes
    assert seen.seconds_left == pytest.approx((4 + 1) / 0.5 * 60)
    assert 0 < seen.fraction < 1
    line = progress.render(seen, bar=False)
    assert line.startswith("backfill main:  17% read orders 2/6")
    assert "delivered 1; failed 0; 0 calls/min; about 10 min left" in line
    assert progress.render(seen, bar=True).startswith("[####....................]  17%")
    assert progress.describe(seen)[1] == (
        "  orders: 2 of 6 read; 2 queued, 0 already in Kanal, 0 with nothing to send"
    )
    assert found.calls == 6


def test_the_status_line_comes_from_the_hash_alone(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    source, sink = shop(orders=4, customers=0), FakeSink()
    started(redis_client, config, source)
    run_to_end(redis_client, config, sink, source)
    fields = scan.read(redis_client, backfill.backfill_key("main"))
    assert progress.summary(fields) == "done: 4 of 4 read, 4 queued, ~4 delivered"
    assert progress.summary({}) == "no backfill"


def test_failed_pushes_since_the_start_are_counted(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    from bridge.metrics import hour_key

    started(redis_client, config, shop())
    hour = int(NOW.timestamp() // 3600)
    redis_client.hset(hour_key("main", hour - 1), "failed", 5)  # before the backfill
    redis_client.hset(hour_key("main", hour), "failed", 2)
    redis_client.hset(hour_key("main", hour + 1), "failed", 1)
    seen = progress.progress(redis_client, "main", now=NOW.timestamp() + 3600)
    assert seen is not None and seen.failed == 3
