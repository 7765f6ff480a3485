"""Realistic webhook streams: what Shopify sends for an order over its life, in time.

Per order: orders/create, orders/paid, 2-4 orders/updated (half change tags, which Kanal
shows; half only the note, which it does not), orders/fulfilled and fulfillments/create.
Shopify re-delivers some webhooks (same webhook id, a little later) and does not keep their
order: both happen here, from a seeded random generator, so every run sends the same stream.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bench.payloads import Webhook, encode, order, timestamp, webhook

# Share of deliveries sent twice, and of orders whose first two webhooks swap places.
DUPLICATE_SHARE = 0.1
SWAP_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class Event:
    """A delivery, when to send it (seconds from the stream's start), and its life phase."""

    at: float
    hook: Webhook
    phase: str


@dataclass
class Expected:
    """What Kanal must hold for one order once everything is delivered."""

    financial_status: str
    fulfillment_status: str
    tags: list[str] = field(default_factory=list)


@dataclass
class _State:
    financial: str = "pending"
    fulfillment: str | None = None
    tags: list[str] = field(default_factory=list)
    note: str = ""


# When each phase of an order happens, after the order starts (seconds, uniform in range).
# "burst": the whole life within ~1.5 s (an auto-fulfilled or digital order, or Shopify
# re-sending a backlog); "lifecycle": checkout burst, then edits, then fulfilment, each
# further apart than the settle delay, as a shop sees them (time compressed from hours).
TIMELINES: dict[str, dict[str, tuple[float, float]]] = {
    "burst": {"checkout": (0.0, 0.6), "edits": (0.6, 1.2), "fulfilment": (1.0, 1.5)},
    "lifecycle": {"checkout": (0.0, 0.8), "edits": (4.0, 8.0), "fulfilment": (12.0, 16.0)},
}


def order_events(
    order_id: int,
    start: float,
    rng: random.Random,
    timeline: dict[str, tuple[float, float]],
    size: str = "7k",
    updates: int | None = None,
) -> tuple[list[Event], Expected]:
    """One order's deliveries and the state they end in."""
    updates = rng.randint(2, 4) if updates is None else updates
    version = order_id % 1_000_000 * 100
    state = _State()
    events: list[Event] = []

    def emit(topic: str, phase: str) -> None:
        nonlocal version
        version += 1
        payload = order(
            order_id,
            version,
            size,
            state.financial,
            state.fulfillment,
            ", ".join(state.tags),
        )
        payload["note"] = state.note
        low, high = timeline[phase]
        hook = webhook(topic, payload, f"{order_id}-{version}")
        events.append(Event(start + rng.uniform(low, high), hook, phase))

    emit("orders/create", "checkout")
    state.financial = "paid"
    emit("orders/paid", "checkout")
    for n in range(updates):
        if n % 2 == 0:
            state.tags = [*state.tags, f"tag{n}"]
        else:
            state.note = f"note {n}"
        emit("orders/updated", "checkout" if n == 0 else "edits")
    state.fulfillment = "fulfilled"
    emit("orders/fulfilled", "fulfilment")
    fulfilment = fulfillment_payload(order_id, version + 1)
    low, high = timeline["fulfilment"]
    events.append(
        Event(
            start + rng.uniform(low, high),
            Webhook("fulfillments/create", encode(fulfilment), f"{order_id}-f", order_id),
            "fulfilment",
        )
    )

    ordered = sorted(events[:-1], key=lambda e: e.at)  # send times in version order…
    if rng.random() < SWAP_SHARE:  # …except that Shopify may deliver two out of order
        ordered[0], ordered[1] = (
            Event(ordered[0].at, ordered[1].hook, ordered[1].phase),
            Event(ordered[1].at, ordered[0].hook, ordered[0].phase),
        )
    events = [*ordered, events[-1]]
    for event in list(events):
        if rng.random() < DUPLICATE_SHARE:
            events.append(Event(event.at + rng.uniform(0.5, 3.0), event.hook, event.phase))
    expected = Expected("paid", "fulfilled", list(state.tags))
    return events, expected


def fulfillment_payload(order_id: int, version: int) -> dict[str, object]:
    """A fulfillments/create body as Shopify documents it."""
    return {
        "id": order_id + 7_000_000_000,
        "order_id": order_id,
        "status": "success",
        "created_at": timestamp(version),
        "updated_at": timestamp(version),
        "service": "manual",
        "shipment_status": None,
        "location_id": 24826418,
        "tracking_company": "UPS",
        "tracking_number": f"1Z{order_id:016d}",
        "tracking_numbers": [f"1Z{order_id:016d}"],
        "tracking_url": f"https://www.ups.com/track?tracknum=1Z{order_id:016d}",
        "tracking_urls": [f"https://www.ups.com/track?tracknum=1Z{order_id:016d}"],
        "name": f"#{order_id}.1",
        "line_items": [],
        "receipt": {},
    }


def stream(
    orders: int, window: float, timeline: str, seed: int = 7, first_id: int = 6_000_000_000
) -> tuple[list[Event], dict[str, Expected]]:
    """`orders` orders starting evenly over `window` seconds; events sorted by send time."""
    rng = random.Random(seed)
    events: list[Event] = []
    expected: dict[str, Expected] = {}
    for n in range(orders):
        order_id = first_id + n
        mine, final = order_events(order_id, window * n / orders, rng, TIMELINES[timeline])
        events += mine
        expected[str(order_id)] = final
    events.sort(key=lambda e: e.at)
    return events, expected
