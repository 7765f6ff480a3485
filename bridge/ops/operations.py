"""What the operational CLI verbs do: list and replay failed pushes, show the bridge's state."""

from __future__ import annotations

import os
import sys
import time

import redis
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from bridge.config import Settings, load_config
from bridge.connection import sync_redis
from bridge.delivery import jobs
from bridge.delivery.limiter import Limiter, pace_key
from bridge.delivery.records import WorkerRecords
from bridge.errors import ConfigError
from bridge.ops import capacity, health, progress


def _failed(client: redis.Redis) -> FailedJobRegistry:
    return FailedJobRegistry(queue=jobs.queue(client))


def failed_rows(client: redis.Redis) -> list[dict[str, str]]:
    """One row per failed push: job id, record, when, and Kanal's answer."""
    registry = _failed(client)
    found = [
        job
        for job in Job.fetch_many(
            registry.get_job_ids(), connection=client, serializer=jobs.queue(client).serializer
        )
        if job is not None
    ]
    with client.pipeline(transaction=False) as pipe:
        for job in found:
            pipe.hget(job.args[0] if job.args else "?", "store")  # the record's bridge store
        stores = [value.decode() if value else None for value in pipe.execute()]
    rows = []
    for job, store in zip(found, stores, strict=True):
        result = job.latest_result()
        error = (result.exc_string or "") if result else ""
        last_line = error.strip().splitlines()[-1] if error.strip() else ""
        rows.append(
            {
                "job": job.id,
                "record": jobs.describe(job.args[0], store) if job.args else "?",
                "failed_at": job.ended_at.strftime("%Y-%m-%d %H:%M:%S") if job.ended_at else "",
                "error": last_line[:300],
            }
        )
    return rows


def failed_list(settings: Settings) -> int:
    """Print the failed pushes; exit status 0."""
    rows = failed_rows(sync_redis(settings.redis_url))
    if not rows:
        print("no failed pushes")
        return 0
    for row in rows:
        print(f"{row['job']}  {row['failed_at']}  {row['record']}\n    {row['error']}")
    print(f"{len(rows)} failed push(es); `kanal-bridge failed retry ID` or `--all` replays them")
    return 0


def retry_failed(client: redis.Redis, job_ids: list[str], every: bool) -> tuple[int, list[str]]:
    """Requeue failed pushes (they push the record's latest state); returns (done, unknown ids)."""
    registry = _failed(client)
    held = set(registry.get_job_ids())
    wanted = sorted(held) if every else job_ids
    unknown = [job_id for job_id in wanted if job_id not in held]
    done = 0
    for job_id in wanted:
        if job_id in held:
            registry.requeue(job_id)
            done += 1
    return done, unknown


def failed_retry(settings: Settings, job_ids: list[str], every: bool) -> int:
    """Replay failed pushes; exit status 1 when an id is not a failed push."""
    done, unknown = retry_failed(sync_redis(settings.redis_url), job_ids, every)
    for job_id in unknown:
        print(f"{job_id}: not in the failed registry")
    print(f"requeued {done} push(es)")
    return 1 if unknown else 0


def status(settings: Settings) -> int:
    """Print queues, pending records, failures, each Kanal store's budget, Redis's memory and
    connections, and every store's health (as on /status)."""
    client = sync_redis(settings.redis_url)
    queue = jobs.queue(client)
    records = WorkerRecords(client)
    print(f"queued pushes:      {queue.count}")
    print(f"scheduled pushes:   {ScheduledJobRegistry(queue=queue).count}")
    print(f"running pushes:     {StartedJobRegistry(queue=queue).count}")
    print(f"failed pushes:      {_failed(client).count}")
    print(
        f"pending records:    {records.pending_count()}"
        f" (oldest waiting {records.oldest_pending_age():.0f}s)"
    )
    try:
        config = load_config(settings)
    except ConfigError as exc:
        print(f"stores: configuration unusable: {exc}")
        return 1
    now = time.time()
    limiter = Limiter(client)
    for kanal_id in sorted({store.kanal_store_id for store in config.stores.values()}):
        tat, paused = client.hmget(pace_key(kanal_id), "tat", "paused")
        backlog = max(float(tat or 0) - now, 0.0)
        pause = max(float(paused or 0) - now, 0.0)
        print(
            f"kanal store {kanal_id}: {config.rate_for(kanal_id)}/min, "
            f"budget booked {backlog:.0f}s ahead" + (f", paused {pause:.0f}s" if pause else "")
        )
        waiting = limiter.bulk_pending(kanal_id)
        if waiting:
            print(f"  {waiting} backfill/reconcile record(s) waiting for slots live traffic leaves")
        hold = limiter.held(kanal_id)
        if hold is not None:
            print(
                f"  HELD for {now - hold.since:.0f}s: {HOLD_REASONS.get(hold.reason, hold.reason)}"
                f" ({hold.status}, first refused for {hold.store}); "
                f"{limiter.parked(kanal_id)} record(s) waiting, next probe in "
                f"{max(hold.probe_at - now, 0):.0f}s (probe {hold.probes})"
            )
    reading = health.read(client, config, now)
    print(store_table(reading, color=sys.stdout.isatty() and "NO_COLOR" not in os.environ))
    return 0


# What `status` says for each reason a Kanal store is held.
HOLD_REASONS = {
    "key_rejected": "Kanal rejects the API key (unknown, revoked, or not for this store)",
    "store_paused": "the store does not exist or is paused in Kanal",
}


_COLORS = {
    "failing": "\033[1;31m",
    "paused": "\033[1;35m",
    "degraded": "\033[33m",
    "ok": "\033[32m",
}
_COLUMNS = ("STORE", "STATE", "LAST WEBHOOK", "LAST PUSH", "PENDING", "OLDEST", "FAILED", "CALLS/H")


def store_table(reading: health.Health, color: bool = False) -> str:
    """The per-store part of `kanal-bridge status`: Redis, then one line per store (worst
    first) with the reasons of any store that is not ok below it, as on /status."""
    now = reading.generated_at
    lines = []
    usage = reading.deployment.redis
    if usage is not None:
        lines.append(f"redis: {capacity.describe(usage)}")
    lines.extend(f"warning: {text}" for text in reading.deployment.warnings)
    if reading.deployment.workers == 0:
        lines.append("warning: no worker is running: nothing reaches Kanal")
    rows = [_COLUMNS]
    for store in reading.stores:
        rows.append(
            (
                store.store,
                store.state.upper() if store.state in ("failing", "paused") else store.state,
                _ago(store.webhook_at, now),
                _ago(store.push_at, now),
                str(store.pending),
                health.duration(store.oldest_pending_seconds) if store.pending else "-",
                str(store.failed),
                f"{store.calls_last_hour:.0f}/{store.budget_per_hour:,}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines.append("")
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        row_store = reading.stores[index - 1] if index else None
        if color and row_store is not None:
            cells[1] = f"{_COLORS[row_store.state]}{cells[1]}\033[0m"
        lines.append("  ".join(cells).rstrip())
        if row_store is not None:
            lines.extend(f"    - {condition.summary}" for condition in row_store.conditions)
            if row_store.backfill:
                lines.append(f"    backfill {progress.summary(row_store.backfill, now)}")
    return "\n".join(lines)


def _ago(at: float | None, now: float) -> str:
    return "never" if at is None else health.ago(now - at)
