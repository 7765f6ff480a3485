"""Rescue pending records whose job is gone (its worker was killed, or it crashed).

Every pending record names the one job that will push it. If that job no longer exists, or
ended without settling the record, or has been "started" for longer than any push can take
(its worker died with SIGKILL), the record is handed over to a fresh job. Nothing acknowledged
is ever left without a job for longer than SWEEP_INTERVAL + SWEEP_GRACE + JOB_TIMEOUT.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import redis

from bridge import defaults
from bridge.delivery import jobs
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
            pipe.hmget(key, "job", "status")
        owners = pipe.execute()
    gone = [key for key, (_, status) in zip(keys, owners, strict=True) if status is None]
    if gone:
        client.zrem(PENDING_KEY, *gone)  # the records themselves expired or were removed
    checks = [
        (key, job_id.decode())
        for key, (job_id, status) in zip(keys, owners, strict=True)
        if status == b"pending" and job_id
    ]
    with client.pipeline(transaction=False) as pipe:
        for _, job_id in checks:
            pipe.hmget(jobs.job_key(job_id), "status", "started_at")
        states = pipe.execute()
    records = WorkerRecords(client)
    rescued = 0
    for (key, job_id), (status, started_at) in zip(checks, states, strict=True):
        if status in _ALIVE:
            continue
        if status == b"started" and not _started_long_ago(started_at, now):
            continue
        if records.handoff(key, job_id, now) is not None:
            rescued += 1
            log.warning(
                "rescued a push whose job was lost",
                extra={"record": key.split(":", 2)[-1], "lost_job": job_id},
            )
    return rescued
