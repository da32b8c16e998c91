"""How long a failed try waits before the next one: a pure function of the task's settings.

Without backoff the wait is ``retry_delay``. With ``retry_exponential_backoff`` it is
Airflow's formula: for try number ``n`` (1 for the first try),

    base = max(1, ceil(retry_delay_seconds * 2 ** (n - 1)))
    wait = base + sha1("dag_id#task_id#logical_date#n") mod base     (seconds)

so the wait lies in ``[base, 2 * base)``, is the same every time for the same task
instance and try (deterministic jitter spreads retries without randomness), and is
capped at ``max_retry_delay`` and at ``core.max_task_retry_delay`` (one day).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from typing import Any

__all__ = ["retry_wait", "task_retry_wait"]


def retry_wait(
    retry_delay: dt.timedelta,
    try_number: int,
    exponential_backoff: bool = False,
    max_retry_delay: dt.timedelta | None = None,
    jitter_key: str = "",
    cap_seconds: float = 86400,
) -> dt.timedelta:
    """The wait after try `try_number` failed; `jitter_key` is "dag_id#task_id#logical_date"."""
    if not exponential_backoff:
        return retry_delay
    base = max(1, math.ceil(retry_delay.total_seconds() * 2 ** (try_number - 1)))
    digest = int(hashlib.sha1(f"{jitter_key}#{try_number}".encode()).hexdigest(), 16)
    wait = dt.timedelta(seconds=min(base + digest % base, cap_seconds))
    if max_retry_delay is not None:
        wait = min(wait, max_retry_delay)
    return wait


def task_retry_wait(task: Any, try_number: int, logical_date: dt.datetime, cap_seconds: float = 86400) -> dt.timedelta:
    """`retry_wait` with a task's own settings: what the runner and the scheduler use."""
    return retry_wait(
        task.retry_delay or dt.timedelta(0), try_number, task.retry_exponential_backoff, task.max_retry_delay,
        f"{task.dag_id}#{task.task_id}#{logical_date.isoformat()}", cap_seconds,
    )
