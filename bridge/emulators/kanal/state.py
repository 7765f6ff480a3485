"""What the emulator holds in memory: stores and keys, records, the request log, faults."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bridge.emulators.kanal.ratelimit import SlidingWindow

RESOURCES = ("orders", "checkouts", "customers", "shipments")
DEFAULT_RPM = 60


@dataclass(slots=True)
class EmulatorStore:
    """One Kanal store: its API keys (a key listed on several stores is team-wide) and limit."""

    id: int
    keys: set[str] = field(default_factory=set)
    requests_per_minute: int = DEFAULT_RPM
    paused: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "keys": sorted(self.keys),
            "requests_per_minute": self.requests_per_minute,
            "paused": self.paused,
        }


@dataclass(slots=True)
class Record:
    """What Kanal holds for one (store, resource, key): `version` counts the writes."""

    body: dict[str, Any]
    version: int = 1
    deleted: bool = False
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return {
            "body": self.body,
            "version": self.version,
            "deleted": self.deleted,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(slots=True)
class Fault:
    """The next `count` matching requests get this answer instead of being processed; or,
    `applied`, are processed as usual and answered `delay_ms` late (a write that lands while
    its answer outlives the client's timeout; `status` is then unused)."""

    status: int
    count: int = 1
    store_id: int | None = None
    method: str | None = None
    path_contains: str | None = None
    body: Any = None
    retry_after: int | None = None
    delay_ms: int = 0
    applied: bool = False

    def matches(self, method: str, path: str, store_id: int, applied: bool = False) -> bool:
        return (
            self.applied == applied
            and (self.store_id is None or self.store_id == store_id)
            and (self.method is None or self.method == method)
            and (self.path_contains is None or self.path_contains in path)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "count": self.count,
            "store_id": self.store_id,
            "method": self.method,
            "path_contains": self.path_contains,
            "body": self.body,
            "retry_after": self.retry_after,
            "delay_ms": self.delay_ms,
            "applied": self.applied,
        }


class EmulatorState:
    """Everything the emulator knows; mutated only from the event loop (no locks needed)."""

    def __init__(
        self,
        stores: Iterable[EmulatorStore],
        *,
        clock: Callable[[], float] = time.monotonic,
        log_limit: int | None = None,
    ) -> None:
        self.clock = clock
        self.stores: dict[int, EmulatorStore] = {}
        self.limiters: dict[int, SlidingWindow] = {}
        self.key_stores: dict[str, set[int]] = {}
        self.records: dict[int, dict[str, dict[str, Record]]] = {}
        self.requests: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self.seq = 0
        self.faults: list[Fault] = []
        self.latency_ms = 0
        self.by_status: Counter[int] = Counter()
        self.store_status: dict[int, Counter[int]] = {}
        self.throttled: Counter[int] = Counter()  # 429s from the limiter (not injected), by store
        for store in stores:
            self.put_store(store)

    def put_store(self, store: EmulatorStore) -> None:
        self.stores[store.id] = store
        limiter = self.limiters.get(store.id)
        if limiter is None:
            self.limiters[store.id] = SlidingWindow(store.requests_per_minute, clock=self.clock)
        else:
            limiter.limit = store.requests_per_minute
        self.records.setdefault(store.id, {resource: {} for resource in RESOURCES})
        self._index_keys()

    def _index_keys(self) -> None:
        self.key_stores = {}
        for store in self.stores.values():
            for key in store.keys:
                self.key_stores.setdefault(key, set()).add(store.id)

    def set_paused(self, store_ids: Iterable[int]) -> None:
        paused = set(store_ids)
        for store in self.stores.values():
            store.paused = store.id in paused

    def take_fault(
        self, method: str, path: str, store_id: int, applied: bool = False
    ) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path, store_id, applied):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def log(
        self, method: str, path: str, store_id: int | None, status: int, body: Any, key: str | None
    ) -> None:
        self.seq += 1
        self.requests.append(
            {
                "seq": self.seq,
                "time": time.time(),
                "method": method,
                "path": path,
                "store_id": store_id,
                "status": status,
                "body": body,
                "key": key,
            }
        )
        self.by_status[status] += 1
        if store_id is not None:
            self.store_status.setdefault(store_id, Counter())[status] += 1

    def reset(self) -> None:
        """Forget records, requests, faults, latency, pauses, stats and windows; keep stores."""
        self.records = {sid: {resource: {} for resource in RESOURCES} for sid in self.stores}
        self.requests.clear()
        self.seq = 0
        self.faults.clear()
        self.latency_ms = 0
        self.set_paused(())
        self.by_status.clear()
        self.store_status.clear()
        self.throttled.clear()
        for limiter in self.limiters.values():
            limiter.reset()

    def stats(self) -> dict[str, Any]:
        def summary(counts: Counter[int], throttled: int) -> dict[str, Any]:
            return {
                "total": sum(counts.values()),
                "by_status": {str(status): n for status, n in sorted(counts.items())},
                "rate_limited": throttled,
            }

        return {
            **summary(self.by_status, sum(self.throttled.values())),
            "stores": {
                str(sid): summary(counts, self.throttled[sid])
                for sid, counts in sorted(self.store_status.items())
            },
        }

    def records_json(self, store_id: int | None, resource: str | None) -> dict[str, Any]:
        return {
            str(sid): {
                name: {key: record.as_json() for key, record in held.items()}
                for name, held in resources.items()
                if resource is None or name == resource
            }
            for sid, resources in self.records.items()
            if store_id is None or sid == store_id
        }
