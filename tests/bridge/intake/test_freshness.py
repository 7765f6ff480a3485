"""How old a Shopify delivery may be: its trigger time (a header) and its body's own date."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge import defaults
from bridge.intake.freshness import body_date, too_old, triggered_at
from mappers import Delete, Ignored, Patch, Upsert

NOW = 1_800_000_000.0
DAY = 24 * 3600.0


def upsert(moment: float) -> Upsert:
    return Upsert("orders", "1", int(moment * 1_000_000), {})


def test_the_window_covers_shopifys_retries_and_delays_and_fits_the_version_memory() -> None:
    # 8 retries over 4 hours, and "up to a day late" in rare cases (shopify.dev).
    assert defaults.SHOPIFY_MAX_DELIVERY_AGE >= 4 * 3600 + DAY
    # Any body young enough to be applied meets a version the record store still holds.
    assert defaults.SHOPIFY_MAX_DELIVERY_AGE <= defaults.DELIVERED_RECORD_TTL


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-07-10T16:15:47.000000Z", 1752164147.0),  # Shopify's documented example
        ("2025-07-10T18:15:47+02:00", 1752164147.0),
        ("2025-07-10T16:15:47", None),  # no offset: not an instant
        ("", None),
        ("soon", None),
    ],
)
def test_the_trigger_time_header_is_read(value: str, expected: float | None) -> None:
    assert triggered_at({"x-shopify-triggered-at": value}) == expected


def test_the_body_date_is_the_newest_version_of_its_actions() -> None:
    actions = [
        upsert(NOW - 10),
        Patch("checkouts", "t", 0, {}),
        Ignored("x"),
        Delete("customers", "1"),
    ]
    assert body_date(actions) == pytest.approx(NOW - 10)
    assert body_date([Patch("checkouts", "t", 0, {}), Delete("customers", "1")]) is None


@pytest.mark.parametrize(
    ("header_age", "body_age", "refused"),
    [
        (None, None, False),
        (47 * 3600, None, False),
        (49 * 3600, None, True),
        (None, 47 * 3600, False),
        (None, 49 * 3600, True),
        (60, 30 * DAY, True),  # a fresh header does not make an old body new
        (30 * DAY, 60, True),
    ],
)
def test_a_shopify_delivery_older_than_the_window_is_refused(
    header_age: float | None, body_age: float | None, refused: bool
) -> None:
    headers = {}
    if header_age is not None:
        headers["x-shopify-triggered-at"] = datetime.fromtimestamp(
            NOW - header_age, UTC
        ).isoformat()
    actions = [upsert(NOW - body_age)] if body_age is not None else [Delete("customers", "1")]
    assert too_old("shopify", headers, actions, NOW) is refused


def test_woocommerce_is_never_judged_by_age() -> None:
    assert too_old("woocommerce", {}, [upsert(NOW - 365 * DAY)], NOW) is False
