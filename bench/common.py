"""What every benchmark shares: output files, child processes, a private Redis, the machine."""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import redis

from bench import source
from bridge.ops import localredis

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
# Where child processes run: the snapshot of the measured commit (see bench/source.py).
SOURCE = Path(os.environ.get("BENCH_SNAPSHOT", ROOT))
BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def out_dir(name: str) -> Path:
    """bench/out/<name>/, created (raw results and process logs of one benchmark)."""
    path = OUT / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def save(name: str, data: dict[str, Any]) -> Path:
    """Write one benchmark's raw results as bench/out/<name>.json, with the machine."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2, default=str))
    return path


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model, versions, load and date: what RESULTS.md heads each table with."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if "model name" in line),
        platform.processor(),
    )
    mem = next((line.split()[1] for line in _lines("/proc/meminfo") if "MemTotal" in line), "0")
    server = localredis.find_server_binary()
    version = subprocess.run([str(server), "--version"], capture_output=True, text=True).stdout
    return {
        "commit": source.describe(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": os.cpu_count(),
        "mem_gib": round(int(mem) / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "redis": version.strip(),
        "load": os.getloadavg(),
    }


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy; its value, or TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(interval)


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    def answers() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    wait_until(answers, timeout, 0.1)


class Process:
    """A child process in its own session (so stopping it stops its children), output to a log."""

    def __init__(
        self, name: str, argv: list[str], logs: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            argv,
            env=env if env is not None else dict(os.environ),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=SOURCE,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.popen.wait(5)
        self._log.close()

    def _signal(self, signum: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)


@contextmanager
def processes() -> Iterator[list[Process]]:
    """A list to append started processes to; all are stopped on exit, last started first."""
    started: list[Process] = []
    try:
        yield started
    finally:
        for process in reversed(started):
            process.stop()


@contextmanager
def private_redis(data_dir: Path) -> Iterator[str]:
    """A Redis server of our own on a free port (AOF everysec, as deployed); its URL."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    port = localredis.pick_free_port()
    server = localredis.start_server(data_dir, port, localredis.find_server_binary())
    try:
        yield localredis.url_for(port)
    finally:
        localredis.stop_server(server)


def flush(url: str) -> None:
    """Empty a private Redis (never call this on a shared one)."""
    client = redis.Redis.from_url(url)
    try:
        client.flushall()
    finally:
        client.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    """A process's resident set size."""
    for line in _lines(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    return localredis.pick_free_port()


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
