"""Request heads bounded before any authentication, against a real uvicorn server and raw
sockets (issue 11: 200 MB of headers grew a web process by 500 MB; a slow sender held a
connection open with a partial head)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from bridge import defaults
from bridge.cli import BOUNDED_HTTP
from bridge.intake.bounded_http import BoundedHttpToolsProtocol
from bridge.ops.localredis import pick_free_port

TIMEOUT = 0.5  # the test server's head and body timeouts
PATIENCE = 10.0  # how long a test waits for the server to act (a loaded 2-core machine)


class QuickProtocol(BoundedHttpToolsProtocol):
    head_timeout = TIMEOUT
    body_timeout = TIMEOUT


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body, answers its length."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    port = pick_free_port()
    config = uvicorn.Config(
        echo, host="127.0.0.1", port=port, http=QuickProtocol, lifespan="off", log_level="error"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + PATIENCE
    while not running.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield port
    running.should_exit = True
    thread.join(PATIENCE)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
    return sock


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or stops sending)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, TimeoutError):
        pass
    return b"".join(chunks)


def request(path: str = "/", headers: str = "", body: bytes = b"") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: bridge\r\nContent-Length: {len(body)}\r\n{headers}"
    return head.encode() + b"\r\n" + body


def test_the_uvicorn_setting_names_this_protocol() -> None:
    module, _, name = BOUNDED_HTTP.partition(":")
    assert (module, name) == (BoundedHttpToolsProtocol.__module__, "BoundedHttpToolsProtocol")


def test_ordinary_requests_pass_and_the_connection_is_kept(server: int) -> None:
    with connect(server) as sock:
        for size in (0, 5, 20_000):
            sock.sendall(request(body=b"x" * size, headers="X-Shopify-Topic: orders/create\r\n"))
            head = sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200"), head
            assert head.endswith(str(size).encode())


def test_a_body_read_together_with_its_head_does_not_count_as_head(server: int) -> None:
    """A busy server reads what a fast client already sent: the head and much of the body
    in one read. Only the head counts towards its bound."""
    body = b"x" * (8 * defaults.MAX_HEAD_BYTES)
    with connect(server) as sock:
        sock.sendall(request(body=body))
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 200"), head[:40]
    assert head.endswith(str(len(body)).encode())


def test_a_head_over_the_size_bound_is_431_and_closed(server: int) -> None:
    huge = "X-Padding: " + "a" * (defaults.MAX_HEAD_BYTES + 1) + "\r\n"
    with connect(server) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request(headers=huge))  # it may close while we are still sending
        assert answer(sock).startswith(b"HTTP/1.1 431")


def test_a_head_sent_forever_is_cut_off_after_the_bound(server: int) -> None:
    """Megabytes of header bytes: refused once past the bound, not buffered."""
    sent = 0
    with connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: bridge\r\nX-Padding: ")
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for _ in range(1000):  # up to 64 MB
                sock.sendall(b"a" * 65536)
                sent += 65536
    assert sent < 64 * 1024 * 1024


def test_too_many_headers_are_431(server: int) -> None:
    many = "".join(f"X-H{i}: v\r\n" for i in range(defaults.MAX_HEADERS + 1))
    with connect(server) as sock:
        sock.sendall(request(headers=many))
        assert answer(sock).startswith(b"HTTP/1.1 431")
    fine = "".join(f"X-H{i}: v\r\n" for i in range(defaults.MAX_HEADERS - 3))
    with connect(server) as sock:
        sock.sendall(request(headers=fine))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


def test_a_slow_head_is_408_and_closed(server: int) -> None:
    started = time.monotonic()
    with connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: bridge\r\n")  # and then nothing more
        assert answer(sock).startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < PATIENCE


def test_a_connection_that_sends_nothing_is_closed(server: int) -> None:
    with connect(server) as sock:
        assert answer(sock).startswith(b"HTTP/1.1 408")


def test_a_slow_body_is_cut_off(server: int) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: bridge\r\nContent-Length: 100\r\n\r\n0123456789")
        assert sock.recv(65536) == b""  # closed (a timeout here fails the test)


def test_the_second_request_of_a_connection_has_its_own_deadline(server: int) -> None:
    with connect(server) as sock:
        sock.sendall(request(body=b"ok"))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.sendall(b"POST / HTTP/1.1\r\n")  # a second head, never finished
        assert answer(sock).startswith(b"HTTP/1.1 408")
