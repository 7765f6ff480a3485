"""Backfill and reconciliation as periodic platform tasks (bridge/platforms/periodic.py): one
page per job, in the workers, fed to the record store's bulk lane."""

from __future__ import annotations

import redis

from bridge.config import BridgeConfig
from bridge.delivery.records import SyncRecordStore, namespaces
from bridge.platforms import backfill, reconcile
from bridge.platforms.periodic import Context


def record_sink(config: BridgeConfig, client: redis.Redis) -> SyncRecordStore:
    """The record store's way in for fetched records (the delivery workstream's)."""
    return SyncRecordStore(client, namespaces(config), config.delivery.settle_seconds)


def backfill_page(context: Context, key: str) -> float | None:
    """One page of the store's running backfill; None when there is none (look again after
    the task's interval)."""
    return backfill.step(
        context.redis, context.config, key, record_sink(context.config, context.redis)
    )


def reconcile_page(context: Context, key: str) -> float | None:
    """One page of the store's reconciliation pass (a new pass when none runs); None once the
    pass is over (the next one after `reconcile_every_minutes`)."""
    return reconcile.step(
        context.redis, context.config, key, record_sink(context.config, context.redis)
    )
