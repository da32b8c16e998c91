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
import heapq
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from miniflow.mapping import is_mapped
from miniflow.operators.skip import XCOM_SKIPMIXIN_FOLLOWED, XCOM_SKIPMIXIN_SKIPPED, SkipMixin
from miniflow.setup_teardown import TaskGraph, indirect_setups, outcome_tasks
from miniflow.state import FINISHED, DagRunState
from miniflow.state import TaskInstanceState as TIS
from miniflow.task_group import mapped_group_of
from miniflow.trigger_rules import Decision, TriggerRule, UpstreamCounts, decide

if TYPE_CHECKING:
    from miniflow.baseoperator import BaseOperator
    from miniflow.dag import DAG
    from miniflow.task_group import MappedTaskGroup

__all__ = ["RunDecisions", "RunStates", "RunView", "TIKey", "affected_by", "evaluate_run", "run_outcome",
           "skipping_parents"]

_WAITING = (TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE)
_MOVING = (TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, *_WAITING)

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
    held_by_past: list[str] = field(default_factory=list)  # rule met, but depends_on_past holds them back
    outcome: DagRunState | None = None  # set once the run is over


class RunStates:
    """One run's task-instance states by task, with the sets every decision asks about
    kept up to date as states change, so deciding a run costs what changed in it, not
    its size: the instances waiting for a retry time, the unfinished ones, and those on
    their way (scheduled, queued, running or waiting)."""

    def __init__(self) -> None:
        self.by_task: dict[str, dict[int, TIS | None]] = defaultdict(dict)
        self.next_try_at: dict[TIKey, dt.datetime | None] = {}
        self.waiting: set[TIKey] = set()
        self.unfinished: set[TIKey] = set()
        self.moving: set[TIKey] = set()
        self._tally: _UpstreamTally | None = None  # built by the first `upstream_states`

    @classmethod
    def of(cls, states: Mapping[TIKey, TIS | str | None],
           next_try_at: Mapping[TIKey, dt.datetime | None] | None = None) -> RunStates:
        run = cls()
        for key, state in states.items():
            run.set(key, state, (next_try_at or {}).get(key))
        return run

    def set(self, key: TIKey, state: TIS | str | None, next_try_at: dt.datetime | None = None) -> None:
        state = TIS(state) if state is not None else None
        instances = self.by_task[key[0]]
        if self._tally is not None:
            self._tally.move(key[0], instances.get(key[1], _ABSENT), state)
        instances[key[1]] = state
        self.next_try_at[key] = next_try_at
        for members, belongs in ((self.waiting, state in _WAITING), (self.unfinished, state not in FINISHED),
                                 (self.moving, state in _MOVING)):
            if belongs:
                members.add(key)
            else:
                members.discard(key)

    def drop(self, key: TIKey) -> None:
        instances = self.by_task[key[0]]
        if self._tally is not None and key[1] in instances:
            self._tally.move(key[0], instances[key[1]], _ABSENT)
        instances.pop(key[1], None)
        self.next_try_at.pop(key, None)
        for members in (self.waiting, self.unfinished, self.moving):
            members.discard(key)

    def state(self, key: TIKey) -> TIS | None:
        return self.by_task[key[0]].get(key[1])

    def upstream_states(self, dag: DAG, task_id: str) -> Counter[TIS | None]:
        """How many instances of `task_id`'s upstream tasks are in each state."""
        if self._tally is None or self._tally.dag is not dag:
            self._tally = _UpstreamTally(dag, self.by_task)
        return self._tally.counts[task_id]

    def __len__(self) -> int:
        return len(self.next_try_at)


