"""Push jobs' fields: what RQ's own `Job.to_dict()` saves, from a template built once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.utils import utcformat, utcparse

from bridge.delivery import jobs


def fields(flat: list[object]) -> dict[object, object]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


@pytest.mark.parametrize(
    ("slot", "store"), [(None, None), (1767225600.25, None), (None, "other-shop")]
)
def test_the_fields_are_those_rq_saves_for_the_job(slot: float | None, store: str | None) -> None:
    job_id = jobs.new_job_id()
    ours = fields(jobs.push_job_fields(job_id, "kb:r:7:orders:42", slot, store=store))
    rqs = jobs.rq_job_fields(job_id, "kb:r:7:orders:42", slot, store=store)
    assert ours.pop(jobs.RECORD_FIELD) == "kb:r:7:orders:42"
    empty = [field for field, value in rqs.items() if value == ""]
    assert "worker_name" in empty and "started_at" in empty  # RQ's, left out: read as missing
    rqs = {field: value for field, value in rqs.items() if field not in empty}
    assert list(ours) == list(rqs)
    created = {ours.pop("created_at"), rqs.pop("created_at")}
    assert ours == rqs
    moments = [utcparse(str(text)).replace(tzinfo=UTC) for text in created]
    assert all(abs(datetime.now(UTC) - moment) < timedelta(seconds=5) for moment in moments)


def test_a_script_writes_the_same_fields_from_three_values(redis_client: redis.Redis) -> None:
    values = jobs.push_job_values("kb:r:7:orders:42", 2.5, store="other-shop")
    script = f"redis.call('HSET', KEYS[1], {jobs.hset_arguments(2, 'ARGV[1]')})"
    redis_client.eval(script, 1, "k", "kb:r:7:orders:42", *values)
    flat = jobs.push_job_fields(jobs.new_job_id(), "kb:r:7:orders:42", 2.5, store="other-shop")
    written = redis_client.hgetall("k")
    expected = {
        str(field).encode(): value if isinstance(value, bytes) else str(value).encode()
        for field, value in zip(flat[::2], flat[1::2], strict=True)
    }
    assert written.pop(b"created_at") and expected.pop(b"created_at")
    assert written == expected
    assert written[b"description"] == b"push other-shop:orders:42"


def test_rq_reads_the_job_as_it_reads_its_own(redis_client: redis.Redis) -> None:
    """The fields left out (those RQ writes empty) change nothing RQ reads back."""
    job_id = jobs.new_job_id()
    ours = fields(jobs.push_job_fields(job_id, "kb:r:7:orders:42", 2.5, store="shop"))
    rqs = jobs.rq_job_fields(job_id, "kb:r:7:orders:42", 2.5, store="shop")
    ours["created_at"] = rqs["created_at"]
    read = []
    for key, mapping in (("ours", ours), ("rqs", rqs)):
        redis_client.hset(key, mapping=mapping)  # type: ignore[arg-type]
        job = Job(job_id, connection=redis_client, serializer=JSONSerializer)
        job.restore(redis_client.hgetall(key))
        read.append(dict(vars(job)))
    assert read[0] == read[1]


def test_rq_reads_the_job_back(redis_client: redis.Redis) -> None:
    job_id = jobs.new_job_id()
    redis_client.hset(
        jobs.job_key(job_id), mapping=fields(jobs.push_job_fields(job_id, "kb:r:7:orders:42", 2.5))
    )
    job = Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer)
    assert job.func_name == jobs.PUSH_FUNCTION
    assert job.args == ["kb:r:7:orders:42"]
    assert job.kwargs == {"slot": 2.5}
    assert job.get_status() == JobStatus.SCHEDULED
    assert job.description == "push 7:orders:42"
    assert job.origin == jobs.QUEUE_KEY.rsplit(":", 1)[1]


def test_job_ids_are_fresh_hex() -> None:
    ids = {jobs.new_job_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(job_id) == 32 and int(job_id, 16) >= 0 for job_id in ids)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 30, 15, 4, 5, 123456, UTC),
        datetime(2026, 1, 2, 3, 4, 5, 0, UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, UTC),
    ],
)
def test_timestamps_are_written_as_rq_writes_them(moment: datetime) -> None:
    assert jobs.timestamp(moment) == utcformat(moment)
