"""Fixtures for the end-to-end tests: one emulator and one bridge per module, reset per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Bridge, Emulator, wait_until

from tests.support import redis_url_for

E2E_DB = 11


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def emulator(logs: Path) -> Iterator[Emulator]:
    emulator = Emulator(logs, {7: 600, 8: 600, 9: 300})
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def bridge(logs: Path, emulator: Emulator) -> Iterator[Bridge]:
    bridge = Bridge(logs, emulator, redis_url_for(E2E_DB))
    yield bridge
    bridge.stop()


@pytest.fixture(autouse=True)
def clean(request: pytest.FixtureRequest) -> None:
    """Each test starts once the previous one's pushes are over, with an empty emulator."""
    if "bridge" in request.fixturenames:
        bridge: Bridge = request.getfixturevalue("bridge")
        wait_until(bridge.drained, 60)
        request.getfixturevalue("emulator").reset()
