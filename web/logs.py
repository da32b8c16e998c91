"""Reading task logs for the UI and API: looked up by (dag, run, task, map index, try) only."""

from __future__ import annotations

from miniflow.config import get_config
from miniflow.task_log import log_path
from miniflow.taskinstancekey import TaskInstanceKey

__all__ = ["read_log"]

MAX_BYTES = 2 * 1024 * 1024  # the tail of a huge log is what people need


def read_log(key: TaskInstanceKey, try_number: int) -> str | None:
    """The log text, or None; ids come from DB rows, never from a path in the request."""
    base = get_config().get("logging", "base_log_folder")
    try:
        path = log_path(base, key, try_number)
    except ValueError:
        return None
    if not path.is_file():
        return None
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size > MAX_BYTES:
            fh.seek(size - MAX_BYTES)
        return fh.read().decode("utf-8", errors="replace")
