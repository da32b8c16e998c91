"""TaskFlow: ``@dag`` and ``@task``, Airflow's decorator style.

Calling a ``@task`` function inside a DAG creates a task and returns an `XComArg`;
passing that to another ``@task`` call draws the dependency and, at run time, hands
over the value::

    @dag(schedule="@daily", start_date=datetime(2024, 1, 1))
    def etl():
        @task
        def extract() -> list[int]:
            return [1, 2, 3]

        @task
        def load(rows: list[int]) -> None:
            print(sum(rows))

        load(extract())

    etl()
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable
from typing import Any

from miniflow.baseoperator import BaseOperator
from miniflow.dag import DAG, DagContext, caller_location
from miniflow.exceptions import DagDefinitionError
from miniflow.mapping import validate_expand_value
from miniflow.operators.bash import BashOperator
from miniflow.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
    callable_kwargs,
)
from miniflow.operators.virtualenv import (
    BranchExternalPythonOperator,
    BranchPythonVirtualenvOperator,
    ExternalPythonOperator,
    PythonVirtualenvOperator,
)
from miniflow.sensors.python import PythonSensor
from miniflow.xcom import DagParam, XComArg

__all__ = ["dag", "task"]


class _DecoratedBash(BashOperator):
    """``@task.bash``: the function returns the command to run."""

    def __init__(self, *, python_callable: Callable[..., Any], op_args: Any = None,
                 op_kwargs: Any = None, **kwargs: Any) -> None:
        super().__init__(bash_command="", **kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})

    template_fields = ("bash_command", "env", "cwd", "op_args", "op_kwargs")

    def execute(self, context: dict[str, Any]) -> Any:
        merged = {**context, **self.op_kwargs}
        command = self.python_callable(*self.op_args, **callable_kwargs(self.python_callable, self.op_args, merged))
        if not isinstance(command, str) or not command.strip():
            raise DagDefinitionError(
                f"@task.bash function {self.task_id!r} must return a non-empty command string"
            )
        from miniflow.templating import render_value

        self.bash_command = render_value(self, command, context)
        return super().execute(context)


class _DecoratedSensor(PythonSensor):
    """``@task.sensor``: the function is the poke; it returns a bool or PokeReturnValue."""


def _unique_task_id(dag: DAG | None, task_id: str) -> str:
    """`task_id`, or ``task_id__<n>`` with the next free n when the DAG has it already
    (a ``@task`` function called several times); counts within the task group."""
    from miniflow.task_group import TaskGroupContext

    group = TaskGroupContext.current()
    full_id = group.child_id(task_id) if group is not None else task_id
    if dag is None or full_id not in dag.task_dict:
        return task_id
    core, full_core = re.split(r"__\d+$", task_id)[0], re.split(r"__\d+$", full_id)[0]
    suffixes = [int(m.group(1)) for t in dag.task_dict
                if (m := re.fullmatch(rf"{re.escape(full_core)}__(\d+)", t))]
    return f"{core}__{max(suffixes, default=0) + 1}"


def _returns_mapping(func: Callable[..., Any]) -> bool:
    try:
        ret = typing.get_type_hints(func).get("return")
    except Exception:  # unresolvable annotations: infer nothing
        return False
    origin = typing.get_origin(ret) or ret
    return isinstance(origin, type) and issubclass(origin, dict)


class _TaskDecorator:
    """A function turned into a task factory; each call inside a DAG adds a task."""

    def __init__(self, function: Callable[..., Any], operator_class: type[BaseOperator],
                 multiple_outputs: bool | None, kwargs: dict[str, Any]) -> None:
        self.function = function
        self.operator_class = operator_class
        if multiple_outputs is None:
            multiple_outputs = _returns_mapping(function)
        self.multiple_outputs = multiple_outputs
        self.kwargs = kwargs
        self.fixed: dict[str, Any] = {}  # arguments given to partial()
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        op_kwargs = dict(self.kwargs)
        dag = op_kwargs.get("dag") or DagContext.current()
        task_id = _unique_task_id(dag, op_kwargs.pop("task_id", self.function.__name__))
        try:
            inspect.signature(self.function).bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise DagDefinitionError(f"@task {task_id!r}: {exc}") from None
        op = self.operator_class(
            task_id=task_id,
            python_callable=self.function,
            op_args=args,
            op_kwargs={**self.fixed, **kwargs},
            multiple_outputs=self.multiple_outputs,
            doc_md=op_kwargs.pop("doc_md", None) or self.function.__doc__,
            **op_kwargs,
        )
        return XComArg(op)

    def override(self, **kwargs: Any) -> _TaskDecorator:
        """The same task with other operator arguments (``task_id``, ``retries``...)."""
        multiple = kwargs.pop("multiple_outputs", self.multiple_outputs)
        overridden = _TaskDecorator(self.function, self.operator_class, multiple, {**self.kwargs, **kwargs})
        overridden.fixed = dict(self.fixed)
        return overridden

    def partial(self, **kwargs: Any) -> _TaskDecorator:
        """Fix some of the function's arguments for every instance of a mapped task."""
        bound = _TaskDecorator(self.function, self.operator_class, self.multiple_outputs, self.kwargs)
        bound.fixed = {**self.fixed, **kwargs}
        return bound

    def expand(self, **mapped: Any) -> XComArg:
        """One task instance per item (the cross product of several arguments); see
        `miniflow.mapping`."""
        where = f"@task {self.function.__name__!r}: "
        names = inspect.signature(self.function).parameters
        for name, value in mapped.items():
            if name not in names:
                raise DagDefinitionError(f"{where}expand() got an unexpected argument {name!r}")
            if name in self.fixed:
                raise DagDefinitionError(f"{where}{name!r} is given to both partial() and expand()")
            validate_expand_value(where, name, value)
        return self._mapped(dict(mapped))

    def expand_kwargs(self, kwargs: Any) -> XComArg:
        """One task instance per dict of arguments (a list, or an upstream's output)."""
        return self._mapped(kwargs)

    def _mapped(self, expand_input: Any) -> XComArg:
        from miniflow.mapping import MappedOperator

        options = dict(self.kwargs)
        dag = options.get("dag") or DagContext.current()
        task_id = _unique_task_id(dag, options.pop("task_id", self.function.__name__))
        mapped = MappedOperator.create(self.operator_class, dict(
            task_id=task_id, python_callable=self.function, op_args=(), op_kwargs=dict(self.fixed),
            multiple_outputs=self.multiple_outputs,
            doc_md=options.pop("doc_md", None) or self.function.__doc__, **options,
        ), expand_input, mapped_into="op_kwargs")
        return XComArg(mapped)


