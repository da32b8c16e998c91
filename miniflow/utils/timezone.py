"""Aware datetimes, as Airflow's ``airflow.utils.timezone`` makes them.

miniflow's default time zone is UTC (Airflow's ``core.default_timezone`` default), so
a naive datetime is read as UTC unless a function is given a zone. What Airflow returns
as a pendulum ``DateTime`` is one here too.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pendulum

__all__ = ["utc", "utcnow", "datetime", "is_localized", "is_naive", "convert_to_utc", "make_aware", "make_naive",
           "parse", "coerce_datetime"]

utc = dt.timezone.utc


def utcnow() -> dt.datetime:
    return dt.datetime.now(utc)


def datetime(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
             microsecond: int = 0, tzinfo: dt.tzinfo | None = utc) -> dt.datetime:
    """`datetime.datetime`, in UTC unless told otherwise."""
    return dt.datetime(year, month, day, hour, minute, second, microsecond, tzinfo=tzinfo)


def is_localized(value: dt.datetime) -> bool:
    return value.utcoffset() is not None


def is_naive(value: dt.datetime) -> bool:
    return value.utcoffset() is None


def convert_to_utc(value: dt.datetime | None) -> pendulum.DateTime | None:
    """`value` in UTC; a naive one is taken to be in UTC already."""
    import pendulum

    if value is None:
        return None
    return pendulum.instance(value if is_localized(value) else value.replace(tzinfo=utc)).in_timezone("UTC")


def make_aware(value: dt.datetime | None, timezone: dt.tzinfo | None = None) -> pendulum.DateTime | None:
    """The naive `value` as a time in `timezone` (UTC by default). Of a wall-clock time
    that a DST change makes occur twice, the second is meant, as in Airflow."""
    import pendulum

    if value is None:
        return None
    if is_localized(value):
        raise ValueError(f"make_aware expects a naive datetime, got {value}")
    return pendulum.instance(value.replace(fold=1), tz=timezone or utc)


def make_naive(value: dt.datetime, timezone: dt.tzinfo | None = None) -> dt.datetime:
    """The wall-clock time of the aware `value` in `timezone` (UTC by default), naive."""
    if is_naive(value):
        raise ValueError("make_naive() cannot be applied to a naive datetime")
    local = value.astimezone(timezone or utc)
    return dt.datetime(local.year, local.month, local.day, local.hour, local.minute, local.second, local.microsecond)


def parse(string: str, timezone: dt.tzinfo | str | None = None, *, strict: bool = False) -> pendulum.DateTime:
    """An aware DateTime from text; without an offset in the text, it is in `timezone`
    (UTC by default)."""
    import pendulum

    parsed = pendulum.parse(string, tz=timezone or utc, strict=strict)
    if not isinstance(parsed, pendulum.DateTime):
        raise ValueError(f"{string!r} is not a date and time")
    return parsed


def coerce_datetime(value: dt.datetime | None, tz: dt.tzinfo | None = None) -> pendulum.DateTime | None:
    """`value` as an aware DateTime: a naive one in `tz` (UTC by default); an aware one
    keeps its zone."""
    import pendulum

    if value is None:
        return None
    return pendulum.instance(value) if is_localized(value) else make_aware(value, tz)
