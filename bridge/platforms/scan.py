"""A scan: windows of a shop's records read page by page into the record store, checkpointed
in Redis after every page, so that any worker (or the command line) can take the next page.

Backfill and reconciliation are both scans (bridge/platforms/backfill.py, reconcile.py); each
keeps its own hash (`kb:backfill:{store}`, `kb:reconcile:{store}`) with these fields:

    state          running | done | cancelled (absent: no scan yet)
    windows        JSON list of the windows to read, in order (`sources.Window.as_json`)
    window         index of the window being read
    cursor         JSON cursor of the next page in that window ("": its first page)
    seq            pages committed so far; a page is committed only if no one else committed
                   one since it was read (two runs of the same page count it once)
    started_at     when the scan began; finished_at when it ended (unix seconds)
    fetched:{r}    records read, per resource
    queued:{r}     records the record store accepted: Kanal will get them
    held:{r}       records Kanal already holds at that version (or newer): no call
    skipped:{r}    records with nothing to send (no phone, a draft, a completed checkout...)
    api_calls      requests made to the shop; api_cost Shopify cost points spent
    waiting        bulk records waiting for Kanal when the last page was read
    error, error_at    the last failure (absent after a good page)

Flow control: a page is read only while few records of the scan's Kanal store wait in the
bulk lane (`ahead`: a few pages, or half a minute of the store's budget), so the bulk lane is
fed progressively and never holds thousands of records; the next page is due when the lane
has drained to half of that. One page at a time per shop, whatever reads it (a Redis lock per
store): WooCommerce runs on the merchant's own server.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import redis
from redis.typing import EncodableT, FieldT

from bridge import defaults
from bridge.ops.progress import text
from bridge.platforms.sources import Source, Window, kanal_resource, without_shipments
from mappers import Action, Ignored

RUNNING, DONE, CANCELLED = "running", "done", "cancelled"

# What the record store answers for a fetched record → what the scan counts it as.
_COUNTED = {
    "accepted": "queued",
    "duplicate": "held",
    "stale": "held",
    "finished": "skipped",
    "noted": "skipped",
    "unknown_record": "skipped",
}


class Sink(Protocol):
    """Where fetched records go: the record store's way in for them (delivery workstream)."""

    def accept_fetched(self, store: str, actions: Sequence[Action], *, bulk: bool) -> str:
        """Store a fetched record's actions; accepted | duplicate | stale | finished | ..."""
        ...

    def bulk_pending(self, kanal_store_id: int) -> int:
        """How many bulk records of that Kanal store wait for a push."""
        ...


@dataclass
class Page:
    """What one page did: records per resource and outcome, and the records found (queued)."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    found: list[tuple[str, str]] = field(default_factory=list)  # (resource, external id)
    done: bool = False
    committed: bool = True

    def count(self, resource: str, outcome: str) -> None:
        by_outcome = self.counts.setdefault(resource, {})
        by_outcome[outcome] = by_outcome.get(outcome, 0) + 1


def read(client: redis.Redis, key: str) -> dict[str, str]:
    """The scan's hash (empty when there is none)."""
    return text(client.hgetall(key))  # type: ignore[arg-type]


def windows(fields: Mapping[str, str]) -> list[Window]:
    return [Window.from_json(item) for item in json.loads(fields.get("windows") or "[]")]


Fields = dict[FieldT, EncodableT]


def fresh(scan_windows: Sequence[Window], now: float, **extra: EncodableT) -> Fields:
    """The fields of a new running scan over `scan_windows`."""
    fields: Fields = {
        "state": RUNNING,
        "windows": json.dumps([w.as_json() for w in scan_windows]),
        "window": 0,
        "cursor": "",
        "seq": 0,
        "started_at": repr(now),
    }
    fields.update(extra)
    return fields


def feed(sink: Sink, store: str, records: Sequence[list[Action]], page: Page, scanned: str) -> None:
    """Hand each record's actions to the record store (as bulk traffic) and count them."""
    resource = kanal_resource(scanned)
    for actions in records:
        todo = [action for action in actions if not isinstance(action, Ignored)]
        if not todo:
            page.count(resource, "skipped")
            continue
        answer = sink.accept_fetched(store, todo, bulk=True)
        outcome = _COUNTED.get(answer, "skipped")
        page.count(resource, outcome)
        if outcome == "queued":
            page.found.append((resource, getattr(todo[0], "external_id", "?")))