def _task_factory(operator_class: type[BaseOperator]) -> Callable[..., Any]:
    def decorator(python_callable: Callable[..., Any] | None = None,
                  multiple_outputs: bool | None = None, **kwargs: Any) -> Any:
        if python_callable is not None:
            return _TaskDecorator(python_callable, operator_class, multiple_outputs, kwargs)
        return lambda f: _TaskDecorator(f, operator_class, multiple_outputs, kwargs)

    return decorator


class _TaskNamespace:
    """``@task``, and its variants ``@task.branch``, ``@task.short_circuit``..."""

    __call__ = staticmethod(_task_factory(PythonOperator))
    python = staticmethod(_task_factory(PythonOperator))
    branch = staticmethod(_task_factory(BranchPythonOperator))
    short_circuit = staticmethod(_task_factory(ShortCircuitOperator))
    bash = staticmethod(_task_factory(_DecoratedBash))
    sensor = staticmethod(_task_factory(_DecoratedSensor))
    virtualenv = staticmethod(_task_factory(PythonVirtualenvOperator))
    external_python = staticmethod(_task_factory(ExternalPythonOperator))
    branch_virtualenv = staticmethod(_task_factory(BranchPythonVirtualenvOperator))
    branch_external_python = staticmethod(_task_factory(BranchExternalPythonOperator))

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"@task.{name} is not supported by miniflow; supported: python, branch, "
            "short_circuit, bash, sensor, virtualenv, external_python, branch_virtualenv, "
            "branch_external_python"
        )


task = _TaskNamespace()


def dag(dag_id: str | Callable[..., Any] | None = None, **dag_kwargs: Any) -> Any:
    """Turn a function into a DAG factory: calling it builds the DAG and returns it.

    The function's parameters become DAG params; inside the function they are
    references that resolve to the run's params when a task runs.
    """

    def wrapper(func: Callable[..., Any]) -> Callable[..., DAG]:
        @functools.wraps(func)
        def factory(*args: Any, **kwargs: Any) -> DAG:
            bound = inspect.signature(func).bind(*args, **kwargs)
            bound.apply_defaults()
            params = dict(dag_kwargs.get("params") or {})
            params.update(bound.arguments)
            options = {**dag_kwargs, "params": params}
            options.setdefault("doc_md", func.__doc__)
            with DAG(name or func.__name__, **options) as new_dag:
                new_dag.fileloc, new_dag.lineno = caller_location()
                func(**{k: DagParam(k, v) for k, v in bound.arguments.items()})
            return new_dag

        return factory

    if callable(dag_id):  # bare @dag
        name = None
        return wrapper(dag_id)
    name = dag_id
    return wrapper

