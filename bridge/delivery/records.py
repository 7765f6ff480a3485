"""The record store: the latest state of every record, and the one job that pushes it.

The web side (`RecordStore.accept`) stores what a webhook asks for and answers from the
result; the worker side (`WorkerRecords`) claims, hands over and settles pushes. Every
change is one Lua script (`bridge/delivery/scripts.py`), so each step is atomic.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
from redis.commands.core import AsyncScript, Script
from redis.exceptions import NoScriptError

from bridge import defaults, metrics
from bridge.config import BridgeConfig
from bridge.delivery import jobs, limiter, scripts, versions
from bridge.delivery.limiter import Limiter, bulk_key, pace_key, parked_key
from bridge.delivery.prefix import apply_prefix
from bridge.errors import StorageUnavailable
from mappers import Action, Delete, Ignored, Patch, Resource, Upsert
from mappers.kanal import encode

# Every pending record (but bulk ones waiting for a free slot), scored by when it became due.
PENDING_KEY = limiter.PENDING_KEY

# Fields Kanal's PATCH endpoint can change, per resource; the rest needs a POST.
PATCHABLE: dict[str, tuple[str, ...]] = {
    "orders": ("financial_status", "fulfillment_status", "tags", "metadata"),
    "checkouts": ("status", "recovery_url", "tags", "metadata"),
}

# Resources Kanal can only change by a whole POST: their body and overlay are kept after
# delivery, so that a later partial change (a shipment's carrier status, a customer's
# purchasing figures) can be merged into the body and POSTed again.
POST_ONLY = frozenset({"customers", "shipments"})

# Patches that finish a record, per resource, with the rank of each status: a finished record
# takes no more upserts and is never POSTed again, only PATCHed to a higher-ranked status if
# Kanal holds it. A checkout that completed before its delay, or whose order arrived first,
# therefore never reaches Kanal, whatever order the webhooks arrive in.
FINISHING: dict[str, dict[str, int]] = {
    "checkouts": {"expired": 1, "completed": 2, "recovered": 3},
}

# Resources whose overlay is sticky: fields that arrive on their own topic and that every POST
# must carry, since a POST replaces the record (customers' lifetime_value and orders_count).
STICKY = frozenset({"customers"})

# What a webhook's answer says when several actions had different fates: the most
# meaningful one wins. "noted": kept for later (a tombstone), nothing to send now.
_PRECEDENCE = ("scheduled", "merged", "noted", "duplicate", "stale", "finished", "unknown_record")


@dataclass(frozen=True, slots=True)
class Namespace:
    """Where a bridge store's records live: its Kanal store, the prefix of its ids there, and
    the Kanal store's call budget (which sizes its version memory)."""

    kanal_store_id: int
    prefix: str = ""
    requests_per_minute: int = defaults.REQUESTS_PER_MINUTE


def namespaces(config: BridgeConfig) -> dict[str, Namespace]:
    """Each configured store's namespace, by store key."""
    return {
        key: Namespace(
            store.kanal_store_id,
            store.external_id_prefix,
            config.rate_for(store.kanal_store_id),
        )
        for key, store in config.stores.items()
    }


def record_key(kanal_store_id: int | str, resource: Resource | str, external_id: str) -> str:
    """The Redis key of one record: its Kanal store, and its external id as sent to Kanal (so
    stores feeding one Kanal store share one namespace, as they do in Kanal)."""
    return f"{defaults.KEY_PREFIX}:rec:{kanal_store_id}:{resource}:{external_id}"


def legacy_record_key(store: str, resource: Resource | str, external_id: str) -> str:
    """Where kanal-bridge 0.1 kept a record: by bridge store key and unprefixed id. ACCEPT
    moves such a record to its `record_key` the first time the record is touched."""
    return f"{defaults.KEY_PREFIX}:rec:{store}:{resource}:{external_id}"


