"""XCom: small values passed between tasks, stored as JSON in the metadata DB.

`XComArg` is the authoring side: a reference to another task's output (``task.output``
or the value a ``@task`` call returns). Passing it to a task draws the dependency at
parse time; the runner swaps it for the pulled value just before the task runs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from miniflow.baseoperator import BaseOperator, DependencyMixin
from miniflow.exceptions import XComSerializationError

__all__ = ["XComArg", "DagParam", "XCOM_RETURN_KEY", "serialize_value", "deserialize_value"]

XCOM_RETURN_KEY = "return_value"

if TYPE_CHECKING:
    from miniflow.context import Context


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

    @staticmethod
    def find_all(value: Any) -> Iterator[XComArg]:
        """Every XComArg nested in lists, tuples and dicts of `value`."""
        if isinstance(value, XComArg):
            yield value
        elif isinstance(value, (list, tuple, set)):
            for item in value:
                yield from XComArg.find_all(item)
        elif isinstance(value, dict):
            for item in value.values():
                yield from XComArg.find_all(item)

    @staticmethod
    def resolve_all(value: Any, context: Context) -> Any:
        """`value` with each nested XComArg (or DagParam) replaced by its value."""
        if isinstance(value, (XComArg, DagParam)):
            return value.resolve(context)
        if isinstance(value, (list, tuple)):
            return type(value)(XComArg.resolve_all(v, context) for v in value)
        if isinstance(value, dict):
            return {k: XComArg.resolve_all(v, context) for k, v in value.items()}
        return value


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
