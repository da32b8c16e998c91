"""SequentialExecutor: each try runs here, in the calling process, one at a time.

Given DAG objects and a store (as tests do), it runs their tries with those objects
and that store instead of loading the DAG file again.

A try runs to its end inside `queue`, so the executor takes as many tries per
scheduling pass as ``core.parallelism`` allows and runs them in turn: a pass per try
would make a run of n tasks cost n passes over the whole run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from miniflow.executors.base import BaseExecutor, TaskEvent, TaskKey
from miniflow.executors.worker import run_key

if TYPE_CHECKING:
    from miniflow.dag import DAG
    from miniflow.db.interfaces import RunnerStore
    from miniflow.taskinstance import DagRun

__all__ = ["SequentialExecutor"]


class SequentialExecutor(BaseExecutor):
    def __init__(self, dags: Mapping[str, DAG] | None = None, store: RunnerStore | None = None) -> None:
        from miniflow.config import get_config

        super().__init__(parallelism=int(get_config().get("core", "parallelism")))
        self.dags = dict(dags or {})
        self.store = store
        self._done: list[TaskEvent] = []
        self._runs: dict[tuple[str, str], DagRun | None] = {}  # a run's row read once, not once per try

    def queue(self, key: TaskKey) -> None:
        self.running.add(key)
        dag = self.dags.get(key.dag_id)
        if dag is not None and self.store is not None:
            from miniflow.runner import run_task_instance
            from miniflow.taskinstance import DagRun

            run = self._runs.get((key.dag_id, key.run_id))
            if run is None:
                row = self.store.get_run(key.dag_id, key.run_id)
                run = self._runs[key.dag_id, key.run_id] = DagRun.from_row(row) if row is not None else None
            run_task_instance(self.store, dag, key.ti, dag_run=run.for_a_try() if run is not None else None)
            ok, detail = True, ""
        else:
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
