"""Retries of the platform HTTP layer: what is retried, how long it waits, what it raises."""

from __future__ import annotations

import httpx
import pytest

from bridge.errors import PlatformUnavailable
from bridge.platforms.http import Backoff, PlatformHTTP


def client(answers: list[int | Exception], retry_after: str | None = None) -> httpx.Client:
    calls = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(calls)
        if isinstance(answer, Exception):
            raise answer
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return httpx.Response(answer, headers=headers, json={})

    return httpx.Client(transport=httpx.MockTransport(handler))


def http(answers: list[int | Exception], **kwargs: object) -> tuple[PlatformHTTP, list[float]]:
    waits: list[float] = []
    retry_after = kwargs.pop("retry_after", None)
    api = PlatformHTTP(
        "https://shop.example",
        client=client(answers, retry_after),
        backoff=Backoff(attempts=3, base=1.0, cap=8.0, jitter=0.0),
        sleep=waits.append,
    )
    return api, waits


def test_a_5xx_then_a_success_is_retried_with_a_doubling_wait() -> None:
    api, waits = http([502, 503, 200])
    assert api.request("GET", "/x", name="orders page").status_code == 200
    assert waits == [1.0, 2.0]


def test_network_errors_are_retried_and_named_when_the_attempts_run_out() -> None:
    api, waits = http([httpx.ConnectError("refused")] * 3)
    with pytest.raises(PlatformUnavailable, match="orders page: ConnectError after 3 attempts"):
        api.request("GET", "/x", name="orders page")
    assert waits == [1.0, 2.0]


def test_a_429_waits_what_retry_after_says_within_the_cap() -> None:
    api, waits = http([429, 429, 200], retry_after="30")
    assert api.request("GET", "/x", name="webhooks").status_code == 200
    assert waits == [8.0, 8.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_returned_at_once_for_the_platform_to_word(status: int) -> None:
    api, waits = http([status])
    assert api.request("GET", "/x", name="webhooks").status_code == status
    assert waits == []
