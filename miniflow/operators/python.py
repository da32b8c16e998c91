"""Python operators: call a function; branch on its answer; or stop the path short."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from miniflow.baseoperator import BaseOperator
from miniflow.exceptions import DagDefinitionError, RemovedInAirflow3Warning
from miniflow.operators.skip import SkipMixin

__all__ = [
    "PythonOperator",
    "BranchPythonOperator",
    "ShortCircuitOperator",
    "callable_kwargs",
    "get_current_context",
]


def callable_kwargs(
    func: Callable[..., Any], args: Collection[Any], context: Mapping[str, Any]
) -> dict[str, Any]:
    """The keyword arguments to call `func` with, as Airflow picks them.

    A function with ``**kwargs`` receives the whole context; otherwise only the
    context entries it names as parameters (``def f(ds, ti): ...``).
    """
    params = inspect.signature(func).parameters
    positional = list(params)[: len(args)]
    clash = [name for name in positional if name in context]
    if clash:
        raise ValueError(
            f"the parameter {clash[0]!r} is filled from op_args but is also a context or "
            "op_kwargs key; rename the parameter"
        )
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return {k: v for k, v in context.items() if k not in positional}
    return {k: context[k] for k in params if k in context and k not in positional}


def get_current_context() -> dict[str, Any]:
    """The context of the task running in this process (for ``@task`` functions)."""
    from miniflow.context import current_context

    return current_context()


class PythonOperator(BaseOperator):
    """Call ``python_callable(*op_args, **op_kwargs)``; its return value goes to XCom.

    Context entries named in the function's signature (or all of them, for a
    function with ``**kwargs``) are passed too, as in Airflow 2.
    """

    template_fields: Sequence[str] = ("templates_dict", "op_args", "op_kwargs")
    template_fields_renderers = {"templates_dict": "json", "op_args": "py", "op_kwargs": "py"}
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        templates_exts: list[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("provide_context"):  # Airflow 1's; a False one stays, an invalid argument as in Airflow 2
            warnings.warn("provide_context is deprecated as of 2.0 and is no longer required",
                          RemovedInAirflow3Warning, stacklevel=3)
            kwargs.pop("provide_context")
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise DagDefinitionError(
                f"task {self.task_id!r}: python_callable must be callable, got {python_callable!r}"
            )
        self.python_callable = python_callable
        # Kept as given, as in Airflow: a bad value (a set for op_kwargs) fails the try, not the file.
        self.op_args = op_args or ()
        self.op_kwargs = op_kwargs or {}
        self.templates_dict = templates_dict
        if templates_exts:
            self.template_ext = templates_exts
        self.show_return_value_in_logs = show_return_value_in_logs

    def execute(self, context: dict[str, Any]) -> Any:
        merged = {**context, **self.op_kwargs, "templates_dict": self.templates_dict}
        kwargs = callable_kwargs(self.python_callable, self.op_args, merged)
        if inspect.isgeneratorfunction(self.python_callable):
            result = _run_yielding_metadata(self.python_callable(*self.op_args, **kwargs), context, self.log)
        else:
            result = self.python_callable(*self.op_args, **kwargs)
        if self.show_return_value_in_logs:
            self.log.info("Done. Returned value was: %s", result)
        return result


def _run_yielding_metadata(generator: Any, context: dict[str, Any], log: Any) -> Any:
    """A callable that yields: each ``Metadata(dataset, extra, alias)`` it yields sets
    the extra of its dataset event (and adds the dataset to the alias), as in Airflow;
    what it returns is the task's return value."""
    from miniflow.datasets import Dataset, DatasetAlias, Metadata

    events = context["outlet_events"]
    while True:
        try:
            item = next(generator)
        except StopIteration as stop:
            return stop.value
        if not isinstance(item, Metadata):
            log.warning("Ignoring unknown data of %r received from task", type(item))
            continue
        target = item.target if isinstance(item.target, Dataset) else Dataset(str(item.target))
        events[target].extra.update(item.extra)
        if item.alias is not None:
            alias = item.alias if isinstance(item.alias, DatasetAlias) else DatasetAlias(str(item.alias))
            events[alias].add(target, extra=item.extra)


class BranchPythonOperator(PythonOperator, SkipMixin):
    """The callable returns the task id(s) to follow; the other direct paths are skipped."""

    def execute(self, context: dict[str, Any]) -> Any:
        branch = super().execute(context)
        if branch is not None and not isinstance(branch, (str, Iterable)):
            raise DagDefinitionError(
                f"branch task {self.task_id!r} must return a task id, a list of them or None, "
                f"got {branch!r}"
            )
        self.skip_all_except(context["ti"], branch)
        return branch


class ShortCircuitOperator(PythonOperator, SkipMixin):
    """If the callable returns something falsy, skip what comes after.

    With ``ignore_downstream_trigger_rules=True`` (the default) every task downstream
    is skipped; with False only the direct downstream tasks are, and the ones after
    them follow their own trigger rules.
    """

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

    def execute(self, context: dict[str, Any]) -> Any:
        condition = super().execute(context)
        if condition:
            self.log.info("Condition is true: downstream tasks proceed")
            return condition
        if self.ignore_downstream_trigger_rules:
            below = self.get_flat_relative_ids()
        else:
            below = set(self.downstream_task_ids)
        to_skip = sorted(t for t in below if not self.dag.task_dict[t].is_teardown)  # teardowns still run
        self.log.info("Condition is falsy: skipping %s", ", ".join(to_skip) or "nothing")
        self.skip(context["dag_run"], context["logical_date"], to_skip)
        return condition
