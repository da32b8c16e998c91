"""SequentialExecutor: each try runs here, in the calling process, one at a time."""

from __future__ import annotations

import time

from miniflow.executors.base import BaseExecutor, TaskEvent, TaskKey
from miniflow.executors.worker import run_key

__all__ = ["SequentialExecutor"]


class SequentialExecutor(BaseExecutor):
    def __init__(self) -> None:
        super().__init__(parallelism=1)
        self._done: list[TaskEvent] = []

    def queue(self, key: TaskKey) -> None:
        self.running.add(key)
        ok, detail = run_key(key)
        self.running.discard(key)
        self._done.append(TaskEvent(key, ok, detail))

    def events(self, timeout: float) -> list[TaskEvent]:
        if not self._done:
            time.sleep(timeout)  # nothing runs in the background: just pace the loop
        done, self._done = self._done, []
        return done

    def end(self, grace: float) -> list[TaskKey]:
        return []
