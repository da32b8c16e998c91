"""Small helpers that Airflow DAG files import from ``airflow.utils``."""

from __future__ import annotations

import datetime as dt

__all__ = ["__version__", "days_ago", "utcnow", "datetime"]

# What ``airflow.__version__`` reports to DAG files that branch on the Airflow version.
__version__ = "2.10.5+miniflow"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def datetime(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
             microsecond: int = 0, tzinfo: dt.tzinfo | None = dt.timezone.utc) -> dt.datetime:
    """`datetime.datetime`, in UTC unless told otherwise (Airflow's timezone.datetime)."""
    return dt.datetime(year, month, day, hour, minute, second, microsecond, tzinfo=tzinfo)


def days_ago(n: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    """Midnight UTC `n` days ago (Airflow 1.x's ``airflow.utils.dates.days_ago``)."""
    today = utcnow().replace(hour=hour, minute=minute, second=second, microsecond=0)
    return today - dt.timedelta(days=n)
