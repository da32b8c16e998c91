"""What a worker does with a task key: load the DAG (cached per file), run the try.

Used in-process by the sequential executor, in forked children by the local executor
and inside Celery tasks. A DAG file is parsed once per worker and re-parsed only when
its modification time changes; children forked afterwards inherit the parsed DAG.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from miniflow.exceptions import AirflowException

if TYPE_CHECKING:
    from miniflow.dag import DAG
    from miniflow.db.records import RunRecord, TIRecord
    from miniflow.executors.base import TaskKey
    from miniflow.runner import Record

__all__ = ["load_dag_cached", "dag_loads", "run_key", "TaskTerminated", "exit_on_sigterm", "prepare_worker"]

_cache: dict[str, tuple[float, dict[str, DAG]]] = {}
_loads = 0  # files parsed into the cache so far


class TaskTerminated(AirflowException):
    """The try's process got SIGTERM (shutdown, or the task was stopped); retries apply."""


def load_dag_cached(fileloc: str, dag_id: str) -> DAG:
    from miniflow.dagbag import DagBag
    from miniflow.exceptions import DagNotFoundError
    from miniflow.mapping import mapped_over

    mtime = os.path.getmtime(fileloc)
    cached = _cache.get(fileloc)
    if cached is None or cached[0] != mtime:
        bag = DagBag(Path(fileloc), include_examples=False)
        if fileloc in bag.import_errors:
            raise DagNotFoundError(f"cannot load {fileloc}: {bag.import_errors[fileloc].message}")
        for dag in bag.dags.values():  # what every try asks of its DAG, worked out before any fork
            mapped_over(dag)
        cached = (mtime, dict(bag.dags))
        _cache[fileloc] = cached
        global _loads
        _loads += 1
    try:
        return cached[1][dag_id]
    except KeyError:
        raise DagNotFoundError(f"DAG {dag_id!r} is not in {fileloc}") from None


def dag_loads() -> int:
    """How many times this process has parsed a file into its cache: a process forked
    earlier has every DAG this one has if the count has not moved since."""
    return _loads


def prepare_worker() -> None:
    """Import everything a try needs and set up the store (without connecting), once per
    worker, so a forked child starts work at once. Connections are opened by each child."""
    import shutil  # noqa: F401 -- with the next, what a BashOperator imports to run

    import miniflow.hooks.subprocess
    import miniflow.operators.bash
    import miniflow.operators.python
    import miniflow.runner
    import miniflow.templating  # noqa: F401 -- jinja2 alone costs 30 ms per child otherwise
    from miniflow.db.store import get_store
    from miniflow.task_log import set_capture_levels

    get_store(check=False).warm_up()
    set_capture_levels()


def exit_on_sigterm() -> None:
    """In a try's process: SIGTERM fails the try through the runner, so it is recorded."""

    def handler(signum: int, frame: object) -> None:
        raise TaskTerminated("the task process received SIGTERM")

    signal.signal(signal.SIGTERM, handler)


def run_key(key: TaskKey, own_process: bool = False, claimed: tuple[TIRecord, RunRecord | None] | None = None,
            record: Record | None = None) -> tuple[bool, str]:
    """Run the try; (True, "") once its outcome is recorded (or it was not ours to run).
    In a process of its own (`own_process`), a try whose row is changed from outside
    stops itself with SIGTERM. `claimed` is the try's row and its run when the caller
    claimed it for this process (the local executor's worker), and `record` then
    records its outcome."""
    from miniflow.db.store import get_store
    from miniflow.runner import run_claimed, run_task_instance
    from miniflow.taskinstance import DagRun

    try:
        dag = load_dag_cached(key.fileloc, key.dag_id)
        stop = (lambda: os.kill(os.getpid(), signal.SIGTERM)) if own_process else None
        if claimed is None:
            run_task_instance(get_store(), dag, key.ti, on_lost=stop)
        else:
            row, run = claimed
            if run is None:
                raise LookupError(f"run {key.run_id!r} of {key.dag_id!r} was deleted")
            run_claimed(get_store(), dag, row, DagRun.from_row(run), on_lost=stop, record=record)
    except Exception as exc:  # noqa: BLE001 -- reported to the scheduler, which records it
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""
