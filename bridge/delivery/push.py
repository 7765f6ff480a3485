"""The push job: send one record's latest state to Kanal, paced, retried, never twice.

`push` is what every RQ job runs. It claims the record (only the job the record names may
push it), works out the one call that brings Kanal up to date (`plan`), waits for the
store's budget by rescheduling itself rather than sleeping, and settles the outcome:
done, a newer state to push, a retry later, or a permanent failure for the failed registry.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from redis.client import Pipeline
from rq import get_current_job

from bridge import defaults, metrics
from bridge.config import BridgeConfig
from bridge.delivery import jobs
from bridge.delivery.kanal import Call, KanalClient
from bridge.delivery.limiter import Limiter, interval_for
from bridge.delivery.records import PATCHABLE, Record, WorkerRecords, record_key
from bridge.errors import (
    KanalError,
    KanalNotFound,
    KanalPermanent,
    KanalRateLimited,
    KanalStoreRejected,
    KanalTransient,
    KanalUnanswered,
)
from mappers.kanal import encode

log = logging.getLogger("bridge.delivery.push")

# A record that must wait for another one (a shipment for its order) looks again this soon.
DEPENDENCY_WAIT = 5.0


@dataclass
class Runtime:
    """What a worker process shares between jobs: config, the pooled Kanal client, and the
    record store and pacer (both on the worker's Redis connection)."""

    config: BridgeConfig
    kanal: KanalClient
    records: WorkerRecords
    limiter: Limiter


_runtime: Runtime | None = None


def install(runtime: Runtime) -> None:
    """Make `runtime` the one the push jobs of this process use."""
    global _runtime
    _runtime = runtime


def runtime() -> Runtime:
    """The process's runtime (installed by the worker at start-up)."""
    if _runtime is None:
        raise RuntimeError("bridge.delivery.install() was not called in this process")
    return _runtime


@dataclass(frozen=True, slots=True)
class Start:
    """What the worker did for a job as it started it, in the same round trip
    (bridge/worker.py): the record it claimed for the job, when the pause of Kanal store
    `kanal_store_id` ends (None: not read), and the job's success for RQ (`succeed`), which
    push() sends with the record's settle instead of in a round trip of its own."""

    job_id: str
    key: str
    record: Record | None
    kanal_store_id: int | None = None
    paused_until: float | None = None
    succeed: Callable[[Pipeline], None] | None = None


# One at a time: a worker runs its jobs one by one.
_started: Start | None = None


def started(start: Start) -> None:
    """The worker started `start.job_id` and claimed its record: push() takes it from here."""
    global _started
    _started = start


def _take_start(key: str, job_id: str) -> Start | None:
    global _started
    found, _started = _started, None
    return found if found is not None and (found.job_id, found.key) == (job_id, key) else None


def on_time(slot: float | None, now: float) -> bool:
    """A push due at a call slot it took earlier, starting close enough to it to use it (one
    that starts later would crowd the store's minute: it takes a new slot)."""
    return slot is not None and now - slot <= defaults.LATE_SLOT_SECONDS


def _loads(data: bytes) -> Any:
    return json.loads(data, parse_float=Decimal)


def plan(record: Record) -> Call | None:
    """The one call that brings Kanal from what it holds to the record's latest state."""
    path = f"{record.resource}/{quote(record.external_id, safe='')}"
    if record.op == "delete":
        return Call("DELETE", path)
    overlay: dict[str, Any] = _loads(record.overlay) if record.overlay else {}
    patchable = PATCHABLE.get(record.resource, ())
    if record.finished or record.body is None:
        # A finished checkout is never POSTed (no reminder after the purchase), and a record
        # without a body can only be PATCHed: Kanal hears the overlay, when it holds the record.
        if overlay and record.delivered and patchable:
            return Call("PATCH", path, encode(overlay))
        return None
    if not patchable:
        # Customers and shipments: the overlay (figures, carrier status) goes into the POST.
        if record.delivered and record.full == record.delivered_full and not overlay:
            return None
        return Call("POST", record.resource, encode({**_loads(record.body), **overlay}))
    if record.delivered and record.core == record.delivered_core:
        if record.full == record.delivered_full and not overlay:
            return None
        body = _loads(record.body)
        fields: dict[str, Any] = {"tags": [], "metadata": {}}
        fields.update({name: body[name] for name in patchable if name in body})
        fields.update(overlay)
        return Call("PATCH", path, encode(fields))
    if record.full == record.delivered_full and not overlay:
        return None
    body = _loads(record.body)
    body.update({k: v for k, v in overlay.items() if k != "status"})
    return Call("POST", record.resource, encode(body))


def retry_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1-based), with jitter."""
    base = defaults.RETRY_DELAYS[min(attempt, len(defaults.RETRY_DELAYS)) - 1]
    spread = defaults.RETRY_JITTER
    return float(base) * (rng or random).uniform(1 - spread, 1 + spread)


def push(key: str, slot: float | None = None) -> str:
    """Bring Kanal up to date with one record; returns what happened (the job's result)."""
    rt = runtime()
    job = get_current_job()
    job_id = job.id if job else "direct"
    start = _take_start(key, job_id)
    record = start.record if start else rt.records.claim(key, job_id)
    record = record or _claim_moved(rt, key, job_id)
    if record is None:
        return "superseded"
    store = rt.config.stores.get(record.store)
    if store is None:
        error = KanalPermanent(f"store {record.store!r} is no longer configured")
        rt.records.fail(record, job_id, str(error))
        raise error

    now = time.time()
    if record.not_before > now:
        rt.records.handoff(record.key, job_id, record.not_before, store=record.store)
        return f"held until {record.not_before:.0f}"
    if record.after and rt.records.is_pending(record.after):
        rt.records.handoff(record.key, job_id, now + DEPENDENCY_WAIT, store=record.store)
        return "waiting for " + jobs.describe(record.after, record.store)

    kanal_id = store.kanal_store_id
    call = plan(record)
    succeed = start.succeed if start else None
    if call is None:
        return _settle(rt, record, job_id, None, kanal_id, succeed)

    if not on_time(slot, now) or _paused_until(rt, kanal_id, start) > now:
        rate = rt.config.rate_for(kanal_id)
        turn = rt.limiter.take(kanal_id, rate, record.key, job_id, now, bulk=record.bulk)
        if turn.kind == "bulk":
            return "bulk: waits for a call slot live traffic leaves free"
        if turn.kind == "parked":
            metrics.push_outcome(record.store, "parked")
            return f"parked: Kanal store {kanal_id} is held"
        if turn.kind == "lost":
            return "superseded"
        if turn.kind == "probe":
            rt.records.handoff(record.key, job_id, turn.at, store=record.store)
            return f"probes held Kanal store {kanal_id} at {turn.at:.0f}"
        slot = turn.at
        if slot > now:
            metrics.budget_wait(record.store, slot - now)
            rt.records.handoff(record.key, job_id, slot, slot=slot, store=record.store)
            return f"paced to {slot:.3f}"

    started = time.perf_counter()
    try:
        response = rt.kanal.send(kanal_id, store.kanal_api_key.get_secret_value(), call)
    except KanalError as exc:
        _called(record, call, exc.status, started, _OUTCOMES.get(type(exc), "failed"))
        return _failed(rt, record, job_id, call, exc)
    _called(record, call, response.status_code, started, "ok")
    if record.unsure:
        # A PATCH accepted: the unanswered POST had landed (and no automation fired twice).
        # A POST: the record changed beyond the PATCH-able fields meanwhile, sent either way.
        landed = "landed" if call.method == "PATCH" else "reposted"
        metrics.unanswered_post(record.store, record.resource, landed)
    return _settle(rt, record, job_id, call, kanal_id, succeed)


def _paused_until(rt: Runtime, kanal_id: int, start: Start | None) -> float:
    """When the Kanal store's pause ends: as the worker read it when it started the job, if it
    did for this store, else from Redis."""
    if start is not None and start.kanal_store_id == kanal_id and start.paused_until is not None:
        return start.paused_until
    return rt.limiter.paused_until(kanal_id)


def _claim_moved(rt: Runtime, key: str, job_id: str) -> Record | None:
    """A job of kanal-bridge 0.1 names its record by bridge store and unprefixed id; once a
    webhook moved that record to its current key, the job (a failed push retried, say)
    pushes it there, when the record has no other job."""
    _, _, owner, resource, external_id = key.split(":", 4)
    store = rt.config.stores.get(owner)
    if store is None:
        return None
    moved = record_key(store.kanal_store_id, resource, store.external_id_prefix + external_id)
    return rt.records.claim(moved, job_id) if moved != key else None


_OUTCOMES: dict[type[KanalError], str] = {
    KanalTransient: "transient",
    KanalUnanswered: "unanswered",
    KanalRateLimited: "rate_limited",
    KanalStoreRejected: "store_rejected",
    KanalPermanent: "permanent",
    KanalNotFound: "not_found",
}


def _called(record: Record, call: Call, status: int | None, started: float, outcome: str) -> None:
    """The one log line and the metrics of one Kanal call."""
    seconds = time.perf_counter() - started
    metrics.kanal_call(record.store, record.resource, call.method, status, seconds)
    log.log(
        logging.INFO if outcome == "ok" else logging.WARNING,
        "kanal %s %s -> %s",
        call.method,
        record.resource,
        status or "no answer",
        extra={
            "store": record.store,
            "resource": record.resource,
            "external_id": record.external_id,
            "method": call.method,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "outcome": outcome,
        },
    )


def _settle(
    rt: Runtime,
    record: Record,
    job_id: str,
    call: Call | None,
    kanal_id: int,
    succeed: Callable[[Pipeline], None] | None = None,
) -> str:
    outcome, held_since = rt.records.finish(
        record,
        job_id,
        core=record.core,
        full=record.full,
        overlay=record.overlay,
        kanal_store_id=kanal_id,
        requests_per_minute=rt.config.rate_for(kanal_id),
        held=call is not None or record.delivered,
        called=call is not None,
        also=succeed,
    )
    if held_since is not None:
        _resumed(rt, kanal_id, record, held_since)
    sent = f"{call.method} {call.path}" if call else "nothing to send"
    if outcome == "again":
        rt.records.handoff(record.key, job_id, time.time(), store=record.store)
        metrics.push_outcome(record.store, "newer_state")
        return f"{sent}; a newer state follows"
    metrics.push_outcome(record.store, "delivered" if call else "unchanged")
    log.info(
        "pushed",
        extra={
            "store": record.store,
            "resource": record.resource,
            "external_id": record.external_id,
            "call": sent,
            "outcome": outcome,
        },
    )
    return sent


def _resumed(rt: Runtime, kanal_id: int, record: Record, held_since: float) -> None:
    """Kanal accepts the held store again: every parked record gets its job back, paced."""
    interval = interval_for(rt.config.rate_for(kanal_id))
    resumed = rt.records.unpark(kanal_id, interval)
    log.warning(
        "kanal store accepted again: pushes resume",
        extra={
            "store": record.store,
            "kanal_store": kanal_id,
            "held_seconds": round(max(time.time() - held_since, 0.0)),
            "resumed": resumed,
        },
    )


def _unanswered_post(rt: Runtime, record: Record) -> None:
    """A POST went out and no answer came: it may have landed, and POSTing it again could
    fire Kanal's automations twice (a second WhatsApp message). A record Kanal did not hold
    before is probed with a PATCH first; one it held (a change beyond the PATCH-able fields)
    or one without a PATCH endpoint (customers, shipments) can only be POSTed again."""
    if record.resource in PATCHABLE and (record.unsure or not record.delivered):
        rt.records.mark_unsure(record)
    else:
        metrics.unanswered_post(record.store, record.resource, "reposted")


def _hold(rt: Runtime, record: Record, job_id: str, exc: KanalStoreRejected) -> str:
    """Kanal refused the whole store: hold it; this record probes or waits, nothing fails."""
    kanal_id = rt.config.stores[record.store].kanal_store_id
    turn = rt.limiter.hold(
        kanal_id,
        record.key,
        job_id,
        reason=exc.reason,
        status=exc.status,
        store=record.store,
    )
    if turn.kind == "held":
        metrics.kanal_held(record.store, exc.reason)
        log.error(
            "kanal refused the store: its pushes wait until Kanal accepts it again",
            extra={
                "store": record.store,
                "kanal_store": kanal_id,
                "reason": exc.reason,
                "status": exc.status,
                "probe_in_s": round(turn.at - time.time(), 1),
            },
        )
    if turn.kind in ("held", "probe"):
        rt.records.handoff(record.key, job_id, turn.at, store=record.store)
        metrics.push_outcome(record.store, "held")
        return f"{exc.status}: Kanal store {kanal_id} held ({exc.reason}); probe at {turn.at:.0f}"
    metrics.push_outcome(record.store, "parked")
    return f"{exc.status}: parked, Kanal store {kanal_id} is held ({exc.reason})"


def _failed(rt: Runtime, record: Record, job_id: str, call: Call, exc: KanalError) -> str:
    now = time.time()
    store = rt.config.stores[record.store]
    if isinstance(exc, KanalStoreRejected):
        return _hold(rt, record, job_id, exc)
    if isinstance(exc, KanalPermanent):
        # Kanal answered about the record itself: its key and store work. If this record was
        # probing a held store, the store is released.
        held_since = rt.limiter.release(store.kanal_store_id, record.key)
        if held_since is not None:
            _resumed(rt, store.kanal_store_id, record, held_since)
    if isinstance(exc, KanalNotFound) and record.unsure:
        # The probe of an unanswered POST: it did not land. POST it again (or, for a
        # finished checkout, nothing: Kanal never held it).
        rt.records.forget_unsure(record.key)
        rt.records.handoff(record.key, job_id, now, store=record.store)
        metrics.unanswered_post(record.store, record.resource, "not_landed")
        return f"{call.method} {call.path} answered 404: the unanswered POST did not land"
    if isinstance(exc, KanalUnanswered) and call.method == "POST":
        _unanswered_post(rt, record)
    if isinstance(exc, KanalNotFound) and record.body is not None and not record.finished:
        # PATCH of a record Kanal does not hold: POST it whole instead.
        rt.records.forget_held_core(record.key)
        rt.records.handoff(record.key, job_id, now, store=record.store)
        metrics.push_outcome(record.store, "patch_not_found")
        return f"{call.method} {call.path} answered 404; posting the whole record"
    if isinstance(exc, KanalRateLimited):
        until = rt.limiter.pause(store.kanal_store_id, exc.retry_after, now)
        rt.records.handoff(record.key, job_id, until, store=record.store)
        metrics.rate_limited(record.store)
        return f"429: store paused for {exc.retry_after:.0f}s"
    if isinstance(exc, KanalTransient):
        attempt = record.attempts + 1
        if attempt <= len(defaults.RETRY_DELAYS):
            rt.records.handoff(
                record.key, job_id, now + retry_delay(attempt), failed=True, store=record.store
            )
            metrics.push_outcome(record.store, "retry")
            log.warning(
                "kanal transient failure, retrying",
                extra={
                    "store": record.store,
                    "resource": record.resource,
                    "external_id": record.external_id,
                    "status": exc.status,
                    "attempt": attempt,
                },
            )
            return f"attempt {attempt} failed ({exc.status or 'network'}); retry scheduled"
    rt.records.fail(record, job_id, str(exc))
    metrics.push_outcome(record.store, "failed")
    log.error(
        "kanal refused the push",
        extra={
            "store": record.store,
            "resource": record.resource,
            "external_id": record.external_id,
            "status": exc.status,
        },
    )
    raise exc
