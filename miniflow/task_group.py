"""Task groups: a named set of tasks, drawn as one box; ids get the group's prefix and
edges to or from the group attach to its first or last tasks.

``with TaskGroup("extract"):`` makes ``extract.<task_id>``; ``task_group=`` on an
operator puts one task in a group; ``@task_group`` turns a function into a group
factory (see `miniflow.decorators`). A *mapped* task group (``@task_group`` with
``.expand``) runs all of its tasks once per item: instance ``i`` of each task in the
group belongs to item ``i``, and sees only instance ``i`` of the other tasks of the
group (their XComs and their states), as in Airflow.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from miniflow.baseoperator import DependencyMixin
from miniflow.dag import DAG, DagContext, id_core, validate_key
from miniflow.exceptions import DagDefinitionError, DuplicateTaskIdError

if TYPE_CHECKING:
    from miniflow.baseoperator import BaseOperator
    from miniflow.context import Context
    from miniflow.xcom import XComArg

__all__ = ["TaskGroup", "TaskGroupContext", "MappedTaskGroup", "MappedArgument", "mapped_group_of"]


class TaskGroupContext:
    """The groups entered with ``with``, innermost last."""

    _stack: list[TaskGroup] = []

    @classmethod
    def current(cls) -> TaskGroup | None:
        return cls._stack[-1] if cls._stack else None


class TaskGroup(DependencyMixin):
    """``with TaskGroup("extract"):`` -- tasks made inside are ``extract.<task_id>``.

    ``group >> task`` links the group's last tasks to ``task``; ``task >> group``
    links ``task`` to the group's first tasks. Teardown tasks are not "last": an
    edge out of a group starts at the work before its teardowns, as in Airflow.
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
        self.parent: TaskGroup | None = parent_group or TaskGroupContext.current()
        self.dag: DAG | None = dag or (self.parent.dag if self.parent else DagContext.current())
        where = f"{self.dag.fileloc}: DAG {self.dag.dag_id!r}: " if self.dag else ""
        validate_key("group_id", group_id, where)
        full_id = f"{self.parent.prefix}{group_id}" if self.parent else group_id
        if self.dag is not None and (full_id in self.dag.task_group_dict or full_id in self.dag.task_dict):
            if not add_suffix_on_collision:
                raise DuplicateTaskIdError(
                    f"{where}group_id {full_id!r} is already used in this DAG; give each group its own id")
            # As Airflow: one above the highest <id>__<n> of a group, <id> without its own __<n>.
            full_id = f"{id_core(full_id)}__{self.dag.last_id_suffix('group', id_core(full_id)) + 1}"
        self.group_id = full_id
        self.prefix_group_id = prefix_group_id
        self.tooltip = tooltip
        self.ui_color = ui_color
        self.ui_fgcolor = ui_fgcolor
        self.default_args: dict[str, Any] = {**(self.parent.default_args if self.parent else {}),
                                             **(default_args or {})}
        self.task_ids: list[str] = []
        if self.dag is not None:
            self.dag.add_task_group(self)

    @property
    def label(self) -> str:
        """The group's own name, without its parents' prefix."""
        return self.group_id.rsplit(".", 1)[-1]

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

    def __iter__(self) -> Iterator[BaseOperator]:
        return iter(self._members())

    @property
    def children(self) -> dict[str, BaseOperator]:
        return {t.task_id: t for t in self._members()}

    def _members(self) -> list[BaseOperator]:
        if self.dag is None:
            raise DagDefinitionError(f"task group {self.group_id!r} is not in a DAG")
        return [self.dag.task_dict[t] for t in self.task_ids]

    def _dep_nodes(self) -> list[BaseOperator]:
        return self._members()

    def _roots(self) -> list[BaseOperator]:
        ids = set(self.task_ids)
        return [t for t in self._members() if not (t.upstream_task_ids & ids)]

    def _leaves(self) -> list[BaseOperator]:
        ids = set(self.task_ids)
        tasks = self.dag.task_dict if self.dag else {}
        leaves: list[BaseOperator] = []
        for task in self._members():
            if task.downstream_task_ids & ids:
                continue
            if not task.is_teardown:
                leaves.append(task)
                continue
            # a teardown ends the group: edges leave from the work its setups guard
            leaves += [up for up in (tasks[u] for u in sorted(task.upstream_task_ids & ids))
                       if not up.is_setup and not up.is_teardown]
        return list(dict.fromkeys(leaves))

    get_roots = _roots
    get_leaves = _leaves


class MappedTaskGroup(TaskGroup):
    """A group whose tasks run once per item of `expand_input` (a dict of lists or
    upstream outputs for ``expand``, a list of dicts or an output for ``expand_kwargs``)."""

    def __init__(self, *, expand_input: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mapped_group_of(self.parent) is not None:
            raise DagDefinitionError(
                f"task group {self.group_id!r}: a mapped task group inside another mapped task "
                "group is not supported by miniflow")
        self.expand_input = expand_input

    def expand_sources(self) -> list[XComArg]:
        """The upstream outputs this group maps over."""
        from miniflow.xcom import XComArg

        return list(XComArg.find_all([self.expand_input]))

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        if self.task_ids:
            for source in self.expand_sources():
                self.set_upstream(source.operator)


def mapped_group_of(node: BaseOperator | TaskGroup | None) -> MappedTaskGroup | None:
    """The mapped task group a task (or group) is inside, if any."""
    group = node if isinstance(node, TaskGroup) else getattr(node, "task_group", None)
    while group is not None:
        if isinstance(group, MappedTaskGroup):
            return group
        group = group.parent
    return None


class MappedArgument:
    """An argument of a mapped ``@task_group`` function: inside the group it stands for
    the item of the running instance (its map index), resolved when a task runs."""

    def __init__(self, group_input: Any, key: str, default: Any) -> None:
        self.group_input = group_input
        self.key = key
        self.default = default

    def __repr__(self) -> str:
        return f"MappedArgument({self.key!r})"

    def sources(self) -> list[XComArg]:
        from miniflow.xcom import XComArg

        return list(XComArg.find_all([self.group_input]))

    def resolve(self, context: Context) -> Any:
        from miniflow.mapping import mapped_kwargs

        chosen = mapped_kwargs(self.group_input, context["ti"].map_index,
                               lambda arg: arg.resolve(context), "mapped task group")
        return chosen.get(self.key, self.default)
