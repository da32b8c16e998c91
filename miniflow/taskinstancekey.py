"""The identity of a task instance: a module of its own, so the store, the executors
and the CLI can use it without importing the authoring API."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["TaskInstanceKey"]


class TaskInstanceKey(NamedTuple):
    """The identity of a task instance everywhere: store, runner, executors, logs, CLI, API.

    `map_index` is -1 for a task that is not mapped, 0..n-1 for a mapped task's instances.
    """

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    def __str__(self) -> str:
        index = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{index} in {self.run_id}"