def delivery_key(store: str, delivery_id: str) -> str:
    """The Redis key remembering one platform delivery id."""
    return f"{defaults.KEY_PREFIX}:seen:{store}:{delivery_id}"


def digest(data: bytes) -> str:
    """A short content digest (collisions only cost a skipped call, never a wrong one)."""
    return hashlib.blake2b(data, digest_size=10).hexdigest()


def split_body(resource: str, body: dict[str, Any]) -> tuple[bytes, str, str]:
    """Encode a body; return it with the digests of its non-PATCH-able part and of the whole."""
    encoded = encode(body)
    patchable = PATCHABLE.get(resource, ())
    if patchable:
        core = digest(encode({k: v for k, v in body.items() if k not in patchable}))
    else:
        core = digest(encoded)
    return encoded, core, digest(encoded)


@dataclass(frozen=True, slots=True)
class Record:
    """A record as the worker sees it when it claims the push."""

    key: str
    store: str
    resource: str
    external_id: str
    op: str
    version: str
    body: bytes | None
    core: str
    full: str
    overlay: bytes
    not_before: float
    after: str
    delivered_version: str
    delivered_core: str
    delivered_full: str
    attempts: int
    status: str
    finished: int = 0
    unsure: bool = False  # a POST of it got no answer: Kanal may or may not hold it
    bulk: bool = False  # backfill/reconcile traffic: only takes call slots free now

    @classmethod
    def from_hash(cls, key: str, raw: dict[bytes, bytes]) -> Record:
        """Build a record from its Redis hash."""
        text = {k.decode(): v for k, v in raw.items()}

        def s(name: str) -> str:
            value = text.get(name)
            return value.decode() if value is not None else ""

        # Records of kanal-bridge 0.1 name their bridge store in the key, not in a field.
        _, _, owner, resource, external_id = key.split(":", 4)
        return cls(
            key=key,
            store=s("store") or owner,
            resource=resource,
            external_id=external_id,
            op=s("op") or "upsert",
            version=s("v"),
            body=text.get("body"),
            core=s("core"),
            full=s("full"),
            overlay=text.get("ovl") or b"",
            not_before=float(s("nb") or 0),
            after=s("after"),
            delivered_version=s("dv"),
            delivered_core=s("dcore"),
            delivered_full=s("dfull"),
            attempts=int(s("att") or 0),
            status=s("status"),
            finished=int(s("fin") or 0),
            unsure=s("unsure") == "1",
            bulk=s("bulk") == "1",
        )

    @property
    def delivered(self) -> bool:
        """Kanal acknowledged some state of this record before."""
        return bool(self.delivered_version)


