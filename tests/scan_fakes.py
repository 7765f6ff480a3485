"""Stand-ins for the two ends of a scan: a record store that remembers versions as the real
one does (a version it holds is "duplicate"), and a shop of numbered orders served in pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from bridge.config import BridgeConfig
from bridge.platforms import backfill
from bridge.platforms.sources import Count, Fetched, Window
from mappers import Action, Ignored, Upsert


@dataclass
class FakeSink:
    """accept_fetched answers as the record store does for versions; bulk_pending is set."""

    held: dict[tuple[str, str, str], int] = field(default_factory=dict)
    calls: list[tuple[str, list[Action], bool]] = field(default_factory=list)
    accepted: list[tuple[str, str]] = field(default_factory=list)  # (resource, external id)
    pending: int = 0

    def accept_fetched(self, store: str, actions: Sequence[Action], *, bulk: bool) -> str:
        self.calls.append((store, list(actions), bulk))
        answer = "unknown_record"
        for action in actions:
            if isinstance(action, Ignored):
                continue
            key = (store, action.resource, action.external_id)
            if isinstance(action, Upsert):
                known = self.held.get(key)
                if known is not None and known >= action.version:
                    answer = "duplicate" if answer == "unknown_record" else answer
                    continue
                self.held[key] = action.version
                self.accepted.append((action.resource, action.external_id))
                answer = "accepted"
        return answer

    def bulk_pending(self, kanal_store_id: int) -> int:
        return self.pending

    def sent(self, resource: str = "orders") -> list[str]:
        """The records accepted (that Kanal will get), in order."""
        return [ident for kind, ident in self.accepted if kind == resource]


@dataclass
class PagedShop:
    """`records[resource]` = [(id, version)], served `size` a page; None as a version: a
    record with nothing to send. `fail` raises on the page numbers it names."""

    records: dict[str, list[tuple[int, int | None]]]
    size: int = 2
    platform: str = "shopify"
    pages: int = 0
    fail: dict[int, Exception] = field(default_factory=dict)

    def count(self, window: Window) -> Count:
        return Count(len(self.records.get(window.resource, [])))

    def page(self, window: Window, cursor: dict[str, Any] | None) -> Fetched:
        self.pages += 1
        if self.pages in self.fail:
            raise self.fail[self.pages]
        start = int((cursor or {}).get("at", 0))
        found = self.records.get(window.resource, [])[start : start + self.size]
        records: list[list[Action]] = [
            [Ignored("no_phone")]
            if version is None
            else [Upsert(window.resource, str(ident), version, {"external_id": str(ident)})]
            for ident, version in found
        ]
        following = start + self.size
        more = following < len(self.records.get(window.resource, []))
        return Fetched(records, {"at": following} if more else None)

    def spent(self) -> tuple[int, int]:
        return self.pages, 10 * self.pages


# A backfill of a Shopify store over the shop above (tests of backfill and its progress).

BACKFILL_CONFIG = """
[kanal]
requests_per_minute = 60

[stores.main]
platform = "shopify"
kanal_store_id = 7
kanal_api_key = "k"
webhook_secrets = ["s"]
shop_domain = "main.myshopify.com"
admin_api_token = "shpat_x"
abandoned_after_minutes = 30

[stores.woo]
platform = "woocommerce"
kanal_store_id = 8
kanal_api_key = "k"
webhook_secrets = ["s"]
site_url = "https://woo.example"
consumer_key = "ck"
consumer_secret = "cs"
requests_per_minute = 120
"""
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def shop(orders: int = 5, customers: int = 3) -> PagedShop:
    return PagedShop(
        {
            "orders": [(1000 + n, 1) for n in range(orders)],
            "customers": [(2000 + n, 1 if n % 3 else None) for n in range(customers)],
            "checkouts": [],
        }
    )


def started(
    client: redis.Redis, config: BridgeConfig, source: PagedShop, **options: object
) -> backfill.Plan:
    found = backfill.plan("main", config.stores["main"], config, source, now=NOW, **options)  # type: ignore[arg-type]
    backfill.start(client, config.stores["main"], found, now=NOW.timestamp())
    return found


def run_to_end(client: redis.Redis, config: BridgeConfig, sink: FakeSink, source: PagedShop) -> int:
    steps = 0
    while backfill.step(client, config, "main", sink, source=source) is not None:
        steps += 1
        assert steps < 100
    return steps
