from datetime import UTC, datetime

import pytest

from mappers import dates


def test_shopify_timestamps_keep_their_offset() -> None:
    moment = dates.instant("2021-12-31T19:00:00-05:00")
    assert moment is not None
    assert dates.iso(moment) == "2021-12-31T19:00:00-05:00"


def test_z_suffix_is_utc() -> None:
    assert dates.instant("2025-07-10T16:15:47.000000Z") == datetime(
        2025, 7, 10, 16, 15, 47, tzinfo=UTC
    )


def test_woocommerce_gmt_fields_are_read_as_utc() -> None:
    moment = dates.instant("2017-03-22T19:28:02", naive_is_utc=True)
    assert moment is not None
    assert dates.iso(moment) == "2017-03-22T19:28:02+00:00"


def test_a_timestamp_without_offset_is_not_an_instant_unless_declared_utc() -> None:
    assert dates.instant("2017-03-22T19:28:02") is None


def test_versions_are_exact_microseconds() -> None:
    assert dates.version(dates.instant("2021-12-31T19:00:00-05:00")) == 1_640_995_200_000_000
    assert dates.version(dates.instant("2021-12-31T19:00:00.000001-05:00")) == (
        1_640_995_200_000_001
    )
    assert dates.version(None) == 0


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "yesterday",
        "2021-12-31",
        "2021-13-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "0001-01-01T00:00:00+14:00",
        "2021-12-31T19:00:00+05:30:15",
        "2021-12-31T19:00:00" + "0" * 100,
        1640995200,
        [],
    ],
)
def test_unusable_timestamps_give_none(value: object) -> None:
    assert dates.instant(value, naive_is_utc=True) is None
