"""Helpers shared by test modules."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit


def redis_url_for(db: int) -> str:
    """The test Redis (REDIS_URL, as `make test` provides, else localhost) with database `db`."""
    base = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    return urlunsplit(base._replace(path=f"/{db}"))
