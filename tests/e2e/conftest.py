"""Fixtures for the end-to-end tests: one emulator and one bridge per module, reset per test.

The bridge's processes get a Redis server of their own (started like `make run` starts one:
the PATH binary, else the bundled engine), so end-to-end runs never share state with each
other or with the unit tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Bridge, Emulator, wait_until

from bridge.ops.localredis import find_server_binary, pick_free_port, start_server, stop_server


@pytest.fixture(scope="session")
def e2e_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = pick_free_port()
    server = start_server(tmp_path_factory.mktemp("redis"), port, find_server_binary())
    yield f"redis://127.0.0.1:{port}/0"
    stop_server(server)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def emulator(logs: Path) -> Iterator[Emulator]:
    emulator = Emulator(logs, {7: 600, 8: 600, 9: 300, 10: 600, 11: 600, 12: 600, 13: 600})
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def bridge(logs: Path, emulator: Emulator, e2e_redis: str) -> Iterator[Bridge]:
    bridge = Bridge(logs, emulator, e2e_redis)
    yield bridge
    bridge.stop()


@pytest.fixture(autouse=True)
def clean(request: pytest.FixtureRequest) -> None:
    """Each test starts once the previous one's pushes are over, with an empty emulator."""
    if "bridge" in request.fixturenames:
        bridge: Bridge = request.getfixturevalue("bridge")
        wait_until(bridge.drained, 60)
        request.getfixturevalue("emulator").reset()