class RecordStore:
    """The web process's side: store actions and make sure a job will push them."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        stores: Mapping[str, Namespace],
        settle_seconds: float = defaults.SETTLE_SECONDS,
        remember_days: float = defaults.REMEMBER_VERSIONS_DAYS,
    ) -> None:
        self._client = client
        self._arguments = _Arguments(stores, settle_seconds, remember_days)
        self._accept: AsyncScript = client.register_script(scripts.ACCEPT)

    async def accept(self, store: str, actions: Sequence[Action], delivery_id: str | None) -> str:
        """Store every action durably; answer accepted | noted | duplicate | stale | finished |
        unknown_record.

        Raises StorageUnavailable when Redis cannot take it: nothing is acknowledged then.
        """
        todo = [action for action in actions if not isinstance(action, Ignored)]
        seen = delivery_key(store, delivery_id) if delivery_id else ""
        outcomes = []
        try:
            for index, action in enumerate(todo):
                keys, args = self._arguments(store, action, seen, last=index == len(todo) - 1)
                outcome = await self._accept(keys=keys, args=args)
                outcomes.append(outcome.decode() if isinstance(outcome, bytes) else outcome)
        except redis.RedisError as exc:
            raise StorageUnavailable(f"Redis: {exc.__class__.__name__}") from exc
        return _answer(outcomes)


class SyncRecordStore:
    """The worker's way in for records fetched from a shop's API (backfill, reconciliation):
    the same ACCEPT script as webhooks, so versions, coalescing and newest-wins hold whatever
    order the two sources arrive in."""

    def __init__(
        self,
        client: redis.Redis,
        stores: Mapping[str, Namespace],
        settle_seconds: float = defaults.SETTLE_SECONDS,
        remember_days: float = defaults.REMEMBER_VERSIONS_DAYS,
    ) -> None:
        self._client = client
        self._arguments = _Arguments(stores, settle_seconds, remember_days)
        self._accept: Script = client.register_script(scripts.ACCEPT)

    def accept_fetched(self, store: str, actions: Sequence[Action], *, bulk: bool) -> str:
        """Store records fetched from `store`'s API; answer as `RecordStore.accept` does.

        A version equal to the one the bridge holds is already held: `duplicate`, no call.
        `bulk` (backfill, reconcile) puts a record that becomes pending in the bulk lane: it
        only takes call slots live traffic leaves free. A webhook for it makes it live."""
        todo = [action for action in actions if not isinstance(action, Ignored)]
        outcomes = []
        for action in todo:
            keys, args = self._arguments(store, action, "", last=False, fetched=True, bulk=bulk)
            outcome = self._accept(keys=keys, args=args)
            outcomes.append(outcome.decode() if isinstance(outcome, bytes) else str(outcome))
            metrics.fetched(store, action.resource, "bulk" if bulk else "live", outcomes[-1])
        return _answer(outcomes)

    def bulk_pending(self, kanal_store_id: int) -> int:
        """How many bulk records of this Kanal store wait for a call slot (flow control)."""
        return Limiter(self._client).bulk_pending(kanal_store_id)


def _answer(outcomes: list[str]) -> str:
    best = min(outcomes, key=_PRECEDENCE.index, default="unknown_record")
    return "accepted" if best in ("scheduled", "merged") else best


class _Arguments:
    """The keys and arguments of one ACCEPT call, for the web's and the worker's record store."""

    def __init__(
        self, stores: Mapping[str, Namespace], settle_seconds: float, remember_days: float
    ) -> None:
        self._stores = stores
        self._settle = settle_seconds
        self._remember_days = remember_days

    def __call__(
        self,
        store: str,
        original: Upsert | Patch | Delete,
        seen: str,
        *,
        last: bool,
        fetched: bool = False,
        bulk: bool = False,
    ) -> tuple[list[str], list[Any]]:
        namespace = self._stores.get(store)
        if namespace is None:
            raise ValueError(f"store {store!r} is not configured")
        action = apply_prefix(original, namespace.prefix)
        assert not isinstance(action, Ignored)
        now = time.time()
        kanal_id = namespace.kanal_store_id
        key = record_key(kanal_id, action.resource, action.external_id)
        legacy = legacy_record_key(store, original.resource, original.external_id)
        body: bytes = b""
        core = full = after = ""
        overlay: bytes = b""
        not_before = 0.0
        rank: int | str = ""
        if isinstance(action, Upsert):
            op = "upsert"
            body, core, full = split_body(action.resource, action.body)
            not_before = action.not_before
            if action.after:
                after = record_key(kanal_id, *action.after)
        elif isinstance(action, Patch):
            op = "patch"
            overlay = encode(action.fields)
            status = action.fields.get("status")
            if isinstance(status, str):
                rank = FINISHING.get(action.resource, {}).get(status, "")
        else:
            op = "delete"
        job_id = jobs.new_job_id()
        memory = versions.memory(
            kanal_id,
            namespace.requests_per_minute,
            action.resource,
            action.external_id,
            now,
            self._remember_days,
        )
        keys = [
            key,
            PENDING_KEY,
            seen,
            jobs.job_key(job_id),
            jobs.SCHEDULED_KEY,
            jobs.QUEUES_SET_KEY,
            "" if legacy == key else legacy,
            bulk_key(kanal_id),
            *memory.keys,
        ]
        args: list[Any] = [
            op,
            action.version,
            body,
            core,
            full,
            overlay,
            repr(not_before),
            after,
            repr(now),
            repr(now + self._settle),
            job_id,
            defaults.DELIVERY_ID_TTL,
            "1" if last else "0",
            jobs.QUEUE_KEY,
            rank,
            "1" if action.resource in STICKY else "0",
            defaults.DELIVERED_RECORD_TTL,
            store,
            memory.field,
            memory.expire_at,
            "1" if fetched else "0",
            "1" if bulk else "0",
            *jobs.push_job_values(key, store=store),
        ]
        return keys, args


class WorkerRecords:
    """The worker's side: claim a push, hand it over to a later job, settle it."""

    def __init__(
        self, client: redis.Redis, remember_days: float = defaults.REMEMBER_VERSIONS_DAYS
    ) -> None:
        self._client = client
        self._remember_days = remember_days
        self._claim: Script = client.register_script(scripts.CLAIM)
        self._handoff: Script = client.register_script(scripts.HANDOFF)
        self._finish: Script = client.register_script(scripts.FINISH)
        self._fail: Script = client.register_script(scripts.FAIL)
        self._unpark: Script = client.register_script(scripts.UNPARK)

    def claim(self, key: str, job_id: str) -> Record | None:
        """The record if this job owns its push, else None (superseded, or nothing to do)."""
        return self.claimed(key, self._claim(keys=[key], args=[job_id]))

    def claim_in(self, pipeline: redis.client.Pipeline, key: str, job_id: str) -> None:
        """Queue the claim on `pipeline` (its reply goes to `claimed`); fails with NOSCRIPT
        until CLAIM was loaded by a `claim`."""
        pipeline.evalsha(self._claim.sha, 1, key, job_id)

    @staticmethod
    def claimed(key: str, raw: Any) -> Record | None:
        """The record from CLAIM's reply, or None."""
        if not raw:
            return None
        pairs = dict(zip(raw[::2], raw[1::2], strict=True))
        return Record.from_hash(key, pairs)

    def handoff(
        self,
        key: str,
        job_id: str,
        due: float,
        *,
        slot: float | None = None,
        failed: bool = False,
        store: str | None = None,
    ) -> int | None:
        """Schedule a new job for the record at `due`; returns the attempts count, or None
        when this job no longer owns the record. `failed` counts one more transient failure;
        `store` names the record's bridge store in the job's description."""
        new_id = jobs.new_job_id()
        result = self._handoff(
            keys=[key, jobs.job_key(new_id), jobs.SCHEDULED_KEY, jobs.QUEUES_SET_KEY, PENDING_KEY],
            args=[
                job_id,
                new_id,
                repr(due),
                jobs.QUEUE_KEY,
                repr(time.time()),
                "1" if failed else "0",
                *jobs.push_job_fields(new_id, key, slot, store=store),
            ],
        )
        return None if result == -1 else int(result)

    def finish(
        self,
        record: Record,
        job_id: str,
        *,
        core: str,
        full: str,
        overlay: bytes,
        kanal_store_id: int,
        requests_per_minute: int,
        held: bool = True,
        called: bool = False,
        also: Callable[[redis.client.Pipeline], None] | None = None,
    ) -> tuple[str, float | None]:
        """Remember what Kanal acknowledged: 'done', or 'again' when a newer state arrived.

        `held` is False when no call was made for a record Kanal never held: nothing is then
        remembered as delivered. `called`: a call went to the Kanal store, which it releases
        when the record was its probe; the second value is then when the hold began (None
        when nothing was released). The version settled goes into the version memory. `also`
        adds commands to send in the same round trip (the worker's bookkeeping of the job)."""
        memory = versions.memory(
            kanal_store_id,
            requests_per_minute,
            record.resource,
            record.external_id,
            time.time(),
            self._remember_days,
        )
        keys = [
            record.key,
            PENDING_KEY,
            pace_key(kanal_store_id) if called else "",
            memory.keys[0],
        ]
        args: list[Any] = [
            job_id,
            record.version,
            core,
            full,
            overlay,
            defaults.DELIVERED_RECORD_TTL,
            "1" if record.resource in POST_ONLY else "0",
            "1" if held else "0",
            memory.field,
            memory.expire_at,
        ]
        if also is None:
            outcome, since = self._finish(keys=keys, args=args)
        else:
            with self._client.pipeline(transaction=False) as pipeline:
                pipeline.evalsha(self._finish.sha, len(keys), *keys, *args)
                also(pipeline)
                reply, *rest = pipeline.execute(raise_on_error=False)
            for error in (r for r in rest if isinstance(r, Exception)):
                raise error
            if isinstance(reply, NoScriptError):  # first use on this Redis: load and run it
                reply = self._finish(keys=keys, args=args)
            elif isinstance(reply, Exception):
                raise reply
            outcome, since = reply
        return outcome.decode(), float(since) if since else None

    def fail(self, record: Record, job_id: str, error: str) -> None:
        """Park the record after a permanent failure (its job goes to RQ's failed registry)."""
        self._fail(
            keys=[record.key, PENDING_KEY], args=[job_id, error[:2000], defaults.FAILED_RECORD_TTL]
        )

    def unpark(
        self, kanal_store_id: int, interval: float, now: float | None = None, batch: int = 500
    ) -> int:
        """Give every record parked while the Kanal store was held its job back, due one
        `interval` apart (each still takes its slot); how many got one. Stops at once if the
        store is held again."""
        now = time.time() if now is None else now
        parked = parked_key(kanal_store_id)
        pace = pace_key(kanal_store_id)
        given = 0
        while True:
            found = self._client.zrange(parked, 0, batch - 1)
            keys = [key.decode() for key in found if isinstance(key, bytes)]
            if not keys:
                return given
            with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hget(key, "store")
                stores = [store.decode() if store else None for store in pipe.execute()]
            for key, store in zip(keys, stores, strict=True):
                new_id = jobs.new_job_id()
                result = self._unpark(
                    keys=[
                        key,
                        parked,
                        jobs.job_key(new_id),
                        jobs.SCHEDULED_KEY,
                        jobs.QUEUES_SET_KEY,
                        pace,
                    ],
                    args=[
                        new_id,
                        repr(now + given * interval),
                        jobs.QUEUE_KEY,
                        *jobs.push_job_fields(new_id, key, store=store),
                    ],
                )
                if result == -1:
                    return given
                given += int(result)

    def is_pending(self, key: str) -> bool:
        """The record waits for a push (a shipment's order, say)."""
        return bool(self._client.hget(key, "status") == b"pending")

    def forget_held_core(self, key: str) -> None:
        """Kanal answered that it does not hold the record: its next push is a whole POST."""
        self._client.hset(key, "dcore", "")

    def mark_unsure(self, record: Record) -> None:
        """A POST of the record got no answer: it may have landed. Until Kanal says, the
        record counts as held with the POSTed core, so its next push is a PATCH (a probe)."""
        self._client.hset(
            record.key,
            mapping={"dv": record.version, "dcore": record.core, "dfull": "", "unsure": "1"},
        )

    def forget_unsure(self, key: str) -> None:
        """The probe found that the unanswered POST did not land: Kanal never held it."""
        self._client.hdel(key, "dv", "dcore", "dfull", "unsure")

    def pending_count(self) -> int:
        """How many records wait for a push."""
        return int(self._client.zcard(PENDING_KEY))

    def oldest_pending_age(self, now: float | None = None) -> float:
        """Seconds the oldest pending record has waited (0 when none)."""
        oldest = self._client.zrange(PENDING_KEY, 0, 0, withscores=True)
        if not oldest:
            return 0.0
        return max((now or time.time()) - float(oldest[0][1]), 0.0)