class RunView:
    """The scheduler's copy of one running run's states, and the tasks to decide next:
    those downstream of the changes noted since the last decision."""

    WHOLE_READ_EVERY = 60.0  # seconds: a backstop, should a change ever go unseen

    def __init__(self, dag: DAG, states: RunStates) -> None:
        self.dag = dag
        self.states = states
        self.candidates: set[str] | None = None  # None: every task
        self.held: set[str] = set()  # held back by depends_on_past: asked again each pass
        self.loaded = time.monotonic()

    @classmethod
    def load(cls, dag: DAG, states: Mapping[TIKey, TIS | str | None],
             next_try_at: Mapping[TIKey, dt.datetime | None]) -> RunView:
        return cls(dag, RunStates.of(states, next_try_at))

    def note(self, row: Any) -> None:  # a task_instance row: task_id, map_index, state, next_try_at
        """A changed task instance: the task is decided again if it lost its state (a
        clear), its downstream tasks if it finished."""
        key = (row.task_id, row.map_index)
        before = self.states.state(key) if key in self.states.next_try_at else _UNSEEN
        if before is _UNSEEN and row.map_index >= 0:
            self.states.drop((row.task_id, -1))  # expanded: the placeholder became instance 0
        self.states.set(key, row.state, row.next_try_at)
        if self.candidates is None or before == row.state:
            return
        if row.state is None:
            self.candidates.add(row.task_id)
        elif TIS(row.state) in FINISHED:
            self.candidates.update(affected_by(self.dag, row.task_id))

    def take_candidates(self) -> set[str] | None:
        found = None if self.candidates is None else self.candidates | self.held
        self.candidates = set()
        return found

    def stale(self) -> bool:
        return time.monotonic() - self.loaded > self.WHOLE_READ_EVERY


_UNSEEN = object()
_ABSENT = object()  # no instance (in `_UpstreamTally.move`)


class _UpstreamTally:
    """Per task, the states of its upstream tasks' instances, counted and kept up to
    date as states change: deciding a task then reads counts instead of every upstream
    instance, so a fan-in of n tasks, decided again as each upstream one ends, costs
    O(n) in all, not O(n^2)."""

    def __init__(self, dag: DAG, by_task: Mapping[str, Mapping[int, TIS | None]]) -> None:
        self.dag = dag
        self.downstream = {t: task.downstream_task_ids for t, task in dag.task_dict.items()}
        self.counts: dict[str, Counter[TIS | None]] = defaultdict(Counter)
        for task_id, instances in by_task.items():
            for state in instances.values():
                self.move(task_id, _ABSENT, state)

    def move(self, task_id: str, before: object, after: object) -> None:
        for down in self.downstream.get(task_id, ()):
            counts = self.counts[down]
            if before is not _ABSENT:
                counts[before] -= 1  # type: ignore[index]
            if after is not _ABSENT:
                counts[after] += 1  # type: ignore[index]


