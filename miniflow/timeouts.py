"""``execution_timeout``: stop a try that runs too long.

A POSIX interval timer raises `TaskTimeoutError` in the main thread, where the
runner always executes tasks (workers run each try in a process of its own); the
task's ``on_kill`` then stops what it started, such as a Bash subprocess.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from miniflow.exceptions import TaskTimeoutError

__all__ = ["time_limit"]


@contextmanager
def time_limit(seconds: float | None, what: str = "task",
               error: Callable[[str], Exception] | None = None) -> Iterator[None]:
    """Raise `error(message)` (TaskTimeoutError by default) if the block runs longer
    than `seconds`; the DAG loader uses it for ``core.dagbag_import_timeout`` too."""
    if not seconds or seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        if error is not None:
            raise error(f"{what} took longer than {seconds:g} s")
        raise TaskTimeoutError(f"{what} timed out after {seconds:g} s (execution_timeout)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
