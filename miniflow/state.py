"""The states of task instances and DAG runs, and the legal moves between them.

A task instance starts with no state (`None`, as in Airflow). Every change of state in
the metadata DB is a conditional update (`UPDATE ... WHERE state = <expected>`), so two
actors can never both take the same step; the store refuses a move that
`TI_TRANSITIONS` does not list. Clearing (back to None) and an operator's "mark
success/failed" are the deliberate exceptions.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "TaskInstanceState",
    "DagRunState",
    "TI_TRANSITIONS",
    "DAGRUN_TRANSITIONS",
    "FINISHED",
    "UNFINISHED",
    "can_transition",
    "State",
]


class TaskInstanceState(str, Enum):
    SCHEDULED = "scheduled"  # scheduler: its trigger rule is met, waiting for a slot
    QUEUED = "queued"  # scheduler: handed to the executor
    RUNNING = "running"  # runner: a worker claimed it and runs the operator
    SUCCESS = "success"  # runner: the operator returned
    FAILED = "failed"  # runner (or zombie check): the try failed and no retry is left
    UP_FOR_RETRY = "up_for_retry"  # runner: the try failed, another comes after retry_delay
    UP_FOR_RESCHEDULE = "up_for_reschedule"  # runner: a sensor in reschedule mode waits
    UPSTREAM_FAILED = "upstream_failed"  # scheduler: its trigger rule can no longer be met
    SKIPPED = "skipped"  # runner, branch or trigger rule: not run, on purpose
    REMOVED = "removed"  # scheduler: the task vanished from the DAG file while the run was on

    def __str__(self) -> str:
        return self.value


class DagRunState(str, Enum):
    QUEUED = "queued"  # created (by schedule, trigger or backfill); waits for max_active_runs
    RUNNING = "running"  # scheduler: its task instances are being scheduled
    SUCCESS = "success"  # scheduler: every leaf task is success or skipped
    FAILED = "failed"  # scheduler: all done and a leaf failed, or no task can progress

    def __str__(self) -> str:
        return self.value


TIS = TaskInstanceState

FINISHED: frozenset[TaskInstanceState] = frozenset(
    {TIS.SUCCESS, TIS.FAILED, TIS.SKIPPED, TIS.UPSTREAM_FAILED, TIS.REMOVED}
)
"""States a task instance does not leave unless someone clears it."""

UNFINISHED: frozenset[TaskInstanceState | None] = frozenset(
    {None, TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE}
)

# Clearing (`tasks clear`, the UI) may move any state back to None; it is not listed.
TI_TRANSITIONS: dict[TaskInstanceState | None, frozenset[TaskInstanceState]] = {
    None: frozenset({TIS.SCHEDULED, TIS.QUEUED, TIS.SKIPPED, TIS.UPSTREAM_FAILED, TIS.REMOVED}),
    TIS.SCHEDULED: frozenset({TIS.QUEUED, TIS.SKIPPED, TIS.UPSTREAM_FAILED, TIS.REMOVED}),
    TIS.QUEUED: frozenset({TIS.RUNNING, TIS.SCHEDULED, TIS.FAILED, TIS.UP_FOR_RETRY}),
    TIS.RUNNING: frozenset(
        {TIS.SUCCESS, TIS.FAILED, TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE, TIS.SKIPPED}
    ),
    # -> queued directly when `dags test` runs a retry in process
    TIS.UP_FOR_RETRY: frozenset({TIS.SCHEDULED, TIS.QUEUED, TIS.REMOVED}),
    TIS.UP_FOR_RESCHEDULE: frozenset({TIS.SCHEDULED, TIS.QUEUED, TIS.REMOVED}),
    TIS.SUCCESS: frozenset(),
    TIS.FAILED: frozenset(),
    TIS.SKIPPED: frozenset(),
    TIS.UPSTREAM_FAILED: frozenset(),
    TIS.REMOVED: frozenset(),
}

DAGRUN_TRANSITIONS: dict[DagRunState, frozenset[DagRunState]] = {
    DagRunState.QUEUED: frozenset({DagRunState.RUNNING, DagRunState.FAILED}),
    DagRunState.RUNNING: frozenset({DagRunState.SUCCESS, DagRunState.FAILED}),
    DagRunState.SUCCESS: frozenset(),
    DagRunState.FAILED: frozenset(),
}


def can_transition(old: TaskInstanceState | None, new: TaskInstanceState) -> bool:
    """Whether a task instance may move from `old` to `new` without being cleared."""
    return new in TI_TRANSITIONS[old]


class State:
    """Airflow's ``State``: every state as an attribute (``State.SUCCESS``, ``State.NONE``)
    and its usual groups, for DAG files that compare states in callbacks."""

    NONE = None
    SCHEDULED = TIS.SCHEDULED
    QUEUED = TIS.QUEUED
    RUNNING = TIS.RUNNING
    SUCCESS = TIS.SUCCESS
    FAILED = TIS.FAILED
    UP_FOR_RETRY = TIS.UP_FOR_RETRY
    UP_FOR_RESCHEDULE = TIS.UP_FOR_RESCHEDULE
    UPSTREAM_FAILED = TIS.UPSTREAM_FAILED
    SKIPPED = TIS.SKIPPED
    REMOVED = TIS.REMOVED

    task_states: tuple[TaskInstanceState | None, ...] = (None, *TaskInstanceState)
    dag_states: tuple[DagRunState, ...] = tuple(DagRunState)
    finished = FINISHED
    unfinished = UNFINISHED
    failed_states = frozenset({TIS.FAILED, TIS.UPSTREAM_FAILED})
    success_states = frozenset({TIS.SUCCESS, TIS.SKIPPED})
