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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from miniflow.mapping import is_mapped
from miniflow.setup_teardown import TaskGraph, indirect_setups, outcome_tasks
from miniflow.state import FINISHED, DagRunState
from miniflow.state import TaskInstanceState as TIS
from miniflow.task_group import mapped_group_of
from miniflow.trigger_rules import Decision, TriggerRule, UpstreamCounts, decide

if TYPE_CHECKING:
    from miniflow.baseoperator import BaseOperator
    from miniflow.dag import DAG
    from miniflow.task_group import MappedTaskGroup

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
    trigger rule counts every instance of its upstream tasks (all map indexes), except
    inside a mapped task group, where instance i counts instance i of the group's other
    tasks. A mapped task whose instances have no state yet is decided as one: when its
    rule is met it is listed in `expand`, for the caller to count its items and create
    its instances. A task that needs setups it is not directly downstream of waits for
    them to succeed (see `miniflow.setup_teardown`).
    `past_allows(task_id, map_index)` answers depends_on_past; None means no constraint.
    """
    decisions = RunDecisions()
    held_by_past = False
    current: dict[str, dict[int, TIS | None]] = defaultdict(dict)
    for (tid, index), state in states.items():
        current[tid][index] = TIS(state) if state is not None else None
    next_try_at = next_try_at or {}
    needs_setups = indirect_setups(dag)
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
        group = mapped_group_of(task)
        units = [[i] for i in waiting] if group is not None else [waiting]
        for unit in units:
            verdict = _verdict(task, dag, current, unit[0] if group is not None else None, group,
                               needs_setups.get(tid, ()))
            if verdict is None:
                continue
            if verdict is Decision.RUN:
                allowed = [i for i in unit if past_allows is None or past_allows(tid, i)]
                held_by_past = held_by_past or len(allowed) < len(unit)  # waits: not a deadlock
                if is_mapped(task) and allowed and (unit == [-1] or len(unit) == len(instances) > 0
                                                    and group is None):
                    decisions.expand.append(tid)  # count its items first
                    instances.update({i: TIS.SCHEDULED for i in unit})
                    continue
                decisions.runnable += [(tid, i) for i in allowed]
                instances.update({i: TIS.SCHEDULED for i in allowed})
            elif verdict is Decision.SKIP:
                decisions.skip += [(tid, i) for i in unit]
                instances.update({i: TIS.SKIPPED for i in unit})
            elif verdict is Decision.UPSTREAM_FAILED:
                decisions.upstream_failed += [(tid, i) for i in unit]
                instances.update({i: TIS.UPSTREAM_FAILED for i in unit})
    flat = {(t, i): s for t, instances in current.items() for i, s in instances.items()}
    decisions.outcome = run_outcome(dag, flat, can_progress=bool(
        held_by_past or decisions.runnable or decisions.expand or decisions.retry_due or any(
            s in (TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, *_WAITING) for s in flat.values())))
    return decisions


def _verdict(task: BaseOperator, dag: DAG, current: Mapping[str, dict[int, TIS | None]], index: int | None,
             group: MappedTaskGroup | None, setups: Iterable[str]) -> Decision | None:
    """The trigger rule's decision for `task` (instance `index` in a mapped task group,
    all its waiting instances otherwise); None while no upstream task has finished."""
    def instances_of(upstream_id: str) -> list[TIS | None]:
        found = current[upstream_id]
        if group is None or mapped_group_of(dag.task_dict[upstream_id]) is not group:
            return list(found.values())
        if index in found:  # the same item's instance of a task of the same group
            return [found[index]]
        return [found[-1]] if -1 in found else []  # not expanded yet: its placeholder

    indirect = [s for setup in setups for s in current[setup].values()]
    if indirect:
        if any(s in (TIS.FAILED, TIS.UPSTREAM_FAILED) for s in indirect):
            return Decision.UPSTREAM_FAILED
        if TIS.SKIPPED in indirect:
            return Decision.SKIP
        if any(s is not TIS.SUCCESS for s in indirect):
            return None
    upstream = [s for u in task.upstream_task_ids for s in instances_of(u)]
    if upstream and task.trigger_rule is not TriggerRule.ALWAYS and not any(s in FINISHED for s in upstream):
        return None  # no upstream task has finished yet: every other rule waits
    setup_states = [s for u in task.upstream_task_ids if dag.task_dict[u].is_setup for s in instances_of(u)]
    verdict = decide(task.trigger_rule, UpstreamCounts.of(upstream, setup_states))
    return None if verdict is Decision.WAIT else verdict


def run_outcome(dag: DAG, states: Mapping[TIKey, TIS | None], can_progress: bool = True) -> DagRunState | None:
    """SUCCESS or FAILED once the run is over, None while it goes on."""
    unfinished = [key for key, s in states.items() if s not in FINISHED]
    if unfinished and can_progress:
        return None
    if unfinished:  # deadlock: nothing can move any more
        return DagRunState.FAILED
    leaves = dag.derived("outcome_tasks", lambda: outcome_tasks(TaskGraph.of_dag(dag)))
    if any(s in (TIS.FAILED, TIS.UPSTREAM_FAILED) for (tid, _), s in states.items() if tid in leaves):
        return DagRunState.FAILED
    return DagRunState.SUCCESS
