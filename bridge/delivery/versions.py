"""The version memory: the last version Kanal holds of each record, kept for months in a few
bytes, long after the record's own hash (and body) expired.

A delivered record keeps its hash for `DELIVERED_RECORD_TTL` (3 days). After that, without
this memory, an old signed body re-sent under a new webhook id would look new, and roll Kanal
back (a `paid` order to `pending`). So each delivered record also leaves one entry here:

    kb:ver:{kanal_store_id}:{generation}:{bits}:{bucket}    a hash, one field per record
        field  8 bytes of blake2b(resource:external_id)  (the bucket is the `bits` before them)
        value  (version seconds - 2020-01-01) * 2, + 1 if the record is finished (a checkout
               completed, recovered or expired)

Entries are written into the current generation (`VERSION_PERIOD_DAYS` long) and looked up in
the generations that cover `remember_versions_days`, newest first; each generation's hashes
expire as a whole once no lookup reaches them (Redis 7.0 has no per-field expiry).

Compact: a Kanal store cannot take more records in a generation than its call budget allows
(`requests_per_minute` * minutes), so its bucket count is sized from that budget to keep each
bucket under ~80 entries, within Redis's compact listpack encoding (128 entries): about 17
bytes a record in a busy store (a 10-byte field entry, a 6-byte integer). A quiet store has
sparse buckets (about 100 bytes each), at most a few MB however many of its records there are.
Changing a store's rate changes its bucket count: versions delivered before the change are
then not looked up (replays of them are no longer refused) for up to the memory's length.
Two records meet in one bucket with the same 64-bit field with a probability of about 10^-10
over 90 days at a million records a day (its only effect: one record's replay compared with
the other's version).

The check itself runs inside ACCEPT (one atomic step with the write); FINISH writes.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from bridge import defaults

PERIOD = defaults.VERSION_PERIOD_DAYS * 24 * 3600

# Entries a bucket holds when its Kanal store spends its whole budget on new records.
_BUCKET_ENTRIES = 80


@dataclass(frozen=True, slots=True)
class Memory:
    """Where one record's version is remembered: the keys to look in (newest generation
    first; the first is where it is written), its field, and when the first key expires."""

    keys: list[str]
    field: bytes
    expire_at: int


def generations(days: float) -> int:
    """How many generations are looked up to remember versions at least `days` long."""
    return math.ceil(days / defaults.VERSION_PERIOD_DAYS) + 1


def bucket_bits(requests_per_minute: int) -> int:
    """Bits of bucket number for a Kanal store with this call budget (8 to 22)."""
    most = requests_per_minute * PERIOD / 60 / _BUCKET_ENTRIES
    return min(max(math.ceil(math.log2(max(most, 1.0))), 8), 22)


def memory(
    kanal_store_id: int | str,
    requests_per_minute: int,
    resource: str,
    external_id: str,
    now: float,
    days: float,
) -> Memory:
    """The version memory of one record (its id as sent to Kanal)."""
    digest = hashlib.blake2b(f"{resource}:{external_id}".encode(), digest_size=11).digest()
    bits = bucket_bits(requests_per_minute)
    bucket = int.from_bytes(digest[:3], "big") >> (24 - bits)
    current = int(now // PERIOD)
    count = generations(days)
    keys = [
        f"{defaults.KEY_PREFIX}:ver:{kanal_store_id}:{current - age}:{bits}:{bucket:x}"
        for age in range(count)
    ]
    return Memory(keys, digest[3:], (current + count) * PERIOD)
