"""One DAG run's progress: which task instances may run now, which can never run, and
whether the run is over. Pure functions of the DAG and the current states, shared by
the scheduler, ``dags test`` and backfill, so all three follow the same rules.

A run ends when no task instance is unfinished: it fails if a leaf task failed (or
could not run because an upstream failed), and succeeds when every leaf is success or
skipped, as in Airflow. A run whose unfinished tasks can no longer progress (nothing
running, queued, waiting for a retry or runnable) is deadlocked and fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from miniflow.state import FINISHED, DagRunState
from miniflow.state import TaskInstanceState as TIS
from miniflow.trigger_rules import Decision, TriggerRule, UpstreamCounts, decide

if TYPE_CHECKING:
    from miniflow.dag import DAG

__all__ = ["RunDecisions", "evaluate_run", "run_outcome"]

_WAITING = (TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE)


@dataclass
class RunDecisions:
    """What to do with a run's task instances now."""

    runnable: list[str] = field(default_factory=list)  # rule met: schedule them
    skip: list[str] = field(default_factory=list)  # rule can no longer be met: skipped
    upstream_failed: list[str] = field(default_factory=list)  # ... because of failures
    retry_due: list[str] = field(default_factory=list)  # retry or reschedule time reached
    outcome: DagRunState | None = None  # set once the run is over


def evaluate_run(
    dag: DAG,
    states: Mapping[str, TIS | None],
    now: dt.datetime,
    next_try_at: Mapping[str, dt.datetime | None] | None = None,
    past_allows: Callable[[str], bool] | None = None,
) -> RunDecisions:
    """Decide every task instance that is waiting on its upstream tasks.

    Tasks are visited in topological order and a skip or upstream failure decided
    here counts for the tasks after it, so one call settles the whole cascade.
    `past_allows(task_id)` answers depends_on_past; None means no constraint.
    """
    decisions = RunDecisions()
    held_by_past = False
    current: dict[str, TIS | None] = {t: (TIS(s) if s is not None else None) for t, s in states.items()}
    next_try_at = next_try_at or {}
    for task in dag.topological_sort():
        tid = task.task_id
        state = current.get(tid)
        if state in _WAITING:
            due = next_try_at.get(tid)
            if due is None or due <= now:
                decisions.retry_due.append(tid)
            continue
        if state is not None:
            continue
        upstream = [current.get(u) for u in task.upstream_task_ids]
        if upstream and task.trigger_rule is not TriggerRule.ALWAYS and not any(s in FINISHED for s in upstream):
            continue  # no upstream task has finished yet: every other rule waits
        counts = UpstreamCounts.of(upstream)
        verdict = decide(task.trigger_rule, counts)
        if verdict is Decision.RUN:
            if past_allows is None or past_allows(tid):
                decisions.runnable.append(tid)
                current[tid] = TIS.SCHEDULED
            else:
                held_by_past = True  # waits for the previous run: not a deadlock (Airflow)
        elif verdict is Decision.SKIP:
            decisions.skip.append(tid)
            current[tid] = TIS.SKIPPED
        elif verdict is Decision.UPSTREAM_FAILED:
            decisions.upstream_failed.append(tid)
            current[tid] = TIS.UPSTREAM_FAILED
    decisions.outcome = run_outcome(dag, current, can_progress=bool(
        held_by_past or decisions.runnable or decisions.retry_due or any(
            s in (TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, *_WAITING) for s in current.values())))
    return decisions


def run_outcome(dag: DAG, states: Mapping[str, TIS | None], can_progress: bool = True) -> DagRunState | None:
    """SUCCESS or FAILED once the run is over, None while it goes on."""
    unfinished = [t for t, s in states.items() if s not in FINISHED]
    if unfinished and can_progress:
        return None
    if unfinished:  # deadlock: nothing can move any more
        return DagRunState.FAILED
    leaves = [t.task_id for t in dag.leaves]
    if any(states.get(t) in (TIS.FAILED, TIS.UPSTREAM_FAILED) for t in leaves):
        return DagRunState.FAILED
    return DagRunState.SUCCESS
