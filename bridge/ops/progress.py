"""How far a backfill has come, read from `kb:backfill:{store}` (bridge/platforms/backfill.py)
and the bulk lane: the command's progress bar and lines, `--status`, `kanal-bridge status`
and the status page. Light on imports: the web process shows it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import redis

from bridge import defaults

RUNNING, DONE = "running", "done"


class Lane(Protocol):
    def bulk_pending(self, kanal_store_id: int) -> int: ...


def backfill_key(store: str) -> str:
    return f"{defaults.KEY_PREFIX}:backfill:{store}"


def text(raw: Mapping[bytes, bytes] | Mapping[str, str]) -> dict[str, str]:
    """A Redis hash as str -> str."""
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in raw.items()
    }


def totals(fields: Mapping[str, str], outcome: str) -> dict[str, int]:
    """`{resource: amount}` of one counter family (`fetched`, `queued`...)."""
    prefix = f"{outcome}:"
    return {k[len(prefix) :]: int(v) for k, v in fields.items() if k.startswith(prefix)}


def duration(seconds: float) -> str:
    """A human duration: "45 s", "12 min", "3 h 25 min", "2 d 4 h"."""
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@dataclass
class Progress:
    """Where a backfill stands, from its hash (and the bulk lane, when read live)."""

    store: str
    state: str
    resources: list[str]
    total: dict[str, int]
    fetched: dict[str, int]
    queued: dict[str, int]
    held: dict[str, int]
    skipped: dict[str, int]
    waiting: int
    failed: int
    started_at: float
    finished_at: float | None
    rate: int
    error: str | None
    now: float

    @property
    def delivered(self) -> int:
        """Records Kanal took (those queued less those still waiting in the bulk lane)."""
        return max(sum(self.queued.values()) - self.waiting - self.failed, 0)

    @property
    def fraction(self) -> float:
        """Share of the work done: records read (each weighed by whether it needs a call) and
        delivered."""
        total = sum(self.total.values())
        if self.state == DONE and not self.waiting:
            return 1.0
        if not total:
            return 0.0
        fetched = min(sum(self.fetched.values()), total)
        queued = sum(self.queued.values())
        share = queued / fetched if fetched else 1.0
        calls = max((total - fetched) * share + queued, 1.0)
        return min(self.delivered / calls, 1.0)

    @property
    def calls_per_minute(self) -> float:
        """Kanal calls a minute, as measured since the start (the budget before any)."""
        minutes = ((self.finished_at or self.now) - self.started_at) / 60
        if minutes >= 1 and self.delivered:
            return self.delivered / minutes
        return float(self.rate)

    @property
    def seconds_left(self) -> float:
        """Time left at the measured rate: calls left (records still to read, weighed by the
        share that needed a call so far, plus those waiting) over calls a minute."""
        if self.state != RUNNING and not self.waiting:
            return 0.0
        total, fetched = sum(self.total.values()), sum(self.fetched.values())
        queued = sum(self.queued.values())
        share = queued / fetched if fetched else 1.0
        calls = max(total - fetched, 0) * share + self.waiting
        if self.state != RUNNING:
            calls = self.waiting
        return calls / max(self.calls_per_minute, 0.1) * 60


def progress(
    client: redis.Redis, store: str, sink: Lane | None = None, now: float | None = None
) -> Progress | None:
    """The store's backfill (None when it never had one); `sink` reads the bulk lane now."""
    fields = text(client.hgetall(backfill_key(store)))  # type: ignore[arg-type]
    if not fields:
        return None
    now = time.time() if now is None else now
    waiting = int(fields.get("waiting") or 0)
    if sink is not None and fields.get("kanal_store_id"):
        waiting = sink.bulk_pending(int(fields["kanal_store_id"]))
    started = float(fields.get("started_at") or now)
    return Progress(
        store=store,
        state=fields.get("state", ""),
        resources=[r for r in (fields.get("resources") or "").split(",") if r],
        total=totals(fields, "total"),
        fetched=totals(fields, "fetched"),
        queued=totals(fields, "queued"),
        held=totals(fields, "held"),
        skipped=totals(fields, "skipped"),
        waiting=waiting,
        failed=_failed_since(client, store, started, now),
        started_at=started,
        finished_at=float(fields["finished_at"]) if fields.get("finished_at") else None,
        rate=int(fields.get("rate") or defaults.REQUESTS_PER_MINUTE),
        error=fields.get("error"),
        now=now,
    )


