"""The executor interface the scheduler and backfill talk to."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from miniflow.taskinstancekey import TaskInstanceKey

__all__ = ["BaseExecutor", "TaskEvent", "TaskKey"]


@dataclass(frozen=True)
class TaskKey:
    dag_id: str
    run_id: str
    task_id: str
    try_number: int  # the try about to start (the task instance's try_number + 1)
    fileloc: str  # the DAG file, so a worker can load the DAG
    queue: str = "default"  # the task's queue= (Celery routes by it)
    map_index: int = -1

    @property
    def ti(self) -> TaskInstanceKey:
        from miniflow.taskinstancekey import TaskInstanceKey

        return TaskInstanceKey(self.dag_id, self.run_id, self.task_id, self.map_index)


@dataclass(frozen=True)
class TaskEvent:
    """A try's process is done. `ok` is False when it died without recording its outcome
    itself (killed, crashed, ``os._exit``): the scheduler then fails or retries it."""

    key: TaskKey
    ok: bool
    detail: str = ""


class BaseExecutor(ABC):
    """Runs task instances the scheduler has queued; reports when each try ends."""

    def __init__(self, parallelism: int) -> None:
        self.parallelism = parallelism
        self.running: set[TaskKey] = set()

    @property
    def open_slots(self) -> int:
        return self.parallelism - len(self.running)

    def start(self) -> None:  # noqa: B027 -- optional: executors without workers keep it empty
        """Start workers; called once before the first `queue`."""

    @abstractmethod
    def queue(self, key: TaskKey) -> None:
        """Hand over one queued task instance."""

    @abstractmethod
    def events(self, timeout: float) -> list[TaskEvent]:
        """Finished tries; waits up to `timeout` seconds for the first one."""

    @abstractmethod
    def end(self, grace: float) -> list[TaskKey]:
        """Stop: wait up to `grace` seconds for running tries, then kill the rest and
        return their keys (their outcome is for the caller to record)."""
