"""``macros`` in templates: Airflow's date helpers and a few standard modules."""

from __future__ import annotations

import datetime
import json
import random
import time
import uuid
from datetime import timedelta

import dateutil

__all__ = ["ds_add", "ds_format", "datetime", "timedelta", "dateutil", "json", "random", "time", "uuid"]


def ds_add(ds: str, days: int) -> str:
    """``ds_add("2024-01-05", -4)`` -> ``"2024-01-01"``."""
    day = datetime.datetime.strptime(ds, "%Y-%m-%d") + timedelta(days=days)
    return day.strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """``ds_format("2024-01-05", "%Y-%m-%d", "%m-%d-%y")`` -> ``"01-05-24"``."""
    return datetime.datetime.strptime(str(ds), input_format).strftime(output_format)