def evaluate_run(
    dag: DAG,
    states: RunStates | Mapping[TIKey, TIS | None],
    now: dt.datetime,
    next_try_at: Mapping[TIKey, dt.datetime | None] | None = None,
    past_allows: Callable[[str, int], bool] | None = None,
    candidates: Iterable[str] | None = None,
    skip_orders: Callable[[str], Mapping[str, Any] | None] | None = None,
) -> RunDecisions:
    """Decide the task instances that are waiting on their upstream tasks.

    `candidates` names the tasks to look at -- those whose upstream states changed
    since the last call (None: every task). Tasks are visited in topological order and
    a skip or upstream failure decided here counts for the tasks after it, which are
    then visited too, so one call settles the whole cascade. A task's
    trigger rule counts every instance of its upstream tasks (all map indexes), except
    inside a mapped task group, where instance i counts instance i of the group's other
    tasks. A mapped task whose instances have no state yet is decided as one: when its
    rule is met it is listed in `expand`, for the caller to count its items and create
    its instances. A task that needs setups it is not directly downstream of waits for
    them to succeed (see `miniflow.setup_teardown`).
    `past_allows(task_id, map_index)` answers depends_on_past; None means no constraint.
    `skip_orders(task_id)` gives what a finished branching or short-circuiting task said
    (its ``skipmixin_key`` XCom): an unmapped task it said to skip is skipped whatever its
    trigger rule says, as Airflow's NotPreviouslySkippedDep does -- after the task alone
    was cleared, say.
    """
    run = states if isinstance(states, RunStates) else RunStates.of(states, next_try_at)
    decisions = RunDecisions()
    decided: dict[str, dict[int, TIS]] = defaultdict(dict)  # this call's verdicts, seen by later tasks
    current = _Overlay(run.by_task, decided)
    for key in sorted(run.waiting):
        due = run.next_try_at.get(key)
        if due is None or due <= now:
            decisions.retry_due.append(key)
    needs_setups = indirect_setups(dag)
    order = _topological_index(dag)
    queue = [(order[t], t) for t in (dag.task_dict if candidates is None else set(candidates) & order.keys())]
    heapq.heapify(queue)
    visited = set()
    while queue:
        _, tid = heapq.heappop(queue)
        if tid in visited:
            continue
        visited.add(tid)
        task = dag.task_dict[tid]
        instances = current[tid]
        waiting = [index for index, state in instances.items() if state is None]
        if not waiting:
            continue
        group = mapped_group_of(task)
        units = [[i] for i in waiting] if group is not None else [waiting]
        for unit in units:
            told = unit == [-1] and skip_orders is not None and _told_to_skip(dag, tid, current, skip_orders)
            verdict = Decision.SKIP if told else _verdict(  # told to skip: whatever its rule says, as in Airflow
                task, dag, current, unit[0] if group is not None else None, group, needs_setups.get(tid, ()),
                _upstream_tally(run, dag, task, decided) if group is None else None)
            if verdict is None:
                continue
            if verdict is Decision.RUN:
                allowed = [i for i in unit if past_allows is None or past_allows(tid, i)]
                if len(allowed) < len(unit):
                    decisions.held_by_past.append(tid)  # it waits: not a deadlock
                if is_mapped(task) and allowed and (unit == [-1] or len(unit) == len(instances) > 0
                                                    and group is None):
                    decisions.expand.append(tid)  # count its items first
                    decided[tid].update({i: TIS.SCHEDULED for i in unit})
                    continue
                decisions.runnable += [(tid, i) for i in allowed]
                decided[tid].update({i: TIS.SCHEDULED for i in allowed})
                continue
            if verdict is Decision.SKIP:
                decisions.skip += [(tid, i) for i in unit]
                decided[tid].update({i: TIS.SKIPPED for i in unit})
            elif verdict is Decision.UPSTREAM_FAILED:
                decisions.upstream_failed += [(tid, i) for i in unit]
                decided[tid].update({i: TIS.UPSTREAM_FAILED for i in unit})
            for down in affected_by(dag, tid):
                heapq.heappush(queue, (order[down], down))
    now_finished = {(t, i) for t, instances in decided.items() for i, s in instances.items() if s in FINISHED}
    unfinished = len(run.unfinished) - len(now_finished & run.unfinished)
    can_progress = bool(decisions.held_by_past or decisions.runnable or decisions.expand or decisions.retry_due
                        or run.moving)
    if not unfinished or not can_progress:
        decisions.outcome = run_outcome(dag, {(t, i): current[t][i] for t in run.by_task for i in current[t]},
                                        can_progress)
    return decisions


class _Overlay(Mapping[str, dict[int, "TIS | None"]]):
    """A run's states with this call's verdicts laid over them."""

    def __init__(self, base: Mapping[str, dict[int, TIS | None]], top: Mapping[str, dict[int, TIS]]) -> None:
        self.base, self.top = base, top

    def __getitem__(self, task_id: str) -> dict[int, TIS | None]:
        found = self.base.get(task_id, {})
        over = self.top.get(task_id)
        return {**found, **over} if over else found

    def __iter__(self) -> Iterator[str]:
        return iter(self.base)

    def __len__(self) -> int:
        return len(self.base)


def affected_by(dag: DAG, task_id: str) -> set[str]:
    """The tasks whose trigger rule may change when `task_id` finishes: its downstream
    tasks, and those waiting for it as a setup without being downstream of it."""
    return {*dag.task_dict[task_id].downstream_task_ids, *_needing_setup(dag).get(task_id, ())} \
        if task_id in dag.task_dict else set()


