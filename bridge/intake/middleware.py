"""The ASGI middleware every request goes through: its id and its body's size limit."""

from __future__ import annotations

import contextvars
import re
import uuid

import orjson
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The id of the request being served, for log records written anywhere below the middleware.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


class _BodyTooLarge(Exception):
    pass


class Intake:
    """Every HTTP request's envelope, read in one pass over its headers.

    The request id: X-Request-Id from the request (Heroku's router sets one) or a new one;
    echoed on the response, and exposed in `scope["state"]["request_id"]` and the `request_id`
    context variable. The body limit: 413 to a body over `max_bytes`, at once when
    Content-Length says so, otherwise (chunked, or a lying client) as soon as the streamed body
    crosses the limit; the 413 carries the request id too."""

    header = b"x-request-id"

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = sent = None
        for name, value in scope["headers"]:
            if name == b"content-length" and declared is None:
                declared = value
            elif name == self.header and sent is None:
                sent = value.decode("latin-1")
        rid = sent if sent is not None and _ACCEPTABLE_ID.match(sent) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        echoed = (self.header, rid.encode("latin-1"))
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = message.get("headers", [])
                if any(name == self.header for name, _ in headers):
                    MutableHeaders(scope=message)["x-request-id"] = rid
                else:
                    message["headers"] = [*headers, echoed]
            await send(message)

        token = request_id.set(rid)
        try:
            if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                await self._refuse(send_with_id)
                return
            try:
                await self.app(scope, limited_receive, send_with_id)
            except _BodyTooLarge:
                if started:  # the app answered before reading everything; nothing more to say
                    raise
                await self._refuse(send_with_id)
        finally:
            request_id.reset(token)

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps({"error": "body too large", "limit": self.max_bytes})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
