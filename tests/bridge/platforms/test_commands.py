"""The backfill and reconcile commands: what they say, when they ask, what they start."""

from __future__ import annotations

import io
from typing import Any

import pytest
import redis

from bridge.config import BridgeConfig, parse_config
from bridge.platforms import backfill, commands, reconcile, scan
from tests.scan_fakes import BACKFILL_CONFIG, FakeSink, PagedShop


@pytest.fixture
def config() -> BridgeConfig:
    return parse_config(
        BACKFILL_CONFIG + '\n[stores.plain]\nplatform = "shopify"\n'
        'kanal_store_id = 9\nkanal_api_key = "k"\nwebhook_secrets = ["s"]\n',
        {},
    )


class Screen:
    def __init__(self, tty: bool = False, answer: str = "") -> None:
        self.out = io.StringIO()
        self.asked: list[str] = []
        self.term = commands.Terminal(self.out, tty, self._ask)
        self.answer = answer

    def _ask(self, prompt: str) -> str:
        self.asked.append(prompt)
        return self.answer

    @property
    def text(self) -> str:
        return self.out.getvalue()


def shop_of(orders: int) -> PagedShop:
    return PagedShop({"orders": [(n, 1) for n in range(orders)], "customers": [], "checkouts": []})


def run(
    client: redis.Redis,
    config: BridgeConfig,
    screen: Screen,
    source: PagedShop,
    sink: FakeSink | None = None,
    **options: Any,
) -> int:
    return commands.run_backfill(
        commands.BackfillOptions("main", **options),
        config,
        client,
        sink or FakeSink(),
        screen.term,
        make_source=lambda *args, **kwargs: source,
        follow_every=0,
    )


def test_a_dry_run_counts_and_says_what_it_would_cost(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    screen = Screen()
    assert run(redis_client, config, screen, shop_of(90), dry_run=True) == 0
    assert screen.text.splitlines() == [
        "90 orders, 0 customers and 0 open abandoned checkouts: about 2 min at 60 calls/min; "
        "live webhooks go first",
        "dry run: nothing started",
    ]
    assert not redis_client.exists(backfill.backfill_key("main"))


def test_over_an_hour_it_asks_first_or_wants_yes(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    screen = Screen()
    assert run(redis_client, config, screen, shop_of(4000)) == 1
    assert "over an hour: run again with --yes" in screen.text
    asked = Screen(tty=True, answer="n")
    assert run(redis_client, config, asked, shop_of(4000)) == 1
    assert asked.asked == ["Start it? [y/N] "] and "not started" in asked.text
    assert not redis_client.exists(backfill.backfill_key("main"))
    assert run(redis_client, config, Screen(), shop_of(4000), yes=True, detach=True) == 0
    assert scan.read(redis_client, backfill.backfill_key("main"))["state"] == scan.RUNNING


def test_started_it_follows_the_workers_until_done(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    source, sink = shop_of(3), FakeSink()
    screen = Screen()
    assert run(redis_client, config, screen, source, sink, detach=True) == 0
    assert "started: the workers run it" in screen.text
    assert "warning: no worker is running" in screen.text
    while backfill.step(redis_client, config, "main", sink, source=source) is not None:
        pass
    follows = Screen()
    assert commands.follow(redis_client, "main", sink, follows.term, every=0) == 0
    lines = follows.text.splitlines()
    assert lines[0].startswith("backfill main: 100% read orders 3/3")
    assert lines[-1] == "backfill of main: done"


def test_status_cancel_and_one_at_a_time(redis_client: redis.Redis, config: BridgeConfig) -> None:
    screen = Screen()
    assert run(redis_client, config, screen, shop_of(3), status=True) == 0
    assert screen.text == "no backfill of main yet\n"
    run(redis_client, config, Screen(), shop_of(3), detach=True)
    again = Screen()
    assert run(redis_client, config, again, shop_of(3)) == 1
    assert "already running: --status follows it, --cancel stops it" in again.text
    status = Screen()
    assert run(redis_client, config, status, shop_of(3), status=True) == 0
    assert status.text.startswith("backfill of main: running, started ")
    stop = Screen()
    assert run(redis_client, config, stop, shop_of(3), cancel=True) == 0
    assert "cancelled: no more pages are read" in stop.text
    assert run(redis_client, config, Screen(), shop_of(3), cancel=True) == 1


def test_a_store_without_api_access_is_refused(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    screen = Screen()
    code = commands.run_backfill(
        commands.BackfillOptions("plain"), config, redis_client, FakeSink(), screen.term
    )
    assert code == 2 and "plain has no API credentials" in screen.text
    assert (
        commands.run_backfill(
            commands.BackfillOptions("nope"), config, redis_client, FakeSink(), screen.term
        )
        == 2
    )
    assert "no store 'nope' in the configuration" in screen.text


def test_bad_options_are_named(redis_client: redis.Redis, config: BridgeConfig) -> None:
    screen = Screen()
    assert run(redis_client, config, screen, shop_of(1), since="soon") == 2
    assert "--since 'soon'" in screen.text
    assert run(redis_client, config, screen, shop_of(1), resources="orders,refunds") == 2
    assert "refunds: not a resource a shopify backfill reads" in screen.text


def test_reconcile_runs_one_pass_now_and_says_what_it_found(
    redis_client: redis.Redis, config: BridgeConfig
) -> None:
    source = PagedShop({"orders": [(1, 1), (2, 1)], "checkouts": []})
    sink = FakeSink(held={("main", "orders", "1"): 1})
    screen = Screen()
    code = commands.run_reconcile(
        "main", config, redis_client, sink, screen.term, make_source=lambda *a, **k: source
    )
    assert code == 0
    assert screen.text == (
        "main: read 2 orders; found 1 order the webhooks had missed: on their way to Kanal "
        "(each is logged)\n"
    )
    assert scan.read(redis_client, reconcile.reconcile_key("main"))["state"] == scan.DONE
    again = Screen()
    commands.run_reconcile(
        "main", config, redis_client, sink, again.term, make_source=lambda *a, **k: source
    )
    assert again.text == "main: read 2 orders; the webhooks had missed nothing\n"
