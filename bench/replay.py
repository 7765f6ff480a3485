"""Send timed streams of webhooks to a running bridge, each at its time (asyncio + httpx)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping, Sequence

import httpx

from bench.streams import Event

RETRIES = 3


async def _replay(streams: Mapping[str, Sequence[Event]], concurrency: int) -> Counter[str]:
    answers: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        start = time.monotonic()

        async def send(url: str, event: Event) -> None:
            delay = event.at - (time.monotonic() - start)
            if delay > 0:
                await asyncio.sleep(delay)
            async with gate:
                for attempt in range(RETRIES + 1):
                    try:
                        response = await client.post(
                            url, content=event.hook.body, headers=event.hook.headers()
                        )
                        break
                    except httpx.TransportError:
                        # A kept-alive connection the server closed as it was reused (as
                        # Shopify would, send again); only after RETRIES does it count.
                        if attempt == RETRIES:
                            answers["transport_error"] += 1
                            return
                        answers["resent"] += 1
            if response.status_code == 200:
                data = response.json()
                answers[data.get("reason") or data["status"]] += 1
            else:
                answers[f"http_{response.status_code}"] += 1

        await asyncio.gather(
            *(send(url, event) for url, events in streams.items() for event in events)
        )
    return answers


def replay(streams: Mapping[str, Sequence[Event]], concurrency: int = 32) -> Counter[str]:
    """Post each URL's events at their `at` (as fast as possible when due); the answers."""
    return asyncio.run(_replay(streams, concurrency))
