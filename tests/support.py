"""Helpers shared by test modules."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, urlunsplit

from bridge.ops.localredis import pick_free_port

# Read once, when the suite is collected: tests set REDIS_URL to URLs of their own (a CLI
# test's fake rediss:// server), which must not become the test Redis of the tests after them.
_TEST_REDIS = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def redis_url_for(db: int) -> str:
    """The test Redis (REDIS_URL, as `make test` provides, else localhost) with database `db`."""
    return urlunsplit(urlsplit(_TEST_REDIS)._replace(path=f"/{db}"))


class ChatServer:
    """A Slack-compatible incoming webhook: records each accepted POST's text; answers
    `statuses` in turn (then 200), the first ones after `delays` seconds."""

    def __init__(
        self, statuses: list[int] | None = None, delays: list[float] | None = None
    ) -> None:
        self.posts: list[str] = []
        self.arrived = 0
        self.statuses = list(statuses or [])
        self.delays = list(delays or [])
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.arrived += 1
                time.sleep(server.delays.pop(0) if server.delays else 0.0)
                status = server.statuses.pop(0) if server.statuses else 200
                if status == 200:
                    server.posts.append(json.loads(body)["text"])
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", pick_free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/services/T0/B0/hook"
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def lines(self) -> list[str]:
        return [line for post in self.posts for line in post.splitlines()]

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


# Shopify's documented sample order (tests/fixtures), last updated at this moment.
SHOPIFY_SAMPLE_UPDATED_AT = b"2021-12-31T19:00:00-05:00"
SHOPIFY_SAMPLE_SHOP = b"jsmith.myshopify.com"


def fresh_shopify_order(body: bytes, shop: str, moment: datetime | None = None) -> bytes:
    """Shopify's sample order bytes as a delivery of today would carry them: its dates moved
    to `moment` (default: now), and its order status link on `shop`'s domain. The bridge
    refuses Shopify deliveries older than its replay window, and bodies naming another shop."""
    stamp = (moment or datetime.now(UTC)).isoformat(timespec="seconds").encode()
    return body.replace(SHOPIFY_SAMPLE_UPDATED_AT, stamp).replace(
        SHOPIFY_SAMPLE_SHOP, shop.encode()
    )
