"""The Kanal client against the real emulator over HTTP: every way Kanal (or the network) can
answer, and the class of the error tree each one becomes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from bridge.delivery.kanal import Call, KanalClient
from bridge.emulators.kanal import BackgroundEmulator, EmulatorStore
from bridge.errors import (
    KEY_REJECTED,
    STORE_PAUSED,
    KanalError,
    KanalNotFound,
    KanalPermanent,
    KanalRateLimited,
    KanalStoreRejected,
    KanalTransient,
    KanalUnanswered,
)
from bridge.ops.localredis import pick_free_port

KEY = "k0k1k2k3k4k5k6k7k8k9kakb"
OTHER_KEY = "o0o1o2o3o4o5o6o7o8o9oaob"
ORDER = (
    b'{"external_id":"1","placed_at":"2026-01-01T00:00:00Z","total_price":1.00,'
    b'"customer":{"phone":"+33612345678"}}'
)
POST = Call("POST", "orders", ORDER)
PATCH = Call("PATCH", "orders/1", b'{"financial_status":"paid"}')


@pytest.fixture(scope="module")
def emulator() -> Iterator[BackgroundEmulator]:
    stores = {1: EmulatorStore(1, {KEY}), 2: EmulatorStore(2, {OTHER_KEY})}
    with BackgroundEmulator(stores) as emulator:
        yield emulator


@pytest.fixture
def kanal(emulator: BackgroundEmulator) -> Iterator[KanalClient]:
    emulator.state.reset()
    client = KanalClient(emulator.url, timeout=0.5)
    yield client
    client.close()


def refusal(kanal: KanalClient, call: Call, store: int = 1, key: str = KEY) -> KanalError:
    with pytest.raises(KanalError) as caught:
        kanal.send(store, key, call)
    return caught.value


def fault(emulator: BackgroundEmulator, **spec: object) -> None:
    httpx.post(f"{emulator.url}/_emulator/faults", json=spec).raise_for_status()


def test_a_created_order_is_the_response(kanal: KanalClient) -> None:
    assert kanal.send(1, KEY, POST).status_code == 201


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, KanalPermanent),
        (408, KanalTransient),
        (409, KanalTransient),
        (422, KanalPermanent),
        (425, KanalTransient),
        (500, KanalTransient),
        (502, KanalTransient),
        (503, KanalTransient),
        (504, KanalUnanswered),
    ],
)
def test_each_status_lands_on_its_branch_of_the_tree(
    emulator: BackgroundEmulator, kanal: KanalClient, status: int, kind: type[KanalError]
) -> None:
    fault(emulator, status=status, body={"message": f"answer {status}"})
    error = refusal(kanal, POST)
    assert type(error) is kind
    assert error.status == status
    assert f"answer {status}" in error.body and str(status) in str(error)


def test_a_429_carries_its_retry_after(emulator: BackgroundEmulator, kanal: KanalClient) -> None:
    fault(emulator, status=429, retry_after=17)
    error = refusal(kanal, POST)
    assert isinstance(error, KanalRateLimited)
    assert error.retry_after == 17


def rate_limited(headers: dict[str, str]) -> KanalRateLimited:
    request = httpx.Request("POST", "http://kanal.test/api/v1/stores/1/orders")
    error = KanalError.from_response(httpx.Response(429, headers=headers, request=request))
    assert isinstance(error, KanalRateLimited)
    return error


@pytest.mark.parametrize("header", [None, "soon", "nan", ""])
def test_a_429_without_a_readable_retry_after_waits_the_default(header: str | None) -> None:
    headers = {} if header is None else {"Retry-After": header}
    assert rate_limited(headers).retry_after == 60.0


def test_a_retry_after_date_is_read_and_a_huge_one_is_capped() -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=42), usegmt=True)
    assert 38 <= rate_limited({"Retry-After": soon}).retry_after <= 42
    assert rate_limited({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}).retry_after == 0
    assert rate_limited({"Retry-After": "86400"}).retry_after == 900


def test_an_unknown_key_is_a_rejected_key(kanal: KanalClient) -> None:
    error = refusal(kanal, POST, key="x" * 24)
    assert isinstance(error, KanalStoreRejected)
    assert (error.status, error.reason) == (401, KEY_REJECTED)
    assert "Invalid API key" in error.body


def test_a_key_for_another_store_is_a_rejected_key(kanal: KanalClient) -> None:
    error = refusal(kanal, POST, key=OTHER_KEY)
    assert isinstance(error, KanalStoreRejected)
    assert (error.status, error.reason) == (403, KEY_REJECTED)


def test_a_paused_store_answers_404_to_a_post(
    emulator: BackgroundEmulator, kanal: KanalClient
) -> None:
    emulator.state.set_paused([1])
    error = refusal(kanal, POST)
    assert isinstance(error, KanalStoreRejected)
    assert (error.status, error.reason) == (404, STORE_PAUSED)
    # A PATCH to a paused store says the same, and is about the store too.
    error = refusal(kanal, PATCH)
    assert isinstance(error, KanalStoreRejected)


def test_a_patch_of_a_record_kanal_lacks_is_not_found(kanal: KanalClient) -> None:
    error = refusal(kanal, PATCH)
    assert type(error) is KanalNotFound
    assert error.status == 404


def test_a_refused_connection_was_never_sent() -> None:
    client = KanalClient(f"http://127.0.0.1:{pick_free_port()}", timeout=0.5)
    try:
        error = refusal(client, POST)
    finally:
        client.close()
    assert type(error) is KanalTransient
    assert error.status == 0
    assert "ConnectError" in str(error)


def test_a_read_timeout_may_have_landed(emulator: BackgroundEmulator, kanal: KanalClient) -> None:
    fault(emulator, status=500, delay_ms=1500)
    error = refusal(kanal, POST)
    assert type(error) is KanalUnanswered
    assert "ReadTimeout" in str(error)


@pytest.fixture
def cut_short() -> Iterator[str]:
    """A server that sends the start of a 200 answer and closes the connection."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            received = b""
            while b"\r\n\r\n" not in received or not received.endswith(b"}}"):
                received += connection.recv(65536)
            connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"external')
            connection.shutdown(socket.SHUT_WR)
            connection.recv(1024)  # until the client hangs up: a clean close, not a reset

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    thread.join(5)
    server.close()


def test_a_response_cut_short_may_have_landed(cut_short: str) -> None:
    client = KanalClient(cut_short, timeout=2)
    try:
        error = refusal(client, POST)
    finally:
        client.close()
    assert type(error) is KanalUnanswered
    assert "RemoteProtocolError" in str(error)


def test_the_key_is_sent_as_a_bearer_token_and_never_in_an_error(kanal: KanalClient) -> None:
    error = refusal(kanal, POST, key=OTHER_KEY)
    assert OTHER_KEY not in str(error) and OTHER_KEY not in error.body
