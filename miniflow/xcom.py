"""XCom: small values passed between tasks, stored as JSON in the metadata DB.

`XComArg` is the authoring side: a reference to another task's output (``task.output``
or the value a ``@task`` call returns). Passing it to a task draws the dependency at
parse time; the runner swaps it for the pulled value just before the task runs.
`XCom` is Airflow's model class, for the few calls DAG code makes on it directly.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from miniflow.baseoperator import BaseOperator, DependencyMixin
from miniflow.exceptions import XComSerializationError

__all__ = ["XComArg", "XCom", "DagParam", "XCOM_RETURN_KEY", "serialize_value", "deserialize_value"]

XCOM_RETURN_KEY = "return_value"

if TYPE_CHECKING:
    from miniflow.context import Context
    from miniflow.db.records import RunRecord
    from miniflow.db.store import Store


class _NotSet:
    def __repr__(self) -> str:
        return "NOTSET"


NOTSET: Any = _NotSet()


class XComArg(DependencyMixin):
    """The XCom value `key` of `operator`, resolved when the consuming task runs."""

    def __init__(self, operator: BaseOperator, key: str = XCOM_RETURN_KEY) -> None:
        self.operator = operator
        self.key = key

    def __getitem__(self, key: str) -> XComArg:
        return XComArg(self.operator, key)

    def __repr__(self) -> str:
        return f"XComArg({self.operator.task_id!r}, {self.key!r})"

    def _dep_nodes(self) -> list[BaseOperator]:
        return [self.operator]

    def resolve(self, context: Context) -> Any:
        return context["ti"].xcom_pull(task_ids=self.operator.task_id, key=self.key)

    # --- setup and teardown (see miniflow.setup_teardown) --------------------------------

    def as_setup(self) -> XComArg:
        self.operator.as_setup()
        return self

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> XComArg:
        self.operator.as_teardown(setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    def __enter__(self) -> Any:
        return self.operator.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.operator.__exit__(*exc)

    # --- dynamic task mapping (see miniflow.mapping) ---------------------------------------

    def map(self, function: Callable[[Any], Any]) -> XComArg:
        """This output with `function` applied to each item, for a mapped task to map over."""
        return _MapXComArg(self, function)

    def zip(self, *others: XComArg, fillvalue: Any = NOTSET) -> XComArg:
        """Tuples of this output's items and the others', as Python's zip (or
        zip_longest with `fillvalue`)."""
        return _ZipXComArg([self, *others], fillvalue)

    def sources(self) -> list[XComArg]:
        """The outputs a derived value (map, zip) is made from; none for a plain one."""
        return []

    def length(self, length_of: Callable[[XComArg], int | None]) -> int | None:
        """The number of items, from `length_of` for a plain output (None if missing)."""
        return length_of(self)


    @staticmethod
    def find_all(value: Any) -> Iterator[XComArg]:
        """Every plain XComArg nested in lists, tuples and dicts of `value` (the sources
        of a map or zip, or of a mapped task group's argument)."""
        from miniflow.task_group import MappedArgument

        if isinstance(value, MappedArgument):
            yield from value.sources()
        elif isinstance(value, XComArg):
            sources = value.sources()
            if not sources:
                yield value
            for source in sources:
                yield from XComArg.find_all(source)
        elif isinstance(value, (list, tuple, set)):
            for item in value:
                yield from XComArg.find_all(item)
        elif isinstance(value, dict):
            for item in value.values():
                yield from XComArg.find_all(item)

    @staticmethod
    def resolve_all(value: Any, context: Context) -> Any:
        """`value` with each nested XComArg (or DagParam, or mapped task group argument)
        replaced by its value."""
        from miniflow.task_group import MappedArgument

        if isinstance(value, (XComArg, DagParam, MappedArgument)):
            return value.resolve(context)
        if isinstance(value, (list, tuple)):
            return type(value)(XComArg.resolve_all(v, context) for v in value)
        if isinstance(value, dict):
            return {k: XComArg.resolve_all(v, context) for k, v in value.items()}
        return value


def _items(value: Any) -> list[Any]:
    return list(value.items()) if isinstance(value, dict) else list(value)


class _MapXComArg(XComArg):
    def __init__(self, source: XComArg, function: Callable[[Any], Any]) -> None:
        super().__init__(source.operator, source.key)
        self.source = source
        self.function = function

    def __repr__(self) -> str:
        return f"{self.source!r}.map({getattr(self.function, '__name__', self.function)!r})"

    def resolve(self, context: Context) -> Any:
        return [self.function(item) for item in _items(self.source.resolve(context))]

    def sources(self) -> list[XComArg]:
        return [self.source]

    def length(self, length_of: Callable[[XComArg], int | None]) -> int | None:
        return self.source.length(length_of)


class _ZipXComArg(XComArg):
    def __init__(self, args: list[XComArg], fillvalue: Any) -> None:
        super().__init__(args[0].operator, args[0].key)
        self.args = args
        self.fillvalue = fillvalue

    def __repr__(self) -> str:
        return f"zip({', '.join(map(repr, self.args))})"

    def _dep_nodes(self) -> list[BaseOperator]:
        return [a.operator for a in self.args]

    def resolve(self, context: Context) -> Any:
        values = [_items(a.resolve(context)) for a in self.args]
        if self.fillvalue is NOTSET:
            return list(zip(*values))
        return list(itertools.zip_longest(*values, fillvalue=self.fillvalue))

    def sources(self) -> list[XComArg]:
        return list(self.args)

    def length(self, length_of: Callable[[XComArg], int | None]) -> int | None:
        lengths = [a.length(length_of) for a in self.args]
        if any(n is None for n in lengths):
            return None
        return min(lengths) if self.fillvalue is NOTSET else max(lengths)  # type: ignore[type-var]


class DagParam:
    """A ``@dag`` function's argument: resolves to the run's param of that name."""

    def __init__(self, name: str, default: Any) -> None:
        self.name = name
        self.default = default

    def __repr__(self) -> str:
        return f"DagParam({self.name!r})"

    def resolve(self, context: Context) -> Any:
        return context["params"].get(self.name, self.default)


def _default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "to_dict") and callable(value.to_dict):  # pandas objects
        return value.to_dict()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def serialize_value(value: Any, where: str = "") -> str:
    """JSON text of an XCom value; a value JSON cannot hold is a clear error."""
    try:
        return json.dumps(value, default=_default)
    except (TypeError, ValueError) as exc:
        raise XComSerializationError(
            f"{where}XCom value of type {type(value).__name__} cannot be stored as JSON "
            f"({exc}); return plain data (str, int, float, bool, None, list, dict) "
            "or write large data to a file and return its path"
        ) from None


