"""Webhook delivery as WooCommerce does it: asynchronous, coalesced, never retried.

An event (an order created, trashed…) schedules one action per active webhook of its topic
(`wc_webhook_execute_queue`), unless an action for the same webhook and object is still
pending: then the event is dropped. One runner works through the actions in order, as Action
Scheduler does, building each body when it runs (so it carries the latest state) and posting
it once. A 2xx, 300, 301 or 302 within the timeout resets the webhook's failure count; anything
else (a timeout, a refused connection, a 500) is a failure, and the failure that finds the count
above `max_failures` (default 5) disables the webhook: the 7th in a row. Nothing re-sends a
failed delivery, and re-activating the webhook does not reset its count.
(woocommerce/woocommerce `includes/class-wc-webhook.php`: `deliver`, `log_delivery`,
`failed_delivery`, `deliver_ping`; `includes/wc-webhook-functions.php`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bridge.cli import woocommerce_json
from bridge.emulators.woocommerce.shop import SILENT_STATUSES, Record
from bridge.emulators.woocommerce.state import ShopState
from bridge.emulators.woocommerce.webhooks import Webhook, signature

WC_VERSION = "10.3.4"
WP_VERSION = "6.8.3"
USER_AGENT = f"WooCommerce/{WC_VERSION} Hookshot (WordPress/{WP_VERSION})"
ANSWER_LIMIT = 2000  # characters of the receiver's answer kept in the delivery log


@dataclass(slots=True)
class Action:
    """A scheduled `woocommerce_deliver_webhook_async` action."""

    webhook_id: int
    arg: int
    due: float  # monotonic seconds


class Deliverer:
    """The shop's Action Scheduler queue for webhooks, and the HTTP posts it makes."""

    def __init__(self, state: ShopState) -> None:
        self.state = state
        self.pending: list[Action] = []
        self._salt = secrets.token_bytes(16)
        self._wake: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None

    # Events

    def trigger(self, topic: str, record: Record) -> int:
        """The hooks of `topic` fired for `record`: schedule a delivery per active webhook of
        that topic (`WC_Webhook::should_deliver`). Returns how many were scheduled."""
        if record.kind == "order" and record.status in SILENT_STATUSES:
            return 0
        if topic == "customer.deleted" and record.body.get("role") != "customer":
            return 0
        scheduled = 0
        for webhook in sorted(self.state.webhooks.values(), key=lambda w: w.id):
            if webhook.topic == topic and webhook.status == "active":
                scheduled += self.schedule(webhook, record.id)
        return scheduled

    def schedule(self, webhook: Webhook, arg: int) -> bool:
        if any(a.webhook_id == webhook.id and a.arg == arg for a in self.pending):
            self.state.outcomes["coalesced"] += 1
            return False
        due = time.monotonic() + self.state.settings.delivery_delay
        self.pending.append(Action(webhook.id, arg, due))
        self._start()
        return True

    # The runner

    def _start(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
            self._lock = asyncio.Lock()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    def wake(self) -> None:
        """Settings changed (paused, delay): look at the queue again."""
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None and self._lock is not None
        while True:
            self._wake.clear()
            timeout: float | None = None
            if self.pending and not self.state.settings.paused:
                action = min(self.pending, key=lambda a: a.due)
                timeout = action.due - time.monotonic()
                if timeout <= 0:
                    async with self._lock:
                        if action in self.pending:
                            self.pending.remove(action)
                            await self.deliver(action)
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def run_now(self) -> list[dict[str, Any]]:
        """Run every pending action at once, in order, even when the queue is paused."""
        if self._lock is None:
            return []
        first = self.state.delivery_seq
        async with self._lock:
            while self.pending:
                action = min(self.pending, key=lambda a: a.due)
                self.pending.remove(action)
                await self.deliver(action)
        return [entry for entry in self.state.deliveries if entry["seq"] > first]

    # One delivery

    def payload(self, webhook: Webhook, arg: int) -> dict[str, Any]:
        """`WC_Webhook::build_payload`, at delivery time: `{"id": N}` for `deleted`, else the
        REST body of the object now (or the REST error, when it is gone)."""
        if webhook.event == "deleted":
            return {"id": arg}
        state = self.state
        if webhook.resource == "order":
            record = state.orders.get(arg)
            missing = {"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID."}
        else:
            record = state.customers.get(arg)
            missing = {"code": "woocommerce_rest_invalid_id", "message": "Invalid resource ID."}
        if record is None:
            return {**missing, "data": {"status": 404}}
        return record.rest(state.clock, state.site_url)

    def delivery_id(self, webhook: Webhook) -> str:
        """`wp_hash(webhook id . now)`: the same for two deliveries in one second."""
        data = f"{webhook.id}{int(time.time())}".encode()
        return hmac.new(self._salt, data, hashlib.md5).hexdigest()

    async def deliver(self, action: Action) -> None:
        state = self.state
        webhook = state.webhooks.get(action.webhook_id)
        if webhook is None:
            return  # deleted meanwhile: WooCommerce loads an empty webhook and posts nowhere
        fault = state.take_fault(lambda f: f.matches_delivery(webhook))
        entry: dict[str, Any] = {
            "kind": "delivery",
            "webhook_id": webhook.id,
            "topic": webhook.topic,
            "resource_id": action.arg,
            "url": webhook.delivery_url,
            "time": time.time(),
        }
        if fault is not None and fault.kind == "drop":
            state.log_delivery({**entry, "outcome": "dropped", "status": None, "error": "fault"})
            return
        body = woocommerce_json(self.payload(webhook, action.arg))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-WC-Webhook-Source": f"{state.site_url}/",
            "X-WC-Webhook-Topic": webhook.topic,
            "X-WC-Webhook-Resource": webhook.resource,
            "X-WC-Webhook-Event": webhook.event,
            "X-WC-Webhook-Signature": signature(body, webhook.secret),
            "X-WC-Webhook-ID": str(webhook.id),
            "X-WC-Webhook-Delivery-ID": self.delivery_id(webhook),
        }
        started = time.monotonic()
        status: int | None = None
        answer, error = "", "fault: the receiver could not be reached"
        if fault is None:
            status, answer, failure = await self._post(
                webhook.delivery_url, body, headers, state.settings.delivery_timeout, redirects=0
            )
            error = failure or ""
        succeeded = status is not None and 200 <= status < 303
        if succeeded:
            webhook.failure_count = 0
        elif webhook.failure_count > state.settings.max_failures:
            webhook.status = "disabled"
        else:
            webhook.failure_count += 1
        state.log_delivery(
            {
                **entry,
                "outcome": "success" if succeeded else "failure",
                "status": status,
                "error": error or None,
                "answer": answer,
                "duration": round(time.monotonic() - started, 4),
                "headers": headers,
                "body": body.decode(),
                "failure_count": webhook.failure_count,
                "webhook_status": webhook.status,
            }
        )
        await self.save(webhook)

    async def save(self, webhook: Webhook, *, url_changed: bool = False) -> None:
        """`WC_Webhook_Data_Store::update`: the modified date moves, and an active webhook
        whose address changed, or whose first ping never got its 200, is pinged again."""
        webhook.modified = self.state.clock.now()
        if webhook.status == "active" and (url_changed or webhook.pending_delivery):
            await self.ping(webhook)

    async def ping(self, webhook: Webhook) -> str | None:
        """`WC_Webhook::deliver_ping`: an unsigned `webhook_id=N` form post; only an exact 200
        clears `pending_delivery`. Returns WooCommerce's error text, or None."""
        headers = {"User-Agent": USER_AGENT, "Content-Type": "application/x-www-form-urlencoded"}
        body = f"webhook_id={webhook.id}".encode()
        status, answer, failure = await self._post(
            webhook.delivery_url, body, headers, self.state.settings.ping_timeout, redirects=5
        )
        error: str | None = None
        if failure is not None:
            error = f"Error: Delivery URL cannot be reached: {failure}"
        elif status != 200:
            error = f"Error: Delivery URL returned response code: {status}"
        self.state.log_delivery(
            {
                "kind": "ping",
                "webhook_id": webhook.id,
                "topic": webhook.topic,
                "url": webhook.delivery_url,
                "time": time.time(),
                "outcome": "failure" if error else "success",
                "status": status,
                "error": error,
                "answer": answer,
                "headers": headers,
                "body": body.decode(),
            }
        )
        if error is None:
            webhook.pending_delivery = False
            webhook.modified = self.state.clock.now()
        return error

    @staticmethod
    async def _post(
        url: str, body: bytes, headers: dict[str, str], timeout: float, *, redirects: int
    ) -> tuple[int | None, str, str | None]:
        try:
            async with httpx.AsyncClient(
                timeout=timeout,
                follow_redirects=redirects > 0,
                max_redirects=max(redirects, 1),
                trust_env=False,
            ) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, "", f"{type(exc).__name__}: {exc}"
        return response.status_code, response.text[:ANSWER_LIMIT], None