def _failed_since(client: redis.Redis, store: str, started: float, now: float) -> int:
    """Records of the store that went to the failed registry since `started` (the hourly
    counts the metrics keep; live records among them, if any failed meanwhile)."""
    from bridge.metrics import hour_key

    hours = range(int(started // 3600), int(now // 3600) + 1)
    with client.pipeline(transaction=False) as pipe:
        for hour in hours:
            pipe.hget(hour_key(store, hour), "failed")
        values = pipe.execute()
    return int(sum(float(value) for value in values if value))


def summary(fields: Mapping[str, str], now: float | None = None) -> str:
    """One line about a backfill, from its hash alone (the status page, `kanal-bridge status`)."""
    if not fields:
        return "no backfill"
    now = time.time() if now is None else now
    total = sum(totals(fields, "total").values())
    fetched = sum(totals(fields, "fetched").values())
    queued = sum(totals(fields, "queued").values())
    waiting = int(fields.get("waiting") or 0)
    state = fields.get("state", "?")
    delivered = max(queued - waiting, 0)
    text = f"{state}: {fetched:,} of {total:,} read, {queued:,} queued, ~{delivered:,} delivered"
    if state == RUNNING:
        started = float(fields.get("started_at") or now)
        minutes = (now - started) / 60
        rate = (
            delivered / minutes if minutes >= 1 and delivered else float(fields.get("rate") or 60)
        )
        share = queued / fetched if fetched else 1.0
        left = (max(total - fetched, 0) * share + waiting) / max(rate, 0.1) * 60
        text += f", about {duration(left)} left"
    if fields.get("error"):
        text += f" (last error: {fields['error'][:120]})"
    return text


def render(found: Progress, *, bar: bool, width: int = 24) -> str:
    """A progress line: with a bar (a terminal), or plain (logs, pipes)."""
    parts = []
    for resource in found.resources:
        total = found.total.get(resource, 0)
        parts.append(f"{resource} {found.fetched.get(resource, 0):,}/{total:,}")
    figures = (
        f"read {' · '.join(parts)}; queued {sum(found.queued.values()):,}; "
        f"delivered {found.delivered:,}; failed {found.failed:,}; "
        f"{found.calls_per_minute:.0f} calls/min"
    )
    if found.state == RUNNING or found.waiting:
        figures += f"; about {duration(found.seconds_left)} left"
    else:
        figures += f"; {found.state}"
    percent = f"{found.fraction * 100:3.0f}%"
    if bar:
        filled = int(found.fraction * width)
        return f"[{'#' * filled}{'.' * (width - filled)}] {percent}  {figures}"
    return f"backfill {found.store}: {percent} {figures}"


def describe(found: Progress) -> list[str]:
    """`backfill STORE --status`: the whole picture, a line each."""
    lines = [
        f"backfill of {found.store}: {found.state}, started "
        f"{datetime.fromtimestamp(found.started_at, UTC):%Y-%m-%d %H:%M} UTC"
    ]
    for resource in found.resources:
        lines.append(
            f"  {resource}: {found.fetched.get(resource, 0):,} of "
            f"{found.total.get(resource, 0):,} read; {found.queued.get(resource, 0):,} queued, "
            f"{found.held.get(resource, 0):,} already in Kanal, "
            f"{found.skipped.get(resource, 0):,} with nothing to send"
        )
    lines.append(
        f"  delivered {found.delivered:,}, waiting {found.waiting:,}, failed {found.failed:,}; "
        f"{found.calls_per_minute:.0f} calls/min"
        + (f"; about {duration(found.seconds_left)} left" if found.state == RUNNING else "")
    )
    if found.error:
        lines.append(f"  last error: {found.error}")
    return lines


def as_json(found: Progress) -> dict[str, Any]:
    return {
        "store": found.store,
        "state": found.state,
        "total": found.total,
        "fetched": found.fetched,
        "queued": found.queued,
        "held": found.held,
        "skipped": found.skipped,
        "delivered": found.delivered,
        "waiting": found.waiting,
        "failed": found.failed,
        "calls_per_minute": round(found.calls_per_minute, 1),
        "seconds_left": round(found.seconds_left),
    }
