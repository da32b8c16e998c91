"""Dynamic task mapping: one task in the DAG, n task instances in a run, n known only
when the run gets there::

    BashOperator.partial(task_id="echo").expand(bash_command=["echo 1", "echo 2"])

    @task
    def add(x: int, y: int) -> int:
        return x + y

    total(add.partial(y=10).expand(x=numbers()))  # one `add` per item numbers() returns

A mapped task is one node of the DAG, a `MappedOperator` holding its fixed arguments
(``partial_kwargs``) and what it maps over (``expand_input``: a dict of lists, dicts
or XComArgs for `expand`; a list of dicts, or an XComArg, for `expand_kwargs`). Several
mapped arguments give their cross product, the last one varying fastest.

A run starts with one placeholder instance (map_index -1). When its trigger rule lets
it run, the scheduler *expands* it (`expansion_length`): it counts the items -- a
literal's length, an upstream task's returned list or dict, or the number of values a
mapped upstream task returned -- and turns the placeholder into instances 0..n-1; with
no items the task is skipped. Each instance runs as the ordinary operator that
`MappedOperator.unmap` builds from the partial arguments and its own item, and pushes
its own XComs; a downstream task that pulls the mapped task's output gets the list of
every instance's value, in map-index order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from miniflow.baseoperator import BaseOperator, _init_arg_names, merged_default_args
from miniflow.exceptions import DagDefinitionError
from miniflow.task_group import MappedTaskGroup, mapped_group_of
from miniflow.xcom import NOTSET, XComArg, _MapXComArg, _ZipXComArg

if TYPE_CHECKING:
    from miniflow.dag import DAG

__all__ = [
    "OperatorPartial",
    "MappedOperator",
    "expansion_length",
    "mapped_kwargs",
    "feeds_mapping",
    "mapped_over",
    "is_mapped",
    "expand_input_of",
    "validate_mappable",
    "validate_expand_value",
    "expand_input_to_json",
    "expand_input_from_json",
]

# Arguments that configure the task itself, not what it maps over (Airflow refuses to
# map over these as well).
_UNMAPPABLE = frozenset({"task_id", "dag", "task_group", "default_args", "map_index_template"})


def validate_expand_value(where: str, name: str, value: Any) -> None:
    """A literal to map over is a list or a dict (a string would map per character)."""
    if isinstance(value, XComArg):
        return
    if not isinstance(value, (list, tuple, dict)):
        raise DagDefinitionError(
            f"{where}expand() got a {type(value).__name__} for {name!r}; map over a list, "
            "a dict or the output of another task"
        )


class OperatorPartial:
    """``Operator.partial(...)``: the arguments every mapped instance shares."""

    def __init__(self, operator_class: type[BaseOperator], kwargs: dict[str, Any]) -> None:
        if "task_id" not in kwargs:
            raise DagDefinitionError(f"{operator_class.__name__}.partial() needs a task_id")
        self.operator_class = operator_class
        self.kwargs = kwargs

    def expand(self, **mapped: Any) -> MappedOperator:
        """One instance per item of `mapped` (the cross product of several arguments);
        like any operator, the mapped task's values are its `.output`."""
        where = f"task {self.kwargs['task_id']!r}: "
        accepted = _init_arg_names(self.operator_class)
        for name, value in mapped.items():
            if name not in accepted or name in _UNMAPPABLE:
                raise DagDefinitionError(
                    f"{where}{self.operator_class.__name__} has no mappable argument {name!r}")
            if name in self.kwargs:
                raise DagDefinitionError(f"{where}{name!r} is given to both partial() and expand()")
            validate_expand_value(where, name, value)
        return MappedOperator.create(self.operator_class, self.kwargs, dict(mapped))

    def expand_kwargs(self, kwargs: XComArg | Sequence[dict[str, Any]]) -> MappedOperator:
        """One instance per dict of keyword arguments (a list, or an upstream's output)."""
        if not isinstance(kwargs, (XComArg, list, tuple)):
            raise DagDefinitionError(
                f"task {self.kwargs['task_id']!r}: expand_kwargs() takes a list of dicts or "
                f"the output of another task, not a {type(kwargs).__name__}")
        return MappedOperator.create(self.operator_class, self.kwargs, kwargs)


