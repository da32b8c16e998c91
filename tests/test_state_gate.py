"""The transition gate (`miniflow.db.gate`): random sequences of what the scheduler, the
runner, an operator (clear, mark) and a kill do to one run, applied to the real store,
never move a task instance or a run along an edge `miniflow.state` does not list (or,
for clear and mark, outside their named overrides).
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from miniflow import DAG
from miniflow.dagrun import evaluate_run
from miniflow.db.gate import move_runs, move_tis
from miniflow.operators.empty import EmptyOperator
from miniflow.serialization import parsed_dag, task_rows
from miniflow.state import (
    DAGRUN_TRANSITIONS,
    RUN_OVERRIDES,
    TI_OVERRIDES,
    TI_TRANSITIONS,
    DagRunState,
    IllegalTransition,
    Override,
    TaskInstanceState,
)
from miniflow.taskinstancekey import TaskInstanceKey

TIS = TaskInstanceState
UTC = dt.timezone.utc
RUN_ID = "gate_run"
TASKS = ["a", "b", "c"]


def _closure(edges: dict[Any, frozenset[Any]]) -> set[tuple[Any, Any]]:
    """Every (old, new) reachable through one or more listed edges."""
    reach = {(old, new) for old, news in edges.items() for new in news}
    while True:
        more = {(a, d) for (a, b), (c, d) in itertools.product(reach, reach) if b == c} - reach
        if not more:
            return reach
        reach |= more


TI_REACH = _closure(TI_TRANSITIONS)
RUN_REACH = _closure(DAGRUN_TRANSITIONS)


@pytest.fixture
def gate_dag(store: Any) -> DAG:
    with DAG("gate_dag", start_date=dt.datetime(2024, 1, 1, tzinfo=UTC), schedule=None) as dag:
        a, b, c = (EmptyOperator(task_id=t, retries=1, retry_delay=0) for t in TASKS)
        a >> b
    store.sync_dags([parsed_dag(dag)], paused_by_default=False)
    return dag


def snapshot(store: Any) -> tuple[dict[str, Any], Any]:
    tis = {r.task_id: (TIS(r.state) if r.state else None) for r in store.tis_of_run("gate_dag", RUN_ID)}
    return tis, DagRunState(store.get_run("gate_dag", RUN_ID).state)


def apply(store: Any, dag: DAG, event: tuple[str, int, Any]) -> Override | None:
    """Do one event; returns the override it used, if any."""
    kind, index, arg = event
    task_id = TASKS[index % len(TASKS)]
    key = TaskInstanceKey("gate_dag", RUN_ID, task_id)
    if kind == "schedule":
        states = {(r.task_id, r.map_index): r.state for r in store.ti_states("gate_dag", RUN_ID)}
        decisions = evaluate_run(dag, states, dt.datetime.now(UTC))
        store.record_decisions("gate_dag", RUN_ID, decisions)
        if decisions.outcome is not None:
            store.set_run_state("gate_dag", RUN_ID, decisions.outcome, [DagRunState.RUNNING])
    elif kind == "queue":
        store.queue_within_limits(8, {"gate_dag": 16}, {}, job_id=1)
    elif kind == "start":
        store.set_run_state("gate_dag", RUN_ID, DagRunState.RUNNING, [DagRunState.QUEUED])
    elif kind == "run":  # a worker claims the try and records an outcome
        claimed = store.claim_ti(key)
        if claimed is not None:
            store.finish_ti(claimed, arg)
    elif kind == "kill":  # the try's process died: the zombie check fails it
        row = store.get_ti(key)
        if row.state == TIS.RUNNING:
            store.fail_try(row, row.try_number, dt.datetime.now(UTC) if arg else None)
    elif kind == "orphans":  # the scheduler that queued them is gone
        store.reset_orphans([])
    elif kind == "clear":
        store.clear_tis([("gate_dag", RUN_ID, task_id, 1)])
        return Override.CLEAR
    elif kind == "mark":
        store.mark_tis("gate_dag", RUN_ID, [task_id], arg)
        return Override.MARK
    elif kind == "mark_run":
        store.mark_run("gate_dag", RUN_ID, arg)
        return Override.MARK
    return None


outcomes = st.sampled_from(sorted(TI_TRANSITIONS[TIS.RUNNING]))
events = st.one_of(
    *(st.tuples(st.just(kind), st.just(0), st.none()) for kind in ("schedule", "queue", "start", "orphans")),
    st.tuples(st.just("run"), st.integers(0, 2), outcomes),
    st.tuples(st.just("kill"), st.integers(0, 2), st.booleans()),
    st.tuples(st.just("clear"), st.integers(0, 2), st.none()),
    st.tuples(st.just("mark"), st.integers(0, 2), st.sampled_from([TIS.SUCCESS, TIS.FAILED])),
    st.tuples(st.just("mark_run"), st.just(0), st.sampled_from([DagRunState.SUCCESS, DagRunState.FAILED])),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(events, min_size=1, max_size=25))
def test_no_state_ever_moves_along_an_unlisted_edge(store: Any, gate_dag: DAG, sequence: list[Any]) -> None:
    store.delete_run("gate_dag", RUN_ID)
    store.create_run("gate_dag", task_rows(gate_dag), RUN_ID, dt.datetime(2024, 1, 2, tzinfo=UTC), None, "manual",
                     state=DagRunState.RUNNING)
    before = snapshot(store)
    for event in sequence:
        override = apply(store, gate_dag, event)
        after = snapshot(store)
        for task_id, old in before[0].items():
            new = after[0][task_id]
            if old == new:
                continue
            by_override = override is not None and old in TI_OVERRIDES[override][0] and new in TI_OVERRIDES[override][1]
            assert (old, new) in TI_REACH or by_override, f"{event}: {task_id} {old} -> {new}"
        old_run, new_run = before[1], after[1]
        if old_run != new_run:
            by_override = override is not None and new_run in RUN_OVERRIDES[override][1]
            assert (old_run, new_run) in RUN_REACH or by_override, f"{event}: run {old_run} -> {new_run}"
        before = after


def test_the_gate_refuses_what_the_tables_do_not_list() -> None:
    with pytest.raises(IllegalTransition, match="success -> running"):
        move_tis([TIS.SUCCESS], TIS.RUNNING)
    with pytest.raises(IllegalTransition, match="running -> None"):
        move_tis([TIS.RUNNING], None, Override.CLEAR)  # a running try is never cleared
    with pytest.raises(IllegalTransition, match="success -> running"):
        move_runs([DagRunState.SUCCESS], DagRunState.RUNNING)
    move_tis([TIS.SUCCESS, None], None, Override.CLEAR)  # a clear may restart anything else
    move_runs([DagRunState.SUCCESS], DagRunState.QUEUED, Override.CLEAR)


def test_store_writes_check_the_tables_before_touching_rows(store: Any, gate_dag: DAG) -> None:
    with pytest.raises(IllegalTransition):
        store.set_ti_states("gate_dag", RUN_ID, ["a"], TIS.RUNNING, [TIS.SUCCESS])
    with pytest.raises(IllegalTransition):
        store.set_run_state("gate_dag", RUN_ID, DagRunState.QUEUED, [DagRunState.RUNNING])
