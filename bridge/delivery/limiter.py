"""Pacing per Kanal store, shared by every worker through Redis, and holding a store Kanal
refused as a whole.

Each Kanal store gets one call slot every `60 / requests_per_minute` seconds (less a small
margin, `defaults.PACING_MARGIN`), never earlier than a pause a 429 imposed. A job that
reserves a slot in the future is rescheduled to it instead of sleeping, so a worker is never
held up by a store without budget while other stores wait.

A 401, a 403 or a 404 on a POST is about the Kanal store (its key, or the store itself), not
about the record: the store is then *held*. Its records stay pending, parked without a job;
one of them, the probe, is retried with backoff (Kanal has no read endpoint, and an upsert is
idempotent); the first call Kanal accepts releases the store and every parked record gets
its job back. The state lives in the store's pace hash (fields in `scripts.py`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis
from redis.commands.core import Script

from bridge import defaults
from bridge.delivery import scripts

PENDING_KEY = f"{defaults.KEY_PREFIX}:pending"


PACE_PREFIX = f"{defaults.KEY_PREFIX}:pace:"


def pace_key(kanal_store_id: int) -> str:
    """The Redis key holding one Kanal store's pacing state."""
    return f"{PACE_PREFIX}{kanal_store_id}"


def parked_key(kanal_store_id: int) -> str:
    """The sorted set of a held Kanal store's parked records."""
    return f"{defaults.KEY_PREFIX}:parked:{kanal_store_id}"


def bulk_key(kanal_store_id: int | str) -> str:
    """The sorted set of a Kanal store's bulk records waiting for a free call slot."""
    return f"{defaults.KEY_PREFIX}:bulk:{kanal_store_id}"


def interval_for(requests_per_minute: int) -> float:
    """Seconds between two calls to one Kanal store."""
    return 60.0 / (requests_per_minute * (1.0 - defaults.PACING_MARGIN))


@dataclass(frozen=True, slots=True)
class Turn:
    """What a record may do now: `slot` call at `at` (now or later); `probe` wait until `at`
    (its store is held and it is the probe); `parked` nothing (its store is held); `bulk`
    nothing (a bulk record, no slot free now: it waits in the bulk set); `held` its store was
    just held and it probes at `at`; `lost` its job no longer owns it."""

    kind: str
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class Hold:
    """Why and since when a Kanal store is held, and when its probe is due."""

    reason: str
    status: int
    since: float
    store: str
    probe_at: float
    probes: int


class Limiter:
    """Reserve call slots, pause Kanal stores after a 429, hold and release refused ones."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._reserve: Script = client.register_script(scripts.RESERVE)
        self._pause: Script = client.register_script(scripts.PAUSE)
        self._hold: Script = client.register_script(scripts.HOLD)
        self._release: Script = client.register_script(scripts.RELEASE)

    def reserve(
        self, kanal_store_id: int, requests_per_minute: int, now: float | None = None
    ) -> float:
        """The unix time of a call slot: now or later, never before a pause ends."""
        turn = self.take(kanal_store_id, requests_per_minute, "", "", now)
        return turn.at

    def take(
        self,
        kanal_store_id: int,
        requests_per_minute: int,
        record_key: str,
        job_id: str,
        now: float | None = None,
        *,
        bulk: bool = False,
    ) -> Turn:
        """The turn of one record's job: a slot, the probe's wait, parked (held store), or
        back to the bulk set (a bulk record only takes a slot that is free now)."""
        now = time.time() if now is None else now
        kind, at = self._reserve(
            keys=[
                pace_key(kanal_store_id),
                record_key,
                parked_key(kanal_store_id),
                bulk_key(kanal_store_id),
                PENDING_KEY,
            ],
            args=[repr(now), repr(interval_for(requests_per_minute)), job_id, int(bulk)],
        )
        when = float(at)
        # The script keeps microseconds: a slot "now" may come back a fraction of one later.
        return Turn(kind.decode(), now if abs(when - now) < 1e-6 else when)

    def pause(self, kanal_store_id: int, seconds: float, now: float | None = None) -> float:
        """Hand out no slot of this store before `now + seconds`; returns that time."""
        until = (time.time() if now is None else now) + seconds
        self._pause(keys=[pace_key(kanal_store_id)], args=[repr(until)])
        return until

    def paused_until(self, kanal_store_id: int) -> float:
        """When the store's current pause ends (0 when it is not paused)."""
        value = self._client.hget(pace_key(kanal_store_id), "paused")
        return float(value) if value else 0.0

    def hold(
        self,
        kanal_store_id: int,
        record_key: str,
        job_id: str,
        *,
        reason: str,
        status: int,
        store: str,
        now: float | None = None,
        rng: random.Random | None = None,
    ) -> Turn:
        """Kanal refused the store for this record: hold the store (`held`, the record probes
        at `at`), probe again later (`probe`), or park the record (`parked`)."""
        now = time.time() if now is None else now
        spread = defaults.PROBE_JITTER
        kind, at = self._hold(
            keys=[pace_key(kanal_store_id), record_key, parked_key(kanal_store_id)],
            args=[
                repr(now),
                reason,
                status,
                defaults.PROBE_FIRST_SECONDS,
                defaults.PROBE_MAX_SECONDS,
                repr((rng or random).uniform(1 - spread, 1 + spread)),
                job_id,
                store,
            ],
        )
        kind = kind.decode()
        return Turn("probe" if kind == "probing" else kind, float(at))

    def release(self, kanal_store_id: int, probe_key: str) -> float | None:
        """End the hold whose probe is `probe_key` (Kanal answered about the record itself);
        when the hold began, or None when it was not this record's hold."""
        since = self._release(keys=[pace_key(kanal_store_id)], args=[probe_key])
        return float(since) if since else None

    def held(self, kanal_store_id: int) -> Hold | None:
        """The store's hold, or None when it is not held."""
        fields = ("held_reason", "held_status", "held_since", "held_store", "probe_at", "probes")
        values = self._client.hmget(pace_key(kanal_store_id), fields)
        return hold_from(values)

    def parked(self, kanal_store_id: int) -> int:
        """How many records wait for the store's release."""
        return int(self._client.zcard(parked_key(kanal_store_id)))

    def bulk_pending(self, kanal_store_id: int) -> int:
        """How many bulk records of the store wait for a free call slot."""
        return int(self._client.zcard(bulk_key(kanal_store_id)))


def hold_from(values: Sequence[bytes | str | None]) -> Hold | None:
    """A `Hold` from the pace hash's held_reason, held_status, held_since, held_store,
    probe_at and probes (in that order), or None when the store is not held."""
    reason, status, since, store, probe_at, probes = (_text(v) for v in values)
    if not reason:
        return None
    return Hold(
        reason=reason,
        status=int(status or 0),
        since=float(since or 0),
        store=store,
        probe_at=float(probe_at or 0),
        probes=int(probes or 0),
    )


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")
