"""Backfill: the plan and its estimate, pages checkpointed in Redis and resumed, flow control,
cancelling, and the progress it reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis

from bridge.config import BridgeConfig, parse_config
from bridge.errors import PlatformUnavailable
from bridge.ops import progress
from bridge.platforms import backfill, periodic, scan
from bridge.platforms.sources import Count, Window
from tests.scan_fakes import (
    BACKFILL_CONFIG,
    NOW,
    FakeSink,
    run_to_end,
    shop,
    started,
)


@pytest.fixture
def config() -> BridgeConfig:
    return parse_config(BACKFILL_CONFIG, {})


# -- the plan -----------------------------------------------------------------------------------


def test_the_plan_counts_first_and_says_what_it_costs(config: BridgeConfig) -> None:
    source = shop(orders=8312, customers=2940)
    found = backfill.plan("main", config.stores["main"], config, source, now=NOW)
    assert [w.resource for w in found.windows] == ["orders", "customers", "checkouts"]
    assert found.calls == 8312 + 2940
    assert found.summary() == (
        "8,312 orders, 2,940 customers and 0 open abandoned checkouts: about 3 h 8 min at "
        "60 calls/min; live webhooks go first"
    )
    assert found.seconds > backfill.defaults.BACKFILL_CONFIRM_SECONDS


def test_default_windows_fit_kanals_purpose(config: BridgeConfig) -> None:
    store = config.stores["main"]
    orders, customers, checkouts = backfill.windows(
        store, ["orders", "customers", "checkouts"], since=NOW - timedelta(days=30), now=NOW
    )
    assert orders == Window("orders", NOW - timedelta(days=30), NOW)
    assert customers == Window("customers", None, NOW)  # all of them
    # Open carts abandoned within the last day only (30 min to abandon + 24 h of reminders).
    assert checkouts == Window("checkouts", NOW - timedelta(hours=24, minutes=30), NOW, True)
    found = backfill.plan("main", store, config, shop(), now=NOW)
    assert found.since == NOW - timedelta(days=30)


def test_more_than_60_days_of_shopify_orders_needs_read_all_orders(config: BridgeConfig) -> None:
    found = backfill.plan(
        "main", config.stores["main"], config, shop(), since=NOW - timedelta(days=90), now=NOW
    )
    assert any("read_all_orders" in note for note in found.notes)
    recent = backfill.plan(
        "main", config.stores["main"], config, shop(), since=NOW - timedelta(days=59), now=NOW
    )
    assert recent.notes == []


def test_unknown_resources_are_refused_by_name(config: BridgeConfig) -> None:
    with pytest.raises(ValueError, match="checkouts: not a resource a woocommerce backfill"):
        backfill.plan("woo", config.stores["woo"], config, shop(), resources=["checkouts"])


def test_counts_shopify_stopped_are_said_to_be_at_least() -> None:
    found = backfill.Plan("s", "shopify", [], {"orders": Count(10_000, exact=False)}, 60, None)
    assert found.summary().startswith("at least 10,000 orders: about 2 h 47 min")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T10:00:00+01:00", datetime(2026, 11, 1, 9, tzinfo=UTC)),
        ("7d", NOW - timedelta(days=7)),
    ],
)
def test_since_accepts_dates_and_days(text: str, expected: datetime) -> None:
    assert backfill.parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2027-01-01", "d"])
def test_since_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="--since"):
        backfill.parse_since(text, NOW)


# -- running ------------------------------------------------------------------------------------


def test_a_backfill_reads_every_record_once_into_the_bulk_lane(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    source, sink = shop(orders=5, customers=3), FakeSink()
    started(redis_client, config, source)
    assert redis_client.zscore(periodic.DUE_KEY, "backfill:main") == NOW.timestamp()
    run_to_end(redis_client, config, sink, source)
    assert sink.sent() == [str(1000 + n) for n in range(5)]
    assert all(bulk for _, _, bulk in sink.calls)
    fields = scan.read(redis_client, backfill.backfill_key("main"))
    assert fields["state"] == scan.DONE
    assert progress.totals(fields, "fetched") == {"orders": 5, "customers": 3}
    assert progress.totals(fields, "queued") == {"orders": 5, "customers": 2}
    assert progress.totals(fields, "skipped") == {"customers": 1}
    assert fields["api_calls"] == str(source.pages)
    assert backfill.step(redis_client, config, "main", sink, source=source) is None


def test_a_second_backfill_waits_for_the_first(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    started(redis_client, config, shop())
    with pytest.raises(backfill.BackfillRunning):
        started(redis_client, config, shop())
    assert backfill.cancel(redis_client, "main")
    assert not backfill.cancel(redis_client, "main")
    assert backfill.step(redis_client, config, "main", FakeSink(), source=shop()) is None
    started(redis_client, config, shop())  # a new one may start once it is over


def test_a_killed_run_resumes_from_its_last_page(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    source, sink = shop(orders=6, customers=0), FakeSink()
    started(redis_client, config, source)
    assert backfill.step(redis_client, config, "main", sink, source=source) == 0.0
    # The next page's run dies after handing its records over, before its checkpoint.
    fields = scan.read(redis_client, backfill.backfill_key("main"))
    page = source.page(Window("orders"), {"at": 2})
    scan.feed(sink, "main", page.records, scan.Page(), "orders")
    # Another worker takes over from the checkpoint: that page is read again, costs nothing.
    run_to_end(redis_client, config, sink, source)
    assert sink.sent() == ["1000", "1001", "1002", "1003", "1004", "1005"]
    after = scan.read(redis_client, backfill.backfill_key("main"))
    assert progress.totals(after, "queued") == {"orders": 4}  # 2 more were queued by the dead run
    assert progress.totals(after, "held") == {"orders": 2}
    assert int(after["seq"]) > int(fields["seq"])


def test_two_runs_of_one_page_commit_it_once(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    source, sink = shop(orders=4, customers=0), FakeSink()
    started(redis_client, config, source)
    key = backfill.backfill_key("main")
    fields = scan.read(redis_client, key)
    first = scan.read_page(redis_client, key, "main", source, sink)
    assert first is not None and first.committed
    # A run that read the same checkpoint before the first committed: its commit is refused.
    late = scan.Page(counts={"orders": {"queued": 2}})
    scan._commit(redis_client, key, fields, late, 0, '{"at": 2}', None)
    assert not late.committed
    assert progress.totals(scan.read(redis_client, key), "queued") == {"orders": 2}


def test_the_bulk_lane_is_fed_a_few_pages_ahead(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    source, sink = shop(orders=4, customers=0), FakeSink()
    started(redis_client, config, source)
    limit = scan.ahead(backfill.PAGE_SIZES["orders"], 60)
    assert limit == 3 * backfill.PAGE_SIZES["orders"]
    sink.pending = limit + 10
    wait = backfill.step(redis_client, config, "main", sink, source=source)
    # Drained to half the limit at the store's 60 calls a minute.
    assert wait == pytest.approx(min(limit + 10 - limit / 2, 60.0))
    assert source.pages == 0 and sink.calls == []
    sink.pending = limit - 1
    assert backfill.step(redis_client, config, "main", sink, source=source) == 0.0
    assert source.pages == 1


def test_one_page_of_a_shop_at_a_time(redis_client: redis.Redis, config: BridgeConfig) -> None:
    source, sink = shop(), FakeSink()
    started(redis_client, config, source)
    with scan.shop_lock(redis_client, "main") as mine:
        assert mine
        assert backfill.step(redis_client, config, "main", sink, source=source) == 2.0
    assert source.pages == 0


def test_a_failing_shop_is_noted_and_the_page_tried_again(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    source, sink = shop(orders=2, customers=0), FakeSink()
    source.fail = {1: PlatformUnavailable("Shopify orders page: HTTP 503 after 1 attempts")}
    started(redis_client, config, source)
    with pytest.raises(PlatformUnavailable):
        backfill.step(redis_client, config, "main", sink, source=source)
    fields = scan.read(redis_client, backfill.backfill_key("main"))
    assert "HTTP 503" in fields["error"] and fields["seq"] == "0"
    run_to_end(redis_client, config, sink, source)
    assert sink.sent() == ["1000", "1001"]
    assert "error" not in scan.read(redis_client, backfill.backfill_key("main"))
