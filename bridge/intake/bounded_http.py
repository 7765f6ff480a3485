"""The HTTP/1.1 protocol the web process serves with: uvicorn's httptools protocol, with
bounds on what a client may send before anything authenticates it.

uvicorn bounds neither the request head with httptools (three requests carrying 200 MB of
headers took a web process from 164 MB to 650 MB) nor the time a client takes to send it (a
connection holding half a head stays open). Here:

    request line + headers   at most MAX_HEAD_BYTES, at most MAX_HEADERS  → 431, closed
    the head                 within HEAD_TIMEOUT_SECONDS of its first byte → 408, closed
                             (of the connection, for its first request)
    the body                 within BODY_TIMEOUT_SECONDS of the head       → closed

The body's size is the Intake middleware's (middleware.py). Heroku's router limits each header line
to 8 KB in front of the dyno; these bounds hold wherever the bridge runs (README, Security).
uvicorn takes the class by its import path (`http=` in cli.py), so every worker process
loads it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bridge import defaults

_STATUS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class _HeadTooLarge(Exception):
    pass


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with the head's size, header count, and receiving times bounded."""

    max_head_bytes = defaults.MAX_HEAD_BYTES
    max_headers = defaults.MAX_HEADERS
    head_timeout = defaults.HEAD_TIMEOUT_SECONDS
    body_timeout = defaults.BODY_TIMEOUT_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._headers = 0
        self._too_large = False
        self._deadline: asyncio.TimerHandle | None = None

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            # Only the head counts: one read may also carry the start of the body (a busy
            # server reads what a fast client already sent: headers and body together).
            end = data.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end + 4
            if self._head_bytes > self.max_head_bytes:
                self._too_large = True
                self.send_400_response("request head too large")
                return
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request the parser refused: 431 when a bound was crossed."""
        self._disarm()
        if self._too_large:
            self._close_with(431)
        else:
            super().send_400_response(msg)

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._headers = 0
        if self._deadline is None:
            self._arm(self.head_timeout)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers += 1
        if self._headers > self.max_headers:
            self._too_large = True
            raise _HeadTooLarge  # the parser stops; uvicorn calls send_400_response
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._arm(self.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True
        super().on_message_complete()

    # Deadlines

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_head:
            self._close_with(408)
        else:  # the application sees a disconnect while it reads the body
            self.transport.close()

    def _close_with(self, status: int) -> None:
        reason = _STATUS[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-length: 0\r\nconnection: close\r\n\r\n" % (status, reason)
        )
        self.transport.close()
