"""Fixtures shared by the whole suite: a real Redis (REDIS_URL, as `make test` provides)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from bridge import metrics
from tests.support import redis_url_for

# Unit tests use their own database so that a developer's local data in db 0 is never touched;
# under pytest-xdist (make test runs the suite in several processes) each process gets its own.
TEST_DB = 9 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (`pytest.mark.anyio`) run on asyncio, as uvicorn runs the app."""
    return "asyncio"


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


@pytest.fixture(autouse=True)
def _unannounced() -> Iterator[None]:
    """A test that builds the web app from the environment announces the test process as a
    web process (bridge.metrics.announce), and the counts a test buffers (bridge.metrics.BUFFER)
    stay in the process: the next test's flushes must carry neither."""
    metrics.BUFFER.take(), metrics.BUFFER.take_latest()
    yield
    metrics._presence = None
    metrics.BUFFER.take(), metrics.BUFFER.take_latest()
