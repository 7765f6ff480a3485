from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from bridge.intake.middleware import Intake, request_id

LIMIT = 100

pytestmark = pytest.mark.anyio


async def echo_length(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"length": len(body), "request_id": request.state.request_id})


async def early_answer(request: Request) -> PlainTextResponse:
    return PlainTextResponse("no need to read")


async def context_id(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request_id.get() or "")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(
        routes=[
            Route("/echo", echo_length, methods=["POST"]),
            Route("/early", early_answer, methods=["POST"]),
            Route("/context", context_id),
        ],
        middleware=[Middleware(Intake, max_bytes=LIMIT)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
        yield client


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_body_at_the_limit_passes(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", content=b"x" * LIMIT)
    assert response.status_code == 200
    assert response.json()["length"] == LIMIT


async def test_content_length_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.json() == {"error": "body too large", "limit": LIMIT}


async def test_chunked_body_under_the_limit_passes(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", content=chunks(b"x" * 40, b"y" * 40))
    assert response.status_code == 200
    assert response.json()["length"] == 80


async def test_chunked_body_crossing_the_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", content=chunks(b"x" * 60, b"y" * 60, b"z" * 60))
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json() == {"error": "body too large", "limit": LIMIT}


async def test_app_answering_without_reading_is_untouched(client: httpx.AsyncClient) -> None:
    response = await client.post("/early", content=chunks(b"x" * 60, b"y" * 60))
    assert response.status_code == 200
    assert response.text == "no need to read"


async def test_declared_length_is_refused_before_reading() -> None:
    called = False

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal called
        called = True

    async def receive() -> Message:
        raise AssertionError("the body must not be read")

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"content-length", str(LIMIT * 1000).encode())],
    }
    await Intake(app, max_bytes=LIMIT)(scope, receive, send)
    assert not called
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]


async def test_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", content=b"{}")
    generated = response.headers["x-request-id"]
    assert len(generated) == 32
    assert response.json()["request_id"] == generated


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    rid = "f9a1c0de-3b6e-4c55-9d0e-8c1b2a3d4e5f"
    response = await client.post("/echo", content=b"{}", headers={"X-Request-Id": rid})
    assert response.headers["x-request-id"] == rid
    assert response.json()["request_id"] == rid


@pytest.mark.parametrize("sent", ["has spaces", "x" * 200, "line\tbreak"])
async def test_unsafe_request_id_is_replaced(client: httpx.AsyncClient, sent: str) -> None:
    response = await client.post("/echo", content=b"{}", headers={"X-Request-Id": sent})
    assert response.headers["x-request-id"] != sent
    assert len(response.headers["x-request-id"]) == 32


async def test_request_id_is_in_the_context_variable(client: httpx.AsyncClient) -> None:
    response = await client.get("/context", headers={"X-Request-Id": "abc-123"})
    assert response.text == "abc-123"
    assert request_id.get() is None


async def test_413_carries_the_request_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", content=b"x" * 500, headers={"X-Request-Id": "big-1"})
    assert response.status_code == 413
    assert response.headers["x-request-id"] == "big-1"


async def test_the_request_id_replaces_one_the_app_set() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"x-request-id", b"from-the-app"), (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    scope: Scope = {"type": "http", "headers": [(b"x-request-id", b"abc-123")]}
    await Intake(app, max_bytes=LIMIT)(scope, receive, send)
    assert sent[0]["headers"] == [(b"x-request-id", b"abc-123"), (b"content-length", b"0")]