def _topological_index(dag: DAG) -> dict[str, int]:
    return dag.derived("topological_index", lambda: {t.task_id: i for i, t in enumerate(dag.topological_sort())})


def _needing_setup(dag: DAG) -> dict[str, list[str]]:
    """For each setup, the tasks that wait for it without being directly downstream."""
    def compute() -> dict[str, list[str]]:
        found: dict[str, list[str]] = defaultdict(list)
        for tid, setups in indirect_setups(dag).items():
            for setup in setups:
                found[setup].append(tid)
        return dict(found)

    return dag.derived("needing_setup", compute)


def _upstream_tally(run: RunStates, dag: DAG, task: BaseOperator,
                    decided: Mapping[str, Mapping[int, TIS]]) -> Counter[TIS | None]:
    """The states of `task`'s upstream instances, with this call's verdicts laid over."""
    counts = Counter(run.upstream_states(dag, task.task_id))
    upstream = task.upstream_task_ids
    for up in (upstream if len(upstream) < len(decided) else decided):
        for index, state in decided.get(up, {}).items() if up in upstream else ():
            counts[run.by_task[up].get(index)] -= 1
            counts[state] += 1
    return counts


def _upstream_setups(dag: DAG, task_id: str) -> list[str]:
    def compute() -> dict[str, list[str]]:
        return {t: [u for u in task.upstream_task_ids if dag.task_dict[u].is_setup]
                for t, task in dag.task_dict.items()}

    return dag.derived("upstream_setups", compute)[task_id]


def skipping_parents(dag: DAG) -> dict[str, list[str]]:
    """The tasks directly downstream of tasks that skip others (`SkipMixin`: branching,
    short-circuiting), with those upstream tasks."""
    def compute() -> dict[str, list[str]]:
        parents: dict[str, list[str]] = {}
        for task in dag.task_dict.values():
            if isinstance(task, SkipMixin):
                for down in sorted(task.downstream_task_ids):
                    parents.setdefault(down, []).append(task.task_id)
        return parents

    return dag.derived("skipping_parents", compute)


def _told_to_skip(dag: DAG, task_id: str, current: Mapping[str, dict[int, TIS | None]],
                  skip_orders: Callable[[str], Mapping[str, Any] | None]) -> bool:
    for parent in skipping_parents(dag).get(task_id, ()):
        if not all(s in FINISHED for s in current[parent].values()):
            continue  # it has not said yet, or it runs again
        said = skip_orders(parent)
        if not isinstance(said, Mapping):
            continue  # nothing said, or a value of someone else's under the key
        followed = said.get(XCOM_SKIPMIXIN_FOLLOWED)
        if (followed is not None and task_id not in followed) or task_id in said.get(XCOM_SKIPMIXIN_SKIPPED, ()):
            return True
    return False


def _verdict(task: BaseOperator, dag: DAG, current: Mapping[str, dict[int, TIS | None]], index: int | None,
             group: MappedTaskGroup | None, setups: Iterable[str],
             tally: Counter[TIS | None] | None = None) -> Decision | None:
    """The trigger rule's decision for `task` (instance `index` in a mapped task group,
    all its waiting instances otherwise); None while no upstream task has finished.
    `tally` counts the states of every upstream instance when `task` is in no mapped
    task group (then instances are not matched by index), sparing a scan of them."""
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
    if tally is None:
        tally = Counter(s for u in task.upstream_task_ids for s in instances_of(u))
    if (task.trigger_rule is not TriggerRule.ALWAYS and any(n > 0 for n in tally.values())
            and not any(n > 0 for s, n in tally.items() if s in FINISHED)):
        return None  # no upstream task has finished yet: every other rule waits
    setup_states = [s for u in _upstream_setups(dag, task.task_id) for s in instances_of(u)]
    verdict = decide(task.trigger_rule, UpstreamCounts.from_counter(tally, setup_states))
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
