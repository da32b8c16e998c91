"""Executors: how queued task instances get run.

* ``sequential`` runs each try in the scheduler's own process, one at a time
  (for tests and learning; what ``dags test`` does).
* ``local`` keeps a pool of warm worker processes; each try runs in a child forked
  from one, so no interpreter starts per task and a crashing task cannot take its
  worker down.
* ``celery`` sends tries to Celery workers on other machines.
"""

from __future__ import annotations

from miniflow.executors.base import BaseExecutor, TaskEvent

__all__ = ["BaseExecutor", "TaskEvent", "get_executor"]


_AIRFLOW_NAMES = {"sequentialexecutor": "sequential", "localexecutor": "local", "celeryexecutor": "celery"}


def get_executor(name: str, parallelism: int) -> BaseExecutor:
    """The executor called `name` (core.executor), sized to `parallelism` slots.
    Airflow's spellings work too: ``LocalExecutor``, or its import path."""
    kind = _AIRFLOW_NAMES.get(name.strip().rsplit(".", 1)[-1].lower(), name.strip().lower())
    if kind == "sequential":
        from miniflow.executors.sequential import SequentialExecutor

        return SequentialExecutor()
    if kind == "local":
        from miniflow.executors.local import LocalExecutor

        return LocalExecutor(parallelism)
    if kind == "celery":
        from miniflow.executors.celery import CeleryExecutor

        return CeleryExecutor(parallelism)
    from miniflow.exceptions import ConfigError

    raise ConfigError(f"unknown executor {name!r}; use sequential, local or celery")