class MappedOperator(BaseOperator):
    """A task that runs as one instance per item; see the module docstring."""

    ui_color = "#f0f0ff"

    def __init__(
        self,
        *,
        operator_class: type[BaseOperator],
        partial_kwargs: dict[str, Any],
        expand_input: dict[str, Any] | XComArg | Sequence[dict[str, Any]],
        mapped_into: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mapped_group_of(self) is not None:
            raise DagDefinitionError(
                f"task {self.task_id!r}: mapping a task inside a mapped task group is not supported by miniflow")
        self.operator_class = operator_class
        self.partial_kwargs = {**partial_kwargs, "task_id": self.task_id}
        self.expand_input = expand_input
        self.mapped_into = mapped_into  # "op_kwargs" for @task functions
        for ref in XComArg.find_all([partial_kwargs, expand_input]):
            ref.operator._link(self)

    @classmethod
    def create(cls, operator_class: type[BaseOperator], partial_kwargs: dict[str, Any],
               expand_input: Any, mapped_into: str | None = None) -> MappedOperator:
        """The mapped task, with the DAG's and group's default_args merged in as an
        ordinary task of `operator_class` would get them."""
        partial_kwargs = dict(partial_kwargs)
        defaults = merged_default_args(partial_kwargs)
        for name in _init_arg_names(operator_class):
            if name not in partial_kwargs and name in defaults:
                partial_kwargs[name] = defaults[name]
        base_names = _init_arg_names(BaseOperator)
        own = {k: v for k, v in partial_kwargs.items() if k in base_names}
        shared = {k: v for k, v in partial_kwargs.items() if k not in ("dag", "task_group", "default_args")}
        return cls(operator_class=operator_class, partial_kwargs=shared, expand_input=expand_input,
                   mapped_into=mapped_into, **own)

    def __repr__(self) -> str:
        return f"<Mapped({self.operator_class.__name__}): {self.task_id}>"

    @property
    def inherits_from_empty_operator(self) -> bool:  # type: ignore[override]
        return self.operator_class.inherits_from_empty_operator

    def execute(self, context: dict[str, Any]) -> Any:
        raise RuntimeError(f"mapped task {self.task_id!r} runs through unmap(), one instance at a time")

    def expand_sources(self) -> list[XComArg]:
        """The upstream outputs this task maps over."""
        return list(XComArg.find_all(self.expand_input if isinstance(self.expand_input, XComArg)
                                     else list(self.expand_input.values()) if isinstance(self.expand_input, dict)
                                     else list(self.expand_input)))

    def unmap(self, mapped: dict[str, Any]) -> BaseOperator:
        """The operator one instance runs: the partial arguments plus its own `mapped`."""
        kwargs = dict(self.partial_kwargs)
        if self.mapped_into is not None:
            kwargs[self.mapped_into] = {**(kwargs.get(self.mapped_into) or {}), **mapped}
        else:
            kwargs.update(mapped)
        task = self.operator_class(**kwargs)
        task._dag = self._dag
        task.params = self.params
        task.upstream_task_ids = set(self.upstream_task_ids)
        task.downstream_task_ids = set(self.downstream_task_ids)
        return task


def validate_mappable(value: Any, where: str, max_length: int) -> None:
    """What an upstream task returns for a mapped task to map over must be a list or a
    dict of at most `max_length` items; anything else fails the upstream's try."""
    if not isinstance(value, (list, tuple, dict)):
        raise TypeError(
            f"{where}returned a {type(value).__name__}, but a mapped task maps over this "
            "value: return a list or a dict")
    if len(value) > max_length:
        raise ValueError(
            f"{where}returned {len(value)} items for a mapped task, more than "
            f"core.max_map_length ({max_length})")


def is_mapped(task: BaseOperator) -> bool:
    """Whether `task` runs as one instance per item: a mapped task, or any task of a
    mapped task group."""
    return isinstance(task, MappedOperator) or mapped_group_of(task) is not None


def expand_input_of(task: BaseOperator) -> Any:
    """What a mapped task's instances are counted from: its own expand input, or its
    mapped task group's."""
    if isinstance(task, MappedOperator):
        return task.expand_input
    group = mapped_group_of(task)
    assert group is not None, f"task {task.task_id!r} is not mapped"
    return group.expand_input


def feeds_mapping(task: BaseOperator) -> bool:
    """Whether a mapped task or task group maps over this (unmapped) task's output
    (`task` may be the runner's copy, or one instance of a mapped task: the DAG's own
    task decides)."""
    if not task.has_dag or is_mapped(task.dag.task_dict.get(task.task_id, task)):
        return False
    return task.task_id in mapped_over(task.dag)


def mapped_over(dag: DAG) -> set[str]:
    """The tasks whose output a mapped task or task group of `dag` maps over (worked out
    once per DAG)."""
    return dag.derived("mapped_over", lambda: _mapped_over(dag))


def _mapped_over(dag: DAG) -> set[str]:
    sources = [ref for other in dag.task_dict.values() if isinstance(other, MappedOperator)
               for ref in other.expand_sources()]
    sources += [ref for group in dag.task_group_dict.values() if isinstance(group, MappedTaskGroup)
                for ref in group.expand_sources()]
    return {ref.operator.task_id for ref in sources}


def _as_items(value: Any) -> list[Any]:
    """A mapped-over value as a list: a dict maps as its (key, value) pairs."""
    if isinstance(value, dict):
        return list(value.items())
    return list(value)


def expansion_length(expand_input: Any, length_of: Callable[[XComArg], int | None]) -> int | None:
    """How many instances a mapped task (or task group) over `expand_input` has in a run;
    None when an upstream value it maps over is missing (that upstream did not run or
    did not return one).

    `length_of(arg)` answers for a plain upstream output: the length of the list or
    dict it holds, or for a mapped upstream the number of values its instances returned.
    """
    def length(value: Any) -> int | None:
        if isinstance(value, XComArg):
            return value.length(length_of)
        return len(value)

    if not isinstance(expand_input, dict):
        return length(expand_input)
    total = 1
    for value in expand_input.values():
        n = length(value)
        if n is None:
            return None
        total *= n
    return total


def expand_input_to_json(expand_input: Any) -> dict[str, Any]:
    """What counting a mapped task's instances needs of its expand input, as JSON: a
    literal's length, or which upstream output (through ``.map`` and ``.zip``)."""
    def source(value: Any) -> dict[str, Any]:
        if isinstance(value, _ZipXComArg):
            return {"zip": [source(a) for a in value.args], "longest": value.fillvalue is not NOTSET}
        if isinstance(value, _MapXComArg):
            return {"map": source(value.source)}
        if isinstance(value, XComArg):
            return {"xcom": value.operator.task_id, "key": value.key}
        return {"length": len(value)}

    if isinstance(expand_input, dict):
        return {"args": {name: source(value) for name, value in expand_input.items()}}
    return {"one": source(expand_input)}


def expand_input_from_json(data: dict[str, Any], tasks: Mapping[str, BaseOperator]) -> Any:
    """An expand input that `expansion_length` counts as it would the original: upstream
    outputs as XComArgs of `tasks`, literals as lists of as many placeholders."""
    def source(value: dict[str, Any]) -> Any:
        if "zip" in value:
            return _ZipXComArg([source(a) for a in value["zip"]], None if value["longest"] else NOTSET)
        if "map" in value:
            return _MapXComArg(source(value["map"]), _not_run_here)
        if "xcom" in value:
            return XComArg(tasks[value["xcom"]], value["key"])
        return [None] * value["length"]

    if "args" in data:
        return {name: source(value) for name, value in data["args"].items()}
    return source(data["one"])


def _not_run_here(item: Any) -> Any:
    raise RuntimeError("a mapped task rebuilt from its serialized form counts its items; it does not run them")


def mapped_kwargs(expand_input: Any, map_index: int, resolve: Callable[[XComArg], Any],
                  name: str) -> dict[str, Any]:
    """The arguments of instance `map_index`: its item of each mapped argument (by the
    cross product, last argument fastest), or its dict for `expand_kwargs`; `name`
    says whose instance it is, for the error about a non-dict item."""
    def items(value: Any) -> list[Any]:
        return _as_items(resolve(value) if isinstance(value, XComArg) else value)

    if not isinstance(expand_input, dict):
        chosen = items(expand_input)[map_index]
        if isinstance(chosen, XComArg):
            chosen = resolve(chosen)
        if not isinstance(chosen, dict):
            raise TypeError(f"expand_kwargs() of {name} needs dicts, got {type(chosen).__name__}")
        return {k: resolve(v) if isinstance(v, XComArg) else v for k, v in chosen.items()}
    chosen = {}
    index = map_index
    for key, value in reversed(list(expand_input.items())):
        values = items(value)
        index, position = divmod(index, len(values))
        chosen[key] = values[position]
    return dict(reversed(chosen.items()))
