"""``macros`` in templates: Airflow's date helpers and the names Airflow's module exposes.

As in Airflow, ``macros.datetime`` is the ``datetime`` class (``macros.datetime.now()``)
and ``macros.random`` the function ``random.random`` (``macros.random()``), not the
modules of those names.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta
from random import random

import dateutil

__all__ = ["ds_add", "ds_format", "datetime", "timedelta", "dateutil", "json", "random", "time", "uuid"]


def ds_add(ds: str, days: int) -> str:
    """``ds_add("2024-01-05", -4)`` -> ``"2024-01-01"``."""
    day = datetime.strptime(str(ds), "%Y-%m-%d") + timedelta(days=days)
    return day.strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """``ds_format("2024-01-05", "%Y-%m-%d", "%m-%d-%y")`` -> ``"01-05-24"``."""
    return datetime.strptime(str(ds), input_format).strftime(output_format)
