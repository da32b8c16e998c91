"""miniflow.state: the state names Airflow users know, and a complete table of legal moves.

The transition table is what every conditional update in the metadata DB is checked
against, so a missing entry would crash the scheduler and an extra one would let two
actors take the same step. These tests pin the table's shape and the moves of a normal
task life (none -> scheduled -> queued -> running -> success, with retries).
"""

from __future__ import annotations

import pytest

from miniflow.state import (
    DAGRUN_TRANSITIONS,
    FINISHED,
    TI_TRANSITIONS,
    UNFINISHED,
    DagRunState,
    TaskInstanceState,
    can_transition,
)

TIS = TaskInstanceState
ALL_TI_STATES: set[TaskInstanceState | None] = {None, *TaskInstanceState}


def test_state_values_are_airflows_strings():
    """Values are stored in the DB and shown in the UI/API, so they must be Airflow's names."""
    assert {s.value for s in TaskInstanceState} == {
        "scheduled", "queued", "running", "success", "failed", "up_for_retry",
        "up_for_reschedule", "upstream_failed", "skipped", "removed",
    }
    assert {s.value for s in DagRunState} == {"queued", "running", "success", "failed"}
    assert str(TIS.UP_FOR_RETRY) == "up_for_retry"
    assert f"{DagRunState.RUNNING}" == "running"
    assert TIS("upstream_failed") is TIS.UPSTREAM_FAILED
    assert TIS.SUCCESS == "success"  # a str Enum compares equal to the stored string


def test_ti_transition_table_is_complete():
    """Every state, including 'no state yet' (None), has an entry; targets are real states."""
    assert set(TI_TRANSITIONS) == ALL_TI_STATES
    for old, targets in TI_TRANSITIONS.items():
        assert targets <= set(TaskInstanceState), old
        assert old not in targets, f"{old} -> {old} is not a transition"


def test_dagrun_transition_table_is_complete():
    assert set(DAGRUN_TRANSITIONS) == set(DagRunState)
    for old, targets in DAGRUN_TRANSITIONS.items():
        assert targets <= set(DagRunState)
        assert old not in targets


def test_finished_and_unfinished_partition_the_states():
    """Every state is exactly one of finished / unfinished, so 'is the run done?' has an answer."""
    assert FINISHED | UNFINISHED == ALL_TI_STATES
    assert not FINISHED & UNFINISHED
    assert FINISHED == {TIS.SUCCESS, TIS.FAILED, TIS.SKIPPED, TIS.UPSTREAM_FAILED, TIS.REMOVED}


@pytest.mark.parametrize("state", sorted(FINISHED))
def test_finished_states_have_no_outgoing_transitions(state):
    """Only clearing (which is not a transition) takes a finished task instance back."""
    assert TI_TRANSITIONS[state] == frozenset()
    assert not any(can_transition(state, new) for new in TaskInstanceState)


@pytest.mark.parametrize("state", [DagRunState.SUCCESS, DagRunState.FAILED])
def test_finished_dagrun_states_have_no_outgoing_transitions(state):
    assert DAGRUN_TRANSITIONS[state] == frozenset()


@pytest.mark.parametrize("state", sorted(UNFINISHED, key=str))
def test_every_unfinished_state_can_reach_a_finished_one(state):
    """No state is a trap: from anywhere unfinished, some path of legal moves ends the task."""
    seen, todo = set(), [state]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(TI_TRANSITIONS[current])
    assert seen & FINISHED, f"no finished state reachable from {state}"


@pytest.mark.parametrize(
    "path",
    [
        [None, TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, TIS.SUCCESS],
        [None, TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, TIS.FAILED],
        [None, TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, TIS.UP_FOR_RETRY, TIS.SCHEDULED],
        [None, TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, TIS.UP_FOR_RESCHEDULE, TIS.SCHEDULED],
        [None, TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, TIS.SKIPPED],  # AirflowSkipException
        [None, TIS.UPSTREAM_FAILED],  # trigger rule can no longer be met
        [None, TIS.SKIPPED],  # trigger rule or branch skips it
        [None, TIS.SCHEDULED, TIS.UPSTREAM_FAILED],
    ],
    ids=lambda p: "->".join(str(s) for s in p),
)
def test_task_lifecycles_are_legal(path):
    """The lives a task instance really has, step by step (DESIGN.md, 'States')."""
    for old, new in zip(path, path[1:]):
        assert can_transition(old, new), f"{old} -> {new} should be legal"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (TIS.SUCCESS, TIS.RUNNING),  # a finished task only runs again after a clear
        (TIS.FAILED, TIS.SCHEDULED),
        (TIS.SKIPPED, TIS.QUEUED),
        (TIS.UPSTREAM_FAILED, TIS.SCHEDULED),
        (TIS.RUNNING, TIS.QUEUED),  # two workers must never both claim a running task
        (TIS.RUNNING, TIS.SCHEDULED),
        (None, TIS.RUNNING),  # a task is claimed only after the scheduler queued it
        (None, TIS.SUCCESS),
        (TIS.SCHEDULED, TIS.RUNNING),
        (TIS.UP_FOR_RETRY, TIS.RUNNING),  # a retry goes through the scheduler again
        (TIS.UP_FOR_RETRY, TIS.SUCCESS),
    ],
)
def test_illegal_task_transitions(old, new):
    assert not can_transition(old, new)


def test_dagrun_lifecycle():
    assert DagRunState.RUNNING in DAGRUN_TRANSITIONS[DagRunState.QUEUED]
    assert {DagRunState.SUCCESS, DagRunState.FAILED} <= DAGRUN_TRANSITIONS[DagRunState.RUNNING]
    assert DagRunState.SUCCESS not in DAGRUN_TRANSITIONS[DagRunState.QUEUED]  # must run first


def test_airflow_state_names_are_the_enum_members() -> None:
    from miniflow.state import State

    assert State.SUCCESS is TaskInstanceState.SUCCESS and State.NONE is None
    assert State.UP_FOR_RETRY in State.unfinished and State.SKIPPED in State.finished
    assert State.failed_states == {"failed", "upstream_failed"}
    assert State.success_states == {"success", "skipped"}
    assert None in State.task_states and DagRunState.RUNNING in State.dag_states
