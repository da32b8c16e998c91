"""The states of task instances and DAG runs, and the legal moves between them.

A task instance starts with no state (`None`, as in Airflow). Every change of state in
the metadata DB goes through one gate (`miniflow.db.gate`): a conditional update
(`UPDATE ... WHERE state IN (<expected>)`), so two actors can never both take the same
step, built only after `check_ti_move` / `check_run_move` found the move in the tables
below. Clearing and an operator's "mark success/failed" are not edges of the graph but
named overrides (`Override`), each with the states it may start from and lead to.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

__all__ = [
    "TaskInstanceState",
    "DagRunState",
    "TI_TRANSITIONS",
    "DAGRUN_TRANSITIONS",
    "FINISHED",
    "UNFINISHED",
    "can_transition",
    "Override",
    "TI_OVERRIDES",
    "RUN_OVERRIDES",
    "IllegalTransition",
    "check_ti_move",
    "check_run_move",
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
    # -> queued directly: `dags test`, which has no queueing step, and `tasks run`
    None: frozenset({TIS.SCHEDULED, TIS.QUEUED, TIS.SKIPPED, TIS.UPSTREAM_FAILED, TIS.REMOVED}),
    TIS.SCHEDULED: frozenset({TIS.QUEUED, TIS.SKIPPED, TIS.UPSTREAM_FAILED, TIS.REMOVED}),
    # -> skipped: its run timed out, or a task of a fail_stop DAG failed
    TIS.QUEUED: frozenset({TIS.RUNNING, TIS.SCHEDULED, TIS.FAILED, TIS.UP_FOR_RETRY, TIS.SKIPPED}),
    TIS.RUNNING: frozenset(
        {TIS.SUCCESS, TIS.FAILED, TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE, TIS.SKIPPED}
    ),
    # -> queued directly when `dags test` runs a due retry or reschedule
    TIS.UP_FOR_RETRY: frozenset({TIS.SCHEDULED, TIS.QUEUED, TIS.REMOVED, TIS.SKIPPED}),
    TIS.UP_FOR_RESCHEDULE: frozenset({TIS.SCHEDULED, TIS.QUEUED, TIS.REMOVED, TIS.SKIPPED}),
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


class Override(str, Enum):
    """A deliberate move outside the transition graph, made by a person or by recovery."""

    CLEAR = "clear"  # run again: task instances back to no state, their runs back to queued
    MARK = "mark"  # an operator sets the outcome: task instances and runs to success/failed
    RESET = "reset"  # a backfill hands back tries it owned and stopped, to be run again

    def __str__(self) -> str:
        return self.value


_ALL_TI: frozenset[TaskInstanceState | None] = frozenset({None, *TaskInstanceState})

# override -> (states it may start from, states it may lead to). A running try is never
# overridden: it finishes, and its outcome is recorded as usual.
TI_OVERRIDES: dict[Override, tuple[frozenset[TaskInstanceState | None], frozenset[TaskInstanceState | None]]] = {
    Override.CLEAR: (_ALL_TI - {TIS.RUNNING}, frozenset({None})),
    Override.MARK: (_ALL_TI - {TIS.RUNNING}, frozenset({TIS.SUCCESS, TIS.FAILED, TIS.SKIPPED})),
    Override.RESET: (frozenset({TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, TIS.UP_FOR_RETRY, TIS.FAILED}),
                     frozenset({None})),
}
RUN_OVERRIDES: dict[Override, tuple[frozenset[DagRunState], frozenset[DagRunState]]] = {
    Override.CLEAR: (frozenset(DagRunState), frozenset({DagRunState.QUEUED})),
    Override.MARK: (frozenset(DagRunState), frozenset({DagRunState.SUCCESS, DagRunState.FAILED, DagRunState.QUEUED})),
    Override.RESET: (frozenset(), frozenset()),
}


class IllegalTransition(ValueError):
    """A state write the tables do not allow: a bug in the caller, never a user error."""


def check_ti_move(expected: Iterable[TaskInstanceState | None], new: TaskInstanceState | None,
                  override: Override | None = None) -> None:
    """Raise unless every state in `expected` may move to `new` (by the graph, or by
    the named `override`)."""
    for old in expected:
        if override is not None:
            sources, targets = TI_OVERRIDES[override]
            allowed = old in sources and new in targets
        else:
            allowed = new is not None and can_transition(old, new)
        if not allowed:
            how = f" ({override})" if override else ""
            raise IllegalTransition(f"illegal task instance transition {old} -> {new}{how}")


def check_run_move(expected: Iterable[DagRunState], new: DagRunState, override: Override | None = None) -> None:
    """Raise unless every state in `expected` may move to `new`."""
    for old in expected:
        if override is not None:
            sources, targets = RUN_OVERRIDES[override]
            allowed = old in sources and new in targets
        else:
            allowed = new in DAGRUN_TRANSITIONS[old]
        if not allowed:
            how = f" ({override})" if override else ""
            raise IllegalTransition(f"illegal DAG run transition {old} -> {new}{how}")


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
