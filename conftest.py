"""Fixtures shared by the whole suite: a real Redis (REDIS_URL, as `make test` provides)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

# Unit tests use their own database so that a developer's local data in db 0 is never touched.
TEST_DB = 9


def redis_url_for(db: int) -> str:
    """The test Redis (REDIS_URL, else localhost) with database `db`."""
    base = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    return urlunsplit(base._replace(path=f"/{db}"))


@pytest.fixture
def redis_url() -> str:
    return redis_url_for(TEST_DB)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()
