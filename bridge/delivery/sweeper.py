"""Rescue pending records whose job is gone (its worker was killed, or it crashed).

Every pending record names the one job that will push it. If that job no longer exists, or
ended without settling the record, or has been "started" for longer than any push can take
(its worker died with SIGKILL), the record is handed over to a fresh job. Nothing acknowledged
is ever left without a job for longer than SWEEP_INTERVAL + SWEEP_GRACE + JOB_TIMEOUT.

Records parked while their Kanal store is held have no job on purpose. They get one back if
the release did not reach them (its worker died half-way), and a held store whose probe is
gone (failed, delivered, lost) gets a parked record as its new probe.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import redis

from bridge import defaults
from bridge.delivery import jobs
from bridge.delivery.limiter import pace_key
from bridge.delivery.records import PENDING_KEY, WorkerRecords

log = logging.getLogger("bridge.delivery.sweeper")

_ALIVE = {b"scheduled", b"queued", b"deferred"}


def _started_long_ago(started_at: bytes | None, now: float) -> bool:
    if not started_at:
        return True
    try:
        started = datetime.fromisoformat(started_at.decode().replace("Z", "+00:00"))
    except ValueError:
        return True
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return now - started.timestamp() > defaults.JOB_TIMEOUT + defaults.SWEEP_GRACE


def sweep(client: redis.Redis, now: float | None = None) -> int:
    """Hand every orphaned pending record to a new job; returns how many were rescued."""
    now = time.time() if now is None else now
    due = client.zrangebyscore(PENDING_KEY, 0, now - defaults.SWEEP_GRACE)
    keys = [key.decode() for key in due if isinstance(key, bytes)]
    if not keys:
        return 0
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, "job", "status", "store", "wait")
        owners = [[_text(value) for value in row] for row in pipe.execute()]
    gone = [key for key, (_, status, _, _) in zip(keys, owners, strict=True) if not status]
    if gone:
        client.zrem(PENDING_KEY, *gone)  # the records themselves expired or were removed
    checks = []
    parked: dict[str, list[tuple[str, str]]] = {}
    records = WorkerRecords(client)
    rescued = 0
    for key, (job_id, status, store, wait) in zip(keys, owners, strict=True):
        if status != "pending":
            continue
        if job_id:
            checks.append((key, job_id, store))
        elif wait == "parked":
            parked.setdefault(key.split(":")[2], []).append((key, store))
        elif records.handoff(key, "", now, store=store or None) is not None:
            rescued += 1  # pending without a job and without a reason to wait
            log.warning("rescued a pending record without a job", extra={"record": key})
    with client.pipeline(transaction=False) as pipe:
        for _, job_id, _ in checks:
            pipe.hmget(jobs.job_key(job_id), "status", "started_at")
            pipe.lpos(jobs.QUEUE_KEY, job_id)
        replies = pipe.execute()
    states = zip(replies[::2], replies[1::2], strict=True)
    for (key, job_id, store), ((state, started_at), queued_at) in zip(checks, states, strict=True):
        if state == b"queued" and queued_at is None:
            # Popped by a worker that died before it started the job (a worker taking more
            # than one queue pops with BLPOP, which leaves no trace): nobody will run it.
            state = b"lost"
        if state in _ALIVE:
            continue
        if state == b"started" and not _started_long_ago(started_at, now):
            continue
        if records.handoff(key, job_id, now, store=store or None) is not None:
            # Gone with it: RQ's own cleanup would otherwise move the dead job to the failed
            # registry as abandoned, listing a failure for a record its new job delivers.
            client.delete(jobs.job_key(job_id))
            rescued += 1
            log.warning(
                "rescued a push whose job was lost",
                extra={"record": jobs.describe(key, store or None), "lost_job": job_id},
            )
    for kanal, waiting in parked.items():
        if kanal.isdigit():
            rescued += _parked(client, records, int(kanal), waiting, now)
    return rescued


def _parked(
    client: redis.Redis,
    records: WorkerRecords,
    kanal_store_id: int,
    waiting: list[tuple[str, str]],
    now: float,
) -> int:
    """Parked records of one Kanal store: all of them back to work when the store is no
    longer held; else, when its probe will never run again, the first becomes the probe."""
    pace = pace_key(kanal_store_id)
    reason, probe = (_text(v) for v in client.hmget(pace, "held_reason", "probe"))
    if not reason:
        return records.unpark(kanal_store_id, 0.0, now)
    if probe:
        status, job_id = (_text(v) for v in client.hmget(probe, "status", "job"))
        if status == "pending" and job_id:
            return 0
    key, store = waiting[0]
    client.hset(pace, "probe", key)
    log.warning("a held Kanal store lost its probe: another record probes", extra={"record": key})
    return 1 if records.handoff(key, "", now, store=store or None) is not None else 0


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")
