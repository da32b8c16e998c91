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
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from miniflow.mapping import MappedOperator
from miniflow.state import FINISHED, DagRunState
from miniflow.state import TaskInstanceState as TIS
from miniflow.trigger_rules import Decision, TriggerRule, UpstreamCounts, decide

if TYPE_CHECKING:
    from miniflow.dag import DAG

__all__ = ["RunDecisions", "TIKey", "evaluate_run", "run_outcome"]

_WAITING = (TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE)

TIKey = tuple[str, int]
"""A task instance within one run: (task_id, map_index)."""


@dataclass
class RunDecisions:
    """What to do with a run's task instances now."""

    runnable: list[TIKey] = field(default_factory=list)  # rule met: schedule them
    skip: list[TIKey] = field(default_factory=list)  # rule can no longer be met: skipped
    upstream_failed: list[TIKey] = field(default_factory=list)  # ... because of failures
    retry_due: list[TIKey] = field(default_factory=list)  # retry or reschedule time reached
    expand: list[str] = field(default_factory=list)  # mapped tasks whose rule is met: count their items
    outcome: DagRunState | None = None  # set once the run is over


def evaluate_run(
    dag: DAG,
    states: Mapping[TIKey, TIS | None],
    now: dt.datetime,
    next_try_at: Mapping[TIKey, dt.datetime | None] | None = None,
    past_allows: Callable[[str, int], bool] | None = None,
) -> RunDecisions:
    """Decide every task instance that is waiting on its upstream tasks.

    Tasks are visited in topological order and a skip or upstream failure decided
    here counts for the tasks after it, so one call settles the whole cascade. A task's
    trigger rule counts every instance of its upstream tasks (all map indexes). A mapped
    task whose instances have no state yet is decided as one: when its rule is met it is
    listed in `expand`, for the caller to count its items and schedule its instances.
    `past_allows(task_id, map_index)` answers depends_on_past; None means no constraint.
    """
    decisions = RunDecisions()
    held_by_past = False
    current: dict[str, dict[int, TIS | None]] = defaultdict(dict)
    for (tid, index), state in states.items():
        current[tid][index] = TIS(state) if state is not None else None
    next_try_at = next_try_at or {}
    for task in dag.topological_sort():
        tid = task.task_id
        instances = current[tid]
        waiting = [index for index, state in instances.items() if state is None]
        for index, state in instances.items():
            if state in _WAITING:
                due = next_try_at.get((tid, index))
                if due is None or due <= now:
                    decisions.retry_due.append((tid, index))
        if not waiting:
            continue
        upstream = [s for u in task.upstream_task_ids for s in current[u].values()]
        if upstream and task.trigger_rule is not TriggerRule.ALWAYS and not any(s in FINISHED for s in upstream):
            continue  # no upstream task has finished yet: every other rule waits
        verdict = decide(task.trigger_rule, UpstreamCounts.of(upstream))
        if verdict is Decision.RUN:
            allowed = [i for i in waiting if past_allows is None or past_allows(tid, i)]
            held_by_past = held_by_past or len(allowed) < len(waiting)  # waits: not a deadlock
            if isinstance(task, MappedOperator) and len(waiting) == len(instances):
                if allowed:
                    decisions.expand.append(tid)
                    instances.update({i: TIS.SCHEDULED for i in waiting})
                continue
            decisions.runnable += [(tid, i) for i in allowed]
            instances.update({i: TIS.SCHEDULED for i in allowed})
        elif verdict is Decision.SKIP:
            decisions.skip += [(tid, i) for i in waiting]
            instances.update({i: TIS.SKIPPED for i in waiting})
        elif verdict is Decision.UPSTREAM_FAILED:
            decisions.upstream_failed += [(tid, i) for i in waiting]
            instances.update({i: TIS.UPSTREAM_FAILED for i in waiting})
    flat = {(t, i): s for t, instances in current.items() for i, s in instances.items()}
    decisions.outcome = run_outcome(dag, flat, can_progress=bool(
        held_by_past or decisions.runnable or decisions.expand or decisions.retry_due or any(
            s in (TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, *_WAITING) for s in flat.values())))
    return decisions


def run_outcome(dag: DAG, states: Mapping[TIKey, TIS | None], can_progress: bool = True) -> DagRunState | None:
    """SUCCESS or FAILED once the run is over, None while it goes on."""
    unfinished = [key for key, s in states.items() if s not in FINISHED]
    if unfinished and can_progress:
        return None
    if unfinished:  # deadlock: nothing can move any more
        return DagRunState.FAILED
    leaves = {t.task_id for t in dag.leaves}
    if any(s in (TIS.FAILED, TIS.UPSTREAM_FAILED) for (tid, _), s in states.items() if tid in leaves):
        return DagRunState.FAILED
    return DagRunState.SUCCESS
