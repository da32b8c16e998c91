"""TaskGroup: a named group of tasks; ids get the group's prefix, edges attach to its ends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from miniflow.baseoperator import DependencyMixin
from miniflow.dag import DAG, DagContext, validate_key

if TYPE_CHECKING:
    from miniflow.baseoperator import BaseOperator

__all__ = ["TaskGroup", "TaskGroupContext"]


class TaskGroupContext:
    _stack: list[TaskGroup] = []

    @classmethod
    def current(cls) -> TaskGroup | None:
        return cls._stack[-1] if cls._stack else None


class TaskGroup(DependencyMixin):
    """``with TaskGroup("extract"):`` -- tasks made inside are ``extract.<task_id>``.

    ``group >> task`` links the group's last tasks to ``task``; ``task >> group``
    links ``task`` to the group's first tasks.
    """

    def __init__(
        self,
        group_id: str,
        prefix_group_id: bool = True,
        parent_group: TaskGroup | None = None,
        dag: DAG | None = None,
        tooltip: str = "",
        ui_color: str = "CornflowerBlue",
        ui_fgcolor: str = "#000",
        default_args: dict[str, Any] | None = None,
        add_suffix_on_collision: bool = False,
    ) -> None:
        self.parent = parent_group or TaskGroupContext.current()
        self.dag = dag or (self.parent.dag if self.parent else DagContext.current())
        validate_key("group_id", group_id)
        self.group_id = f"{self.parent.prefix}{group_id}" if self.parent else group_id
        self.prefix_group_id = prefix_group_id
        self.tooltip = tooltip
        self.default_args = default_args or {}
        self.task_ids: list[str] = []

    @property
    def prefix(self) -> str:
        return f"{self.group_id}." if self.prefix_group_id else (self.parent.prefix if self.parent else "")

    def child_id(self, task_id: str) -> str:
        return f"{self.prefix}{task_id}"

    def add(self, task: BaseOperator) -> None:
        self.task_ids.append(task.task_id)
        if self.parent is not None:
            self.parent.add(task)

    def __enter__(self) -> TaskGroup:
        TaskGroupContext._stack.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        TaskGroupContext._stack.pop()

    def _members(self) -> list[BaseOperator]:
        assert self.dag is not None, f"task group {self.group_id!r} is not in a DAG"
        return [self.dag.task_dict[t] for t in self.task_ids]

    def _dep_nodes(self) -> list[BaseOperator]:
        return self._members()

    def _roots(self) -> list[BaseOperator]:
        ids = set(self.task_ids)
        return [t for t in self._members() if not (t.upstream_task_ids & ids)]

    def _leaves(self) -> list[BaseOperator]:
        ids = set(self.task_ids)
        return [t for t in self._members() if not (t.downstream_task_ids & ids)]
