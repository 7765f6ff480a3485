"""The bridge's real RQ worker, run in the test process with its forked paced scheduler, while
a test acts beside it in a thread (RQ installs signal handlers, so work() needs the main
thread)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from rq.serializers import JSONSerializer

from bridge.delivery import jobs
from bridge.worker import Worker

# RQ waits for a job up to worker_ttl - 15 s before it looks at its maintenance again.
FAST_TTL = 16


class WorkerRun:
    """One `bridge.worker.Worker` over the push queue, for one `work()` call."""

    def __init__(self, redis_url: str, maintenance_interval: int = 30) -> None:
        self.client = redis.Redis.from_url(redis_url)
        self.worker = Worker(
            [jobs.queue(self.client)],
            connection=self.client,
            serializer=JSONSerializer,
            maintenance_interval=maintenance_interval,
            worker_ttl=FAST_TTL,
        )
        self.due: list[float] = []  # scheduled times a test recorded
        self._errors: list[BaseException] = []

    def scheduler_pid(self) -> int | None:
        """The pid of the live scheduler process that registered its birth, if any."""
        for key in self.client.scan_iter("rq:scheduler:*"):
            if b"scheduler-lock" in key:
                continue
            pid = self.client.hget(key, "pid")
            if pid and int(pid) != os.getpid() and _alive(int(pid)):
                return int(pid)
        return None

    def wait_for_scheduler(self, timeout: float = 20.0, other_than: int | None = None) -> int:
        """Wait until a scheduler process runs (another one than `other_than`); its pid."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.scheduler_pid()
            if pid is not None and pid != other_than:
                return pid
            time.sleep(0.02)
        raise AssertionError(f"no scheduler process started within {timeout} s")

    def work(
        self,
        beside: Callable[[], Any] | None = None,
        *,
        max_jobs: int,
        max_idle_time: int = 20,
    ) -> None:
        """Work (with the scheduler) until `max_jobs` jobs ran or the queue stayed empty for
        `max_idle_time` seconds; `beside` runs in a thread meanwhile. Re-raises its error."""
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        thread = None
        if beside is not None:
            thread = threading.Thread(target=self._guard, args=(beside,), daemon=True)
            thread.start()
        try:
            self.worker.work(
                with_scheduler=True,
                max_jobs=max_jobs,
                max_idle_time=max_idle_time,
                logging_level="WARNING",
            )
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            if thread is not None:
                thread.join(timeout=30)
            self.client.close()
        if self._errors:
            raise self._errors[0]

    def _guard(self, beside: Callable[[], Any]) -> None:
        try:
            beside()
        except BaseException as exc:  # re-raised in the main thread by work()
            self._errors.append(exc)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
