"""Reading task logs for the UI and API: looked up by (dag, run, task, try) only."""

from __future__ import annotations

from miniflow.config import get_config
from miniflow.task_log import log_path

__all__ = ["read_log"]

MAX_BYTES = 2 * 1024 * 1024  # the tail of a huge log is what people need


def read_log(dag_id: str, run_id: str, task_id: str, try_number: int) -> str | None:
    """The log text, or None; ids come from DB rows, never from a path in the request."""
    base = get_config().get("logging", "base_log_folder")
    try:
        path = log_path(base, dag_id, run_id, task_id, try_number)
    except ValueError:
        return None
    if not path.is_file():
        return None
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size > MAX_BYTES:
            fh.seek(size - MAX_BYTES)
        return fh.read().decode("utf-8", errors="replace")
