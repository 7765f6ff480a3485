"""The real processes: the Kanal emulator, and the bridge's web and workers from the Procfile."""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import BIN, SOURCE, Process, free_port, wait_for_http
from bench.payloads import KANAL_KEY, SECRET, SHOP_DOMAIN


@dataclass(frozen=True)
class StoreSpec:
    """One bridge store (a Shopify shop) and the Kanal store it feeds."""

    key: str
    kanal_store_id: int
    requests_per_minute: int


def config_toml(
    stores: list[StoreSpec],
    emulator_url: str,
    settle: float,
    default_rpm: int = 60,
    store_extra: str = "",
) -> str:
    """The bridge's configuration; `store_extra` is added to every store's table."""
    lines = [
        "[kanal]",
        f'api_url = "{emulator_url}"',
        f"requests_per_minute = {default_rpm}",
        "",
        "[delivery]",
        f"settle_seconds = {settle}",
    ]
    for store in stores:
        lines += [
            "",
            f"[stores.{store.key}]",
            'platform = "shopify"',
            f"kanal_store_id = {store.kanal_store_id}",
            'kanal_api_key = "${BENCH_KANAL_KEY}"',
            'webhook_secrets = ["${BENCH_SHOPIFY_SECRET}"]',
            'default_country = "US"',
            f'shop_domain = "{SHOP_DOMAIN}"',
            f"requests_per_minute = {store.requests_per_minute}",
            *([store_extra] if store_extra else []),
        ]
    return "\n".join(lines) + "\n"


def procfile() -> dict[str, str]:
    kinds = {}
    for line in (SOURCE / "Procfile").read_text().splitlines():
        if ":" in line and not line.startswith("#"):
            name, command = line.split(":", 1)
            kinds[name.strip()] = command.strip()
    return kinds


class Emulator:
    """`python -m bridge.emulators.kanal` on a free port, and its control API."""

    def __init__(
        self,
        logs: Path,
        rates: dict[int, int],
        started: list[Process],
        *,
        latency_ms: int = 0,
        log_limit: int | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [
            sys.executable,
            "-m",
            "bridge.emulators.kanal",
            f"--port={self.port}",
            f"--latency-ms={latency_ms}",
        ]
        argv += [f"--store={sid}:{KANAL_KEY}:{rpm}" for sid, rpm in rates.items()]
        if log_limit is not None:
            argv.append(f"--log-limit={log_limit}")
        self.process = Process("emulator", argv, logs)
        started.append(self.process)
        wait_for_http(f"{self.url}/_emulator/stats")
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def stats(self) -> dict[str, Any]:
        return dict(self.http.get("/_emulator/stats").json())

    def records(self, resource: str = "orders") -> dict[int, dict[str, Any]]:
        """What Kanal holds, per store id."""
        stores = self.http.get("/_emulator/records", params={"resource": resource}).json()
        return {int(sid): held.get(resource, {}) for sid, held in stores["stores"].items()}

    def requests(self) -> list[dict[str, Any]]:
        return list(self.http.get("/_emulator/requests").json()["requests"])

    def reset(self) -> None:
        self.http.post("/_emulator/reset").raise_for_status()


@dataclass
class Bridge:
    """The bridge's processes, started with the Procfile's commands and a TOML config."""

    logs: Path
    redis_url: str
    emulator_url: str
    stores: list[StoreSpec]
    started: list[Process]
    settle: float = 1.0
    log_level: str = "INFO"
    store_extra: str = ""
    port: int = field(default_factory=free_port)
    workers: list[Process] = field(default_factory=list)
    web: Process | None = None

    def __post_init__(self) -> None:
        config = self.logs / "bridge.toml"
        config.write_text(
            config_toml(self.stores, self.emulator_url, self.settle, store_extra=self.store_extra)
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PORT": str(self.port),
            "REDIS_URL": self.redis_url,
            "BRIDGE_CONFIG": str(config),
            "KANAL_API_URL": self.emulator_url,
            "BENCH_KANAL_KEY": KANAL_KEY,
            "BENCH_SHOPIFY_SECRET": SECRET,
            "LOG_LEVEL": self.log_level,
            "WEB_CONCURRENCY": "1",
        }
        self.commands = procfile()

    def start_web(self) -> Process:
        self.web = self._start("web", "web")
        wait_for_http(f"{self.url}/healthz")
        return self.web

    def start_workers(self, count: int) -> list[Process]:
        for _ in range(count):
            self.workers.append(self._start("worker", f"worker{len(self.workers) + 1}"))
        return self.workers

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
            self.started.remove(worker)
        self.workers = []

    def _start(self, kind: str, name: str) -> Process:
        process = Process(name, shlex.split(self.commands[kind]), self.logs, self.env)
        self.started.append(process)
        return process
