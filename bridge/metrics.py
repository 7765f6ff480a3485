"""Prometheus metrics of the bridge (the /metrics endpoint renders them)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

KANAL_CALLS = Counter(
    "kanal_bridge_kanal_calls_total", "Calls made to Kanal.", ["resource", "method", "status"]
)
KANAL_LATENCY = Histogram(
    "kanal_bridge_kanal_call_seconds", "Duration of Kanal calls.", ["resource", "method"]
)
PUSH_OUTCOMES = Counter(
    "kanal_bridge_push_outcomes_total", "What push jobs ended with.", ["outcome"]
)
BUDGET_WAITS = Counter(
    "kanal_bridge_budget_waits_total", "Pushes rescheduled to wait for a store's budget.", ["store"]
)
BUDGET_WAIT_SECONDS = Counter(
    "kanal_bridge_budget_wait_seconds_total", "Seconds pushes waited for budget.", ["store"]
)
RATE_LIMITED = Counter(
    "kanal_bridge_rate_limited_total", "429 answers received from Kanal.", ["store"]
)


def kanal_call(resource: str, method: str, status: int, seconds: float) -> None:
    """Count one Kanal call and its duration."""
    KANAL_CALLS.labels(resource, method, str(status)).inc()
    KANAL_LATENCY.labels(resource, method).observe(seconds)


def push_outcome(outcome: str) -> None:
    """Count how a push job ended."""
    PUSH_OUTCOMES.labels(outcome).inc()


def budget_wait(store: str, seconds: float) -> None:
    """Count a push rescheduled to its store's next slot."""
    BUDGET_WAITS.labels(store).inc()
    BUDGET_WAIT_SECONDS.labels(store).inc(seconds)


def rate_limited(store: str) -> None:
    """Count a 429 from Kanal."""
    RATE_LIMITED.labels(store).inc()
