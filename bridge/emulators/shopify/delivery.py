"""Webhook delivery as Shopify does it: signed, retried with backoff, and the subscription
deleted after too many consecutive failures.

One change in the shop is one event (`X-Shopify-Event-Id`) delivered to every subscription
of its topic, each delivery with its own `X-Shopify-Webhook-Id`. The body is the record as it
was when the event happened, signed with the subscribing app's client secret; retries send
those same bytes. An attempt succeeds on any 2xx within 1 s to connect and 5 s in all
(a 3xx is a failure). A failed delivery is tried 8 times in all over 4 hours (the waits
below, multiplied by the emulator's `time_scale`), and after `delete_after_failures`
consecutive failed attempts the subscription is deleted, as Shopify deletes subscriptions
made through the Admin API.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from bridge.cli import shopify_json
from bridge.emulators.shopify.shop import webhook_body
from bridge.emulators.shopify.state import Delivery, ShopifyState, Subscription
from bridge.emulators.shopify.topics import BY_REST_NAME
from bridge.intake.signatures import ShopifyVerifier

# Seconds between the 8 tries (7 waits, 4 hours in all).
RETRY_DELAYS = (60, 180, 420, 900, 1800, 3600, 7440)
TIMEOUT = httpx.Timeout(5.0, connect=1.0)


class Deliverer:
    """Sends the shop's events to the subscriptions, in the emulator's event loop."""

    def __init__(self, state: ShopifyState) -> None:
        self.state = state
        self._tasks: set[asyncio.Task[None]] = set()

    def publish(self, topic: str, record: Mapping[str, Any]) -> list[Delivery]:
        """Deliver `record` under `topic` (REST name) to every subscription of that topic."""
        state = self.state
        enum = BY_REST_NAME[topic]
        body = shopify_json(webhook_body(record))
        event_id = str(uuid.uuid4())
        triggered = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        made: list[Delivery] = []
        for sub in sorted(state.subscriptions.values(), key=lambda s: s.id):
            if sub.topic != enum:
                continue
            delivery = Delivery(
                id=state.next_id(),
                webhook_id=str(uuid.uuid4()),
                event_id=event_id,
                topic=topic,
                subscription_id=sub.id,
                app=sub.app,
                uri=sub.uri,
                body=body,
                triggered_at=triggered,
            )
            state.deliveries.append(delivery)
            made.append(delivery)
            if state.take_fault("drop", topic):
                delivery.state = "dropped"
                continue
            task = asyncio.get_running_loop().create_task(self._deliver(delivery, sub))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return made

    def headers(self, delivery: Delivery, sub: Subscription) -> dict[str, str]:
        secret = self.state.apps[sub.app].client_secret.encode()
        return {
            "Content-Type": "application/json",
            "User-Agent": "Shopify-Captain-Hook",
            "X-Shopify-Topic": delivery.topic,
            "X-Shopify-Hmac-Sha256": ShopifyVerifier.sign(delivery.body, secret),
            "X-Shopify-Shop-Domain": self.state.shop.domain,
            "X-Shopify-API-Version": sub.api_version,
            "X-Shopify-Webhook-Id": delivery.webhook_id,
            "X-Shopify-Event-Id": delivery.event_id,
            "X-Shopify-Triggered-At": delivery.triggered_at,
        }

    async def _deliver(self, delivery: Delivery, sub: Subscription) -> None:
        state = self.state
        for attempt in range(len(RETRY_DELAYS) + 1):
            if attempt:
                await asyncio.sleep(RETRY_DELAYS[attempt - 1] * state.time_scale)
            if state.subscriptions.get(sub.id) is not sub:
                delivery.state = "abandoned"  # the subscription was deleted meanwhile
                return
            status, error = await self._attempt(delivery, sub)
            delivery.attempts.append(
                {"at": datetime.now(UTC).isoformat(), "status": status, "error": error}
            )
            if 200 <= status < 300:
                delivery.state = "delivered"
                sub.failures = 0
                return
            sub.failures += 1
            if sub.failures >= state.delete_after_failures:
                self._delete(sub)
                delivery.state = "failed"
                return
        delivery.state = "failed"

    async def _attempt(self, delivery: Delivery, sub: Subscription) -> tuple[int, str | None]:
        if self.state.take_fault("fail", delivery.topic):
            return 0, "injected failure"
        try:
            # A connection per attempt: nothing is left open when the emulator stops.
            async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
                response = await client.post(
                    delivery.uri, content=delivery.body, headers=self.headers(delivery, sub)
                )
        except httpx.HTTPError as exc:
            return 0, exc.__class__.__name__
        return response.status_code, None

    def _delete(self, sub: Subscription) -> None:
        state = self.state
        if state.subscriptions.pop(sub.id, None) is not None:
            state.deleted_subscriptions.append(
                {**sub.as_json(), "reason": f"{sub.failures} consecutive failed deliveries"}
            )

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until no delivery is in flight (tests)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
