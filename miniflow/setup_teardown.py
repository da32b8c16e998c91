"""Setup and teardown tasks: a setup creates a resource (a cluster, a table), the work
uses it, a teardown removes it -- also when the work failed.

Airflow 2.10's rules, which miniflow follows:

- ``task.as_setup()`` / ``@setup`` mark a setup; ``task.as_teardown(setups=...)`` /
  ``@teardown`` mark a teardown, draw ``setup >> teardown`` and give it the trigger
  rule ``all_done_setup_success``: it waits for everything upstream to finish, then
  runs if at least one of its setups succeeded (skipped if all were skipped,
  upstream_failed if none ran).
- A task between a setup and its teardown (or after a setup with no teardown) needs
  that setup to succeed even when the setup is not its direct upstream: a failed
  setup makes it upstream_failed, a skipped one skips it (`indirect_setups`).
- A teardown's outcome does not decide the run's, unless ``on_failure_fail_dagrun``
  (`outcome_tasks`).
- Clearing a task clears the setups it needs and their teardowns (`clear_scope`).
- ``with setup >> teardown:`` (or ``with setup:`` / ``with teardown:``) puts the tasks
  made inside between them: the setups go before the first of those tasks, the
  teardowns after the last (`SetupTeardownContext`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from miniflow.exceptions import DagDefinitionError
from miniflow.trigger_rules import TriggerRule

if TYPE_CHECKING:
    from miniflow.baseoperator import BaseOperator
    from miniflow.dag import DAG

__all__ = ["SetupTeardownContext", "make_teardown", "TaskGraph", "indirect_setups", "outcome_tasks",
           "clear_scope"]


def _operators(node: Any) -> list[BaseOperator]:
    """The tasks behind a task, an XComArg or a list of them."""
    if isinstance(node, (list, tuple, set)):
        return [op for item in node for op in _operators(item)]
    return [getattr(node, "operator", node)]


def make_teardown(task: BaseOperator, setups: Any, on_failure_fail_dagrun: bool | None) -> BaseOperator:
    """Mark `task` as the teardown of `setups` (which become setups)."""
    task.is_teardown = True
    task.trigger_rule = TriggerRule.ALL_DONE_SETUP_SUCCESS
    if on_failure_fail_dagrun is not None:
        task.on_failure_fail_dagrun = on_failure_fail_dagrun
    for setup in _operators(setups) if setups is not None else []:
        setup.is_setup = True
        setup >> task
    return task


@dataclass
class _Frame:
    """One ``with`` block: its setup or teardown tasks, the matching ones found in the
    graph, and the tasks made inside it."""

    setups: list[BaseOperator]
    teardowns: list[BaseOperator]
    made: list[BaseOperator] = field(default_factory=list)


class SetupTeardownContext:
    """The ``with`` blocks of setup and teardown tasks being defined, innermost last."""

    _frames: list[_Frame] = []

    @classmethod
    def enter(cls, node: Any) -> type[SetupTeardownContext]:
        tasks = _operators(node)
        if not all(t.is_setup or t.is_teardown for t in tasks):
            raise DagDefinitionError(
                f"task {tasks[0].task_id!r}: only setup and teardown tasks can be used as context managers")
        if any(t.is_teardown != tasks[0].is_teardown for t in tasks):
            raise DagDefinitionError("a context manager takes setup tasks or teardown tasks, not both")
        if tasks[0].is_teardown:
            frame = _Frame(setups=_nearest(tasks[0], lambda t: t.is_setup, upstream=True), teardowns=tasks)
        else:
            frame = _Frame(setups=tasks, teardowns=_nearest(tasks[0], lambda t: t.is_teardown, upstream=False))
        cls._frames.append(frame)
        return cls

    @classmethod
    def add_task(cls, task: BaseOperator) -> None:
        """A task made while a ``with`` block is open belongs to the innermost one."""
        if cls._frames:
            cls._frames[-1].made.append(task)

    @classmethod
    def exit(cls) -> None:
        frame = cls._frames.pop()
        work = [t for t in frame.made if not t.is_setup and not t.is_teardown]
        if work:
            roots = [t for t in work if not t.upstream_task_ids] or work[:1]
            leaves = [t for t in work if not t.downstream_task_ids] or work[-1:]
            for setup in frame.setups:
                setup >> roots
            for leaf in leaves:
                leaf >> frame.teardowns
        if cls._frames:  # nested blocks: outer setups first, outer teardowns last
            outer = cls._frames[-1]
            for setup in outer.setups:
                setup >> [s for s in frame.setups if s is not setup]
            for teardown in frame.teardowns:
                teardown >> [t for t in outer.teardowns if t is not teardown]


def _nearest(task: BaseOperator, wanted: Any, upstream: bool) -> list[BaseOperator]:
    """The tasks matching `wanted` closest to `task` in the graph, searched outward
    from its upstream (or downstream) tasks: a setup's teardowns, a teardown's setups."""
    dag = task.dag
    seen = {task.task_id}
    layer = sorted(task.upstream_task_ids if upstream else task.downstream_task_ids)
    while layer:
        found = [dag.task_dict[t] for t in layer if wanted(dag.task_dict[t])]
        if found:
            return found
        seen.update(layer)
        layer = sorted({n for t in layer for n in dag.task_dict[t].upstream_task_ids | dag.task_dict[t].downstream_task_ids}
                       - seen)
    return []


# --- the rules, on a DAG or on its serialized form ---------------------------------------


@dataclass(frozen=True)
class TaskGraph:
    """The edges and setup/teardown marks of a DAG's tasks: what the rules need, from a
    DAG object (scheduler, CLI) or from the serialized DAG (webserver)."""

    upstream: Mapping[str, frozenset[str]]
    downstream: Mapping[str, frozenset[str]]
    setups: frozenset[str]
    teardowns: frozenset[str]
    fail_dagrun: frozenset[str]  # teardowns whose failure fails the run

    @classmethod
    def of_dag(cls, dag: DAG) -> TaskGraph:
        tasks = dag.task_dict.values()
        return cls(
            upstream={t.task_id: frozenset(t.upstream_task_ids) for t in tasks},
            downstream={t.task_id: frozenset(t.downstream_task_ids) for t in tasks},
            setups=frozenset(t.task_id for t in tasks if t.is_setup),
            teardowns=frozenset(t.task_id for t in tasks if t.is_teardown),
            fail_dagrun=frozenset(t.task_id for t in tasks if t.on_failure_fail_dagrun),
        )

    @classmethod
    def of_serialized(cls, tasks: Iterable[Mapping[str, Any]]) -> TaskGraph:
        tasks = list(tasks)
        return cls(
            upstream={t["task_id"]: frozenset(t["upstream"]) for t in tasks},
            downstream={t["task_id"]: frozenset(t["downstream"]) for t in tasks},
            setups=frozenset(t["task_id"] for t in tasks if t.get("is_setup")),
            teardowns=frozenset(t["task_id"] for t in tasks if t.get("is_teardown")),
            fail_dagrun=frozenset(t["task_id"] for t in tasks if t.get("on_failure_fail_dagrun")),
        )

    def relatives(self, task_id: str, upstream: bool) -> set[str]:
        """Every task reachable from `task_id` going upstream (or downstream)."""
        edges = self.upstream if upstream else self.downstream
        seen: set[str] = set()
        todo = [task_id]
        while todo:
            for rel in edges[todo.pop()]:
                if rel not in seen:
                    seen.add(rel)
                    todo.append(rel)
        return seen

    def relevant_setups(self, task_id: str) -> set[str]:
        """The setups `task_id` needs: upstream setups that have no teardown, or have one
        downstream of `task_id`."""
        teardowns_after = {t for t in self.relatives(task_id, upstream=False) if t in self.teardowns}
        return {s for s in self.relatives(task_id, upstream=True) if s in self.setups
                and (not (self.downstream[s] & self.teardowns) or self.downstream[s] & teardowns_after)}


def indirect_setups(dag: DAG) -> dict[str, frozenset[str]]:
    """For each non-teardown task, the relevant setups that are not its direct
    upstream tasks: it runs only once they all succeeded. Kept until the graph changes."""
    def compute() -> dict[str, frozenset[str]]:
        graph = TaskGraph.of_dag(dag)
        result = {}
        for tid in dag.task_dict if graph.setups else ():
            if tid not in graph.teardowns and (found := graph.relevant_setups(tid) - graph.upstream[tid]):
                result[tid] = frozenset(found)
        return result

    return dag.derived("indirect_setups", compute)


def outcome_tasks(graph: TaskGraph) -> set[str]:
    """The tasks whose states decide a finished run's state: the leaves, where a
    teardown (unless ``on_failure_fail_dagrun``) is looked through, as in Airflow."""
    def ignorable(tid: str) -> bool:
        return tid in graph.teardowns and tid not in graph.fail_dagrun

    leaves = {tid for tid, down in graph.downstream.items()
              if all(ignorable(d) for d in down) and not ignorable(tid)}
    return leaves or {tid for tid, down in graph.downstream.items() if not down}


def clear_scope(graph: TaskGraph, task_ids: Iterable[str], upstream: bool = False,
                downstream: bool = False) -> set[str]:
    """The tasks a clear of `task_ids` resets: those, on request everything up- or
    downstream, and the setups each cleared work task needs with their teardowns."""
    chosen = set(task_ids)
    scope = set(chosen)

    def with_setups(tid: str) -> set[str]:
        if tid in graph.setups or tid in graph.teardowns:
            return set()
        setups = graph.relevant_setups(tid)
        return setups | {t for s in setups for t in graph.downstream[s] if t in graph.teardowns and t != tid}

    for tid in chosen:
        if downstream:
            for rel in graph.relatives(tid, upstream=False):
                scope.add(rel)
                if rel not in chosen:
                    scope |= with_setups(rel)
        if upstream:
            for rel in graph.relatives(tid, upstream=True):
                scope.add(rel)
                if rel in graph.setups:
                    scope |= {t for t in graph.downstream[rel] if t in graph.teardowns and t != tid}
        else:
            scope |= with_setups(tid)
        if tid in graph.setups and not downstream:
            scope |= {t for t in graph.downstream[tid] if t in graph.teardowns}
    return scope