def read_page(
    client: redis.Redis,
    key: str,
    store: str,
    source: Source,
    sink: Sink,
    *,
    drop_shipments: bool = False,
    now: float | None = None,
) -> Page | None:
    """Read the scan's next page into the record store and commit it; None when the scan is
    not running. Raises what the source raises (nothing is committed then)."""
    fields = read(client, key)
    if fields.get("state") != RUNNING:
        return None
    todo = windows(fields)
    index = int(fields.get("window") or 0)
    page = Page()
    if index >= len(todo):
        page.done = True
        _commit(client, key, fields, page, index, "", now)
        return page
    window = todo[index]
    cursor = json.loads(fields["cursor"]) if fields.get("cursor") else None
    calls_before, cost_before = source.spent()
    fetched = source.page(window, cursor)
    records = without_shipments(fetched.records) if drop_shipments else fetched.records
    feed(sink, store, records, page, window.resource)
    calls, cost = source.spent()
    page.counts.setdefault(kanal_resource(window.resource), {})["fetched"] = len(records)
    if fetched.done:
        index, following = index + 1, ""
    else:
        following = json.dumps(fetched.cursor)
    page.done = index >= len(todo)
    _commit(
        client,
        key,
        fields,
        page,
        index,
        following,
        now,
        calls=calls - calls_before,
        cost=cost - cost_before,
    )
    return page


def _commit(
    client: redis.Redis,
    key: str,
    read_fields: Mapping[str, str],
    page: Page,
    index: int,
    cursor: str,
    now: float | None,
    *,
    calls: int = 0,
    cost: int = 0,
) -> None:
    """Move the checkpoint past the page, unless another run committed since it was read."""
    now = time.time() if now is None else now
    seq = read_fields.get("seq", "0")

    def apply(pipe: redis.client.Pipeline) -> None:
        current_seq, state = pipe.hmget(key, "seq", "state")
        if _str(current_seq) != seq or _str(state) != RUNNING:
            page.committed = False
            return
        pipe.multi()
        pipe.hset(key, mapping={"window": index, "cursor": cursor, "seq": int(seq) + 1})
        for resource, outcomes in page.counts.items():
            for outcome, amount in outcomes.items():
                if amount:
                    pipe.hincrby(key, f"{outcome}:{resource}", amount)
        if calls:
            pipe.hincrby(key, "api_calls", calls)
        if cost:
            pipe.hincrby(key, "api_cost", cost)
        pipe.hdel(key, "error", "error_at")
        if page.done:
            pipe.hset(key, mapping={"state": DONE, "finished_at": repr(now)})

    client.transaction(apply, key)


def _str(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)


def note_error(client: redis.Redis, key: str, error: str, now: float | None = None) -> None:
    """Remember why the last page failed (for status displays); the scan stays running."""
    client.hset(key, mapping={"error": error[:300], "error_at": repr(now or time.time())})


def ahead(page_size: int, requests_per_minute: int) -> int:
    """How many bulk records may wait before the next page is read: a few pages, or half a
    minute of the Kanal store's budget, whichever is more."""
    return max(defaults.SCAN_PAGES_AHEAD * page_size, requests_per_minute // 2)


def wait_for_room(pending: int, limit: int, requests_per_minute: int) -> float:
    """Seconds until the bulk lane has drained to half of `limit` (0: read a page now)."""
    if pending < limit:
        return 0.0
    per_second = max(requests_per_minute, 1) / 60.0
    seconds = (pending - limit / 2) / per_second
    return min(max(seconds, defaults.SCAN_MIN_WAIT), defaults.SCAN_MAX_WAIT)


@contextlib.contextmanager
def shop_lock(client: redis.Redis, store: str) -> Iterator[bool]:
    """Hold the store's shop lock while reading a page (True), or yield False when another
    page of that shop is being read."""
    lock = client.lock(
        f"{defaults.KEY_PREFIX}:lock:shop-api:{store}",
        timeout=defaults.PLATFORM_PAGE_LOCK_SECONDS,
        blocking_timeout=0,
    )
    if not lock.acquire():
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()
