"""The RQ side of a push: the queue, and the fields of a push job as RQ itself would save them."""

from __future__ import annotations

import uuid
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from bridge import defaults

PUSH_FUNCTION = "bridge.delivery.push.push"

# A connection that is never used: RQ only needs one to build a job in memory.
_OFFLINE = Redis(host="localhost", port=0)
_QUEUE = Queue(defaults.QUEUE_NAME, connection=_OFFLINE, serializer=JSONSerializer)

QUEUE_KEY: str = _QUEUE.key
QUEUES_SET_KEY: str = _QUEUE.redis_queues_keys
SCHEDULED_KEY: str = ScheduledJobRegistry(queue=_QUEUE).key


def queue(connection: Redis) -> Queue:
    """The queue every push goes through."""
    return Queue(defaults.QUEUE_NAME, connection=connection, serializer=JSONSerializer)


def new_job_id() -> str:
    """A fresh job id."""
    return uuid.uuid4().hex


def describe(record_key: str, store: str | None = None) -> str:
    """A record for people (job descriptions, logs, `failed list`): store:resource:id."""
    _, _, owner, rest = record_key.split(":", 3)
    return f"{store or owner}:{rest}"


def job_key(job_id: str) -> str:
    """The Redis key of a job's hash."""
    return str(Job.key_for(job_id))


def push_job_fields(
    job_id: str, record_key: str, slot: float | None = None, *, store: str | None = None
) -> list[Any]:
    """The hash RQ saves for a scheduled push job, flattened as field, value, field, value…

    `store` (the record's bridge store) names the record in the job's description."""
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
    flat: list[Any] = []
    for field, value in job.to_dict().items():
        flat.append(field)
        flat.append(value.value if isinstance(value, JobStatus) else value)
    return flat