def deserialize_value(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class XCom:
    """Airflow's ``XCom`` model, for what DAG code calls on it outside a task's own
    ``ti.xcom_push``/``ti.xcom_pull``: read one value (`get_one`, `get_value`), store one
    (`set`), remove a task's (`clear`). A run is named by its ``run_id`` or, as before
    Airflow 2.2, by its ``execution_date`` (logical date). Values are JSON, as every
    XCom in miniflow. ``session`` is accepted and unused: each call is its own
    transaction. Airflow's ``get_many`` returns an ORM query, which miniflow has not."""

    @staticmethod
    def get_one(execution_date: dt.datetime | None = None, key: str | None = None, task_id: str | None = None,
                dag_id: str | None = None, include_prior_dates: bool = False, session: Any = None, *,
                run_id: str | None = None, map_index: int | None = None) -> Any:
        """The newest matching value (None if there is none); `key`, `task_id` and
        `map_index` left None match any. `include_prior_dates` also looks in the DAG's
        earlier runs, newest first."""
        if dag_id is None:
            raise TypeError("XCom.get_one() needs dag_id")
        store, run = _run_of(dag_id, run_id, execution_date)
        runs = [run] if not include_prior_dates else store.list_runs(dag_id, end=run.logical_date)
        for each in runs:
            found = store.xcom_pull(dag_id, each.run_id, None if task_id is None else [task_id], key,
                                    None if map_index is None else [map_index])
            if found:
                return deserialize_value(found[0].value)
        return None

    @staticmethod
    def get_value(*, ti_key: Any, key: str | None = None, session: Any = None) -> Any:
        """The value of one task instance (`ti_key`: dag_id, task_id, run_id, map_index)."""
        return XCom.get_one(key=key, task_id=ti_key.task_id, dag_id=ti_key.dag_id, run_id=ti_key.run_id,
                            map_index=ti_key.map_index)

    @staticmethod
    def set(key: str, value: Any, task_id: str, dag_id: str, execution_date: dt.datetime | None = None,
            session: Any = None, *, run_id: str | None = None, map_index: int = -1) -> None:
        """Store `value` under `key` for a task instance, replacing the one it had."""
        from miniflow.taskinstancekey import TaskInstanceKey

        store, run = _run_of(dag_id, run_id, execution_date)
        text = serialize_value(value, f"XCom.set of task {task_id!r}: ")
        store.xcom_push(TaskInstanceKey(dag_id, run.run_id, task_id, map_index), key, text)

    @staticmethod
    def clear(execution_date: dt.datetime | None = None, dag_id: str | None = None, task_id: str | None = None,
              session: Any = None, *, run_id: str | None = None, map_index: int | None = None) -> None:
        """Remove every XCom of a task in a run (of one instance, given `map_index`)."""
        if dag_id is None or task_id is None:
            raise TypeError("XCom.clear() needs dag_id and task_id")
        store, run = _run_of(dag_id, run_id, execution_date)
        store.xcom_clear(dag_id, run.run_id, task_id, map_index)


def _run_of(dag_id: str, run_id: str | None, logical_date: dt.datetime | None) -> tuple[Store, RunRecord]:
    """The store and the run `XCom`'s calls name, by exactly one of its id and date."""
    from miniflow.db.store import get_store

    store = get_store()
    if run_id is not None and logical_date is None:
        run, named = store.get_run(dag_id, run_id), repr(run_id)
    elif logical_date is not None and run_id is None:
        run, named = store.find_run(dag_id, logical_date), f"at {logical_date.isoformat()}"
    else:
        raise ValueError(f"give exactly one of run_id and execution_date (got {run_id!r} and {logical_date!r})")
    if run is None:
        raise ValueError(f"DAG {dag_id!r} has no run {named}")
    return store, run
