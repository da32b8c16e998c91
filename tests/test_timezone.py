"""miniflow.utils.timezone: Airflow's airflow.utils.timezone, with UTC as the default zone."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from miniflow.utils import timezone

naive_times = st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2100, 1, 1))
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))


@given(naive=naive_times, zone=offsets)
def test_aware_and_naive_round_trip(naive: dt.datetime, zone: dt.tzinfo) -> None:
    aware = timezone.make_aware(naive, zone)
    assert isinstance(aware, pendulum.DateTime) and timezone.is_localized(aware)
    assert timezone.make_naive(aware, zone) == naive
    assert timezone.convert_to_utc(aware) == aware and timezone.convert_to_utc(aware).utcoffset() == dt.timedelta(0)
    assert timezone.coerce_datetime(naive) == timezone.make_aware(naive) == naive.replace(tzinfo=dt.timezone.utc)


def test_a_wall_time_that_occurs_twice_means_the_second() -> None:
    new_york = pendulum.timezone("America/New_York")
    aware = timezone.make_aware(dt.datetime(2024, 11, 3, 1, 30), new_york)
    assert aware.utcoffset() == dt.timedelta(hours=-5)  # EST, after the clocks went back


def test_parse_reads_utc_unless_the_text_or_the_caller_names_a_zone() -> None:
    assert timezone.parse("2024-01-02T03:04:05") == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert timezone.parse("2024-01-02T03:04:05+02:00").utcoffset() == dt.timedelta(hours=2)
    assert timezone.parse("2024-01-02 03:04", "Europe/Paris").utcoffset() == dt.timedelta(hours=1)


def test_naive_and_aware_are_refused_where_they_make_no_sense() -> None:
    with pytest.raises(ValueError, match="expects a naive datetime"):
        timezone.make_aware(timezone.utcnow())
    with pytest.raises(ValueError, match="naive datetime"):
        timezone.make_naive(dt.datetime(2024, 1, 1))
    assert timezone.make_aware(None) is None and timezone.convert_to_utc(None) is None
