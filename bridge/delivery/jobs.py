"""The RQ side of a push: the queue, and the fields of a push job as RQ itself would save them."""

from __future__ import annotations

import os
import re
import zlib
from datetime import datetime
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.utils import now

from bridge import defaults

PUSH_FUNCTION = "bridge.delivery.push.push"

# A connection that is never used: RQ only needs one to build a job in memory.
_OFFLINE = Redis(host="localhost", port=0)
_QUEUE = Queue(defaults.QUEUE_NAME, connection=_OFFLINE, serializer=JSONSerializer)

QUEUE_KEY: str = _QUEUE.key
QUEUES_SET_KEY: str = _QUEUE.redis_queues_keys
SCHEDULED_KEY: str = ScheduledJobRegistry(queue=_QUEUE).key
STARTED_KEY: str = StartedJobRegistry(queue=_QUEUE).key

# The job hash field naming a push job's record, beside RQ's own fields: the worker's
# dequeue script (POP_START) claims the record as it starts the job.
RECORD_FIELD = "kb_record"


def queue(connection: Redis) -> Queue:
    """The queue every push goes through."""
    return Queue(defaults.QUEUE_NAME, connection=connection, serializer=JSONSerializer)


def new_job_id() -> str:
    """A fresh job id: 32 random hex digits, as `uuid4().hex` has (in a fifth of its time)."""
    return os.urandom(16).hex()


def describe(record_key: str, store: str | None = None) -> str:
    """A record for people (job descriptions, logs, `failed list`): store:resource:id."""
    _, _, owner, rest = record_key.split(":", 3)
    return f"{store or owner}:{rest}"


def job_key(job_id: str) -> str:
    """The Redis key of a job's hash."""
    return str(Job.key_for(job_id))


def rq_job_fields(
    job_id: str, record_key: str, slot: float | None = None, *, store: str | None = None
) -> dict[str, Any]:
    """The hash RQ's own `Job.to_dict()` gives a scheduled push job (what `push_job_fields`
    must equal, less the fields RQ writes empty; built through an RQ `Job`, so a slow
    reference)."""
    kwargs = {} if slot is None else {"slot": slot}
    job = _QUEUE.create_job(
        PUSH_FUNCTION,
        args=(record_key,),
        kwargs=kwargs,
        job_id=job_id,
        timeout=defaults.JOB_TIMEOUT,
        result_ttl=defaults.RESULT_TTL,
        failure_ttl=defaults.FAILURE_TTL,
        description=f"push {describe(record_key, store)}",
    )
    job._status = JobStatus.SCHEDULED
    return {
        field: value.value if isinstance(value, JobStatus) else value
        for field, value in job.to_dict().items()
    }


# RQ's fields for a push job, flattened as field, value, field, value…: all but three are the
# same for every push. Built once from RQ's own `Job.to_dict()`, so the fields follow RQ, less
# those it writes empty (callbacks, worker, start and end...): `Job.restore` reads an empty
# field and a missing one alike, and a pending push's hash keeps 9 fields instead of 17 (with
# RECORD_FIELD), about 600 bytes less per pending record.
_TEMPLATE: list[Any] = [
    item
    for pair in rq_job_fields("0" * 32, "kb:r:0:orders:0").items()
    if pair[1] != ""
    for item in pair
]
# The three that change from one push job to the next (`push_job_values`), in this order.
VARYING = ("created_at", "data", "description")
_AT = {field: _TEMPLATE.index(field) + 1 for field in VARYING}
_LITERAL = re.compile(r"[\w.:-]*")


def timestamp(moment: datetime) -> str:
    """`moment` (UTC) as RQ's `utcformat` writes it, in half its time."""
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def push_job_fields(
    job_id: str, record_key: str, slot: float | None = None, *, store: str | None = None
) -> list[Any]:
    """The hash RQ saves for a scheduled push job, flattened as field, value, field, value…,
    and the record's key (RECORD_FIELD).

    `store` (the record's bridge store) names the record in the job's description. Equal to
    `rq_job_fields` less its empty fields, with RECORD_FIELD (tests/bridge/delivery/
    test_jobs.py), without an RQ `Job` per call. The job id is not among the fields (RQ keeps
    it in the hash's key)."""
    flat = _TEMPLATE.copy()
    for field, value in zip(VARYING, push_job_values(record_key, slot, store=store), strict=True):
        flat[_AT[field]] = value
    flat += (RECORD_FIELD, record_key)
    return flat


def push_job_values(
    record_key: str, slot: float | None = None, *, store: str | None = None
) -> list[Any]:
    """The values of a push job's VARYING fields; the others are the same for every push."""
    kwargs = {} if slot is None else {"slot": slot}
    return [
        timestamp(now()),
        zlib.compress(JSONSerializer.dumps((PUSH_FUNCTION, None, [record_key], kwargs))),
        f"push {describe(record_key, store)}",
    ]


def hset_arguments(first: int, record: str) -> str:
    """A push job's fields as the arguments of a Lua `redis.call('HSET', key, ...)`, in RQ's
    order: the VARYING values from ARGV[first], ARGV[first + 1], ARGV[first + 2], every other
    field and value written out, then RECORD_FIELD with `record` (the Lua expression of the
    record's key), so a script writes the same hash as `push_job_fields`, sending three values
    instead of all of them."""
    parts = []
    for field, value in zip(_TEMPLATE[::2], _TEMPLATE[1::2], strict=True):
        if field in VARYING:
            parts += [f"'{field}'", f"ARGV[{first + VARYING.index(field)}]"]
        else:
            text = str(value)
            if not isinstance(value, str | int) or not _LITERAL.fullmatch(text):
                raise ValueError(f"push job field {field}: {value!r} is no plain literal")
            parts += [f"'{field}'", f"'{text}'"]
    parts += [f"'{RECORD_FIELD}'", record]
    return ", ".join(parts)
