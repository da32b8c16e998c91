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
import typing
from collections.abc import Callable
from typing import Any

from miniflow.baseoperator import BaseOperator
from miniflow.dag import DAG, DagContext, caller_location, id_core
from miniflow.exceptions import AirflowSkipException, DagDefinitionError
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
from miniflow.task_group import MappedArgument, MappedTaskGroup, TaskGroup
from miniflow.xcom import DagParam, XComArg

__all__ = ["dag", "task", "task_group", "setup", "teardown", "run_if", "skip_if"]


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
    return f"{id_core(task_id)}__{dag.last_id_suffix('task', id_core(full_id)) + 1}"


def _returns_mapping(func: Callable[..., Any]) -> bool:
    try:
        ret = typing.get_type_hints(func).get("return")
    except Exception:  # noqa: BLE001 -- unresolvable annotations: infer nothing
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
        self.is_setup = False  # set by @setup / @teardown (see miniflow.setup_teardown)
        self.is_teardown = False
        self.on_failure_fail_dagrun = False
        functools.update_wrapper(self, function)

    def _copy(self, kwargs: dict[str, Any], multiple_outputs: bool | None) -> _TaskDecorator:
        other = _TaskDecorator(self.function, self.operator_class, multiple_outputs, kwargs)
        other.fixed = dict(self.fixed)
        other.is_setup, other.is_teardown = self.is_setup, self.is_teardown
        other.on_failure_fail_dagrun = self.on_failure_fail_dagrun
        return other

    def _mark(self, op: BaseOperator) -> BaseOperator:
        """Make the new task a setup or teardown, as the function was decorated."""
        if self.is_setup:
            op.as_setup()
        if self.is_teardown:
            op.as_teardown(on_failure_fail_dagrun=self.on_failure_fail_dagrun)
        return op

    def _options(self, where: str) -> dict[str, Any]:
        options = dict(self.kwargs)
        if self.is_teardown and "trigger_rule" in options:
            raise DagDefinitionError(f"{where}a teardown task's trigger rule cannot be set")
        return options

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        op_kwargs = self._options(f"@task {self.function.__name__!r}: ")
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
        return XComArg(self._mark(op))

    def override(self, **kwargs: Any) -> _TaskDecorator:
        """The same task with other operator arguments (``task_id``, ``retries``...)."""
        multiple = kwargs.pop("multiple_outputs", self.multiple_outputs)
        return self._copy({**self.kwargs, **kwargs}, multiple)

    def partial(self, **kwargs: Any) -> _TaskDecorator:
        """Fix some of the function's arguments for every instance of a mapped task."""
        bound = self._copy(self.kwargs, self.multiple_outputs)
        bound.fixed = {**self.fixed, **kwargs}
        return bound

    def expand(self, **mapped: Any) -> XComArg:
        """One task instance per item (the cross product of several arguments); see
        `miniflow.mapping`."""
        where = f"@task {self.function.__name__!r}: "
        names = inspect.signature(self.function).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in names.values())
        for name, value in mapped.items():
            if name not in names and not takes_any:
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

        options = self._options(f"@task {self.function.__name__!r}: ")
        dag = options.get("dag") or DagContext.current()
        task_id = _unique_task_id(dag, options.pop("task_id", self.function.__name__))
        mapped = MappedOperator.create(self.operator_class, dict(
            task_id=task_id, python_callable=self.function, op_args=(), op_kwargs=dict(self.fixed),
            multiple_outputs=self.multiple_outputs,
            doc_md=options.pop("doc_md", None) or self.function.__doc__, **options,
        ), expand_input, mapped_into="op_kwargs")
        return XComArg(self._mark(mapped))


def _task_factory(operator_class: type[BaseOperator]) -> Callable[..., Any]:
    def decorator(python_callable: Callable[..., Any] | None = None,
                  multiple_outputs: bool | None = None, **kwargs: Any) -> Any:
        if python_callable is not None:
            return _TaskDecorator(python_callable, operator_class, multiple_outputs, kwargs)
        return lambda f: _TaskDecorator(f, operator_class, multiple_outputs, kwargs)

    return decorator


def run_if(condition: Callable[[Any], Any], skip_message: str | None = None) -> Callable[[_TaskDecorator], _TaskDecorator]:
    """``@task.run_if(condition)`` above ``@task``: the task is skipped unless
    ``condition(context)`` is true when it starts (Airflow 2.10)."""
    return _gate("run_if", condition, skip_message, run_when=True)


def skip_if(condition: Callable[[Any], Any], skip_message: str | None = None) -> Callable[[_TaskDecorator], _TaskDecorator]:
    """``@task.skip_if(condition)`` above ``@task``: the task is skipped if
    ``condition(context)`` is true when it starts (Airflow 2.10)."""
    return _gate("skip_if", condition, skip_message, run_when=False)


def _gate(name: str, condition: Callable[[Any], Any], skip_message: str | None,
          run_when: bool) -> Callable[[_TaskDecorator], _TaskDecorator]:
    """Add the check to the task's ``pre_execute``, after any hook already there. A
    condition may return ``(verdict, message)``, the message replacing `skip_message`."""
    def check(context: Any) -> None:
        verdict, message = condition(context), skip_message
        if isinstance(verdict, tuple):
            verdict, message = verdict[0], verdict[1] or skip_message
        if bool(verdict) is not run_when:
            raise AirflowSkipException(message or "Task was skipped due to condition.")

    def decorate(decorated: _TaskDecorator) -> _TaskDecorator:
        if not isinstance(decorated, _TaskDecorator):
            raise DagDefinitionError(f"@task.{name} goes above @task: decorate the function with @task first")
        before = decorated.kwargs.get("pre_execute")

        def pre_execute(context: Any) -> None:
            if before is not None:
                before(context)
            check(context)

        return decorated._copy({**decorated.kwargs, "pre_execute": pre_execute}, decorated.multiple_outputs)

    return decorate


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
    run_if = staticmethod(run_if)
    skip_if = staticmethod(skip_if)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"@task.{name} is not supported by miniflow; supported: python, branch, "
            "short_circuit, bash, sensor, virtualenv, external_python, branch_virtualenv, "
            "branch_external_python, run_if, skip_if"
        )


task = _TaskNamespace()


def setup(function: Any = None) -> Any:
    """``@setup``: a ``@task`` (or ``@task.bash``...) function whose tasks are setups
    (see `miniflow.setup_teardown`)."""
    def mark(func: Any) -> _TaskDecorator:
        decorated = func if isinstance(func, _TaskDecorator) else task(func)
        if isinstance(decorated, _TaskGroupFactory):
            raise DagDefinitionError("a task group cannot be a setup task")
        decorated.is_setup = True
        return decorated

    return mark if function is None else mark(function)


def teardown(function: Any = None, *, on_failure_fail_dagrun: bool = False) -> Any:
    """``@teardown``: a ``@task`` function whose tasks are teardowns; with
    ``on_failure_fail_dagrun=True`` their failure fails the run."""
    def mark(func: Any) -> _TaskDecorator:
        if isinstance(func, _TaskGroupFactory):
            raise DagDefinitionError("a task group cannot be a teardown task")
        decorated = func if isinstance(func, _TaskDecorator) else task(func)
        decorated.is_teardown = True
        decorated.on_failure_fail_dagrun = on_failure_fail_dagrun
        return decorated

    return mark if function is None else mark(function)


class _TaskGroupFactory:
    """A function turned into a task group factory: each call makes a group (named for
    the function, ``__1``, ``__2``... on repeats) and runs the function inside it."""

    def __init__(self, function: Callable[..., Any], group_kwargs: dict[str, Any],
                 fixed: dict[str, Any] | None = None) -> None:
        self.function = function
        self.group_kwargs = {**group_kwargs, "group_id": group_kwargs.get("group_id") or function.__name__}
        self.fixed = fixed or {}  # arguments given to partial()
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The function's return value (its last task, to chain on), or the group."""
        return self._make(TaskGroup, args, kwargs)

    def _make(self, group_class: Callable[..., TaskGroup], args: Any, kwargs: dict[str, Any]) -> Any:
        where = f"@task_group {self.function.__name__!r}: "
        try:
            inspect.signature(self.function).bind(*args, **kwargs)
        except TypeError as exc:
            raise DagDefinitionError(f"{where}{exc}") from None
        with group_class(add_suffix_on_collision=True, **self.group_kwargs) as group:
            if self.function.__doc__ and not group.tooltip:
                group.tooltip = self.function.__doc__
            returned = self.function(*args, **kwargs)
        return group if returned is None else returned

    def override(self, **group_kwargs: Any) -> _TaskGroupFactory:
        """The same group factory with other TaskGroup arguments (``group_id``...)."""
        return _TaskGroupFactory(self.function, {**self.group_kwargs, **group_kwargs}, self.fixed)

    def partial(self, **kwargs: Any) -> _TaskGroupFactory:
        """Fix some of the function's arguments for every instance of a mapped group."""
        self._check_names("partial", kwargs)
        return _TaskGroupFactory(self.function, self.group_kwargs, {**self.fixed, **kwargs})

    def expand(self, **mapped: Any) -> Any:
        """Run every task of the group once per item (the cross product of several
        arguments); see `miniflow.task_group`."""
        if not mapped:
            raise DagDefinitionError(f"@task_group {self.function.__name__!r}: expand() needs arguments")
        self._check_names("expand", mapped)
        where = f"@task_group {self.function.__name__!r}: "
        for name, value in mapped.items():
            if name in self.fixed:
                raise DagDefinitionError(f"{where}{name!r} is given to both partial() and expand()")
            validate_expand_value(where, name, value)
        return self._mapped(dict(mapped), list(mapped))

    def expand_kwargs(self, kwargs: Any) -> Any:
        """Run every task of the group once per dict of arguments (a list, or an
        upstream's output)."""
        if not isinstance(kwargs, (XComArg, list, tuple)):
            raise DagDefinitionError(
                f"@task_group {self.function.__name__!r}: expand_kwargs() takes a list of dicts or "
                f"the output of another task, not a {type(kwargs).__name__}")
        params = inspect.signature(self.function).parameters.values()
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            raise DagDefinitionError(
                f"@task_group {self.function.__name__!r}: expand_kwargs() needs named parameters, not * or **")
        return self._mapped(kwargs, [p.name for p in params if p.name not in self.fixed])

    def _mapped(self, expand_input: Any, names: list[str]) -> Any:
        params = inspect.signature(self.function).parameters
        arguments = {name: MappedArgument(expand_input, name, params[name].default
                                          if params[name].default is not inspect.Parameter.empty else None)
                     for name in names}
        return self._make(functools.partial(MappedTaskGroup, expand_input=expand_input), (),
                          {**self.fixed, **arguments})

    def _check_names(self, method: str, kwargs: dict[str, Any]) -> None:
        params = inspect.signature(self.function).parameters
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise DagDefinitionError(
                f"@task_group {self.function.__name__!r}: {method}() got unexpected argument(s) {', '.join(unknown)}")


def task_group(python_callable: Callable[..., Any] | None = None, **group_kwargs: Any) -> Any:
    """``@task_group``: a function whose calls each make a TaskGroup of the tasks it
    creates; arguments and return values wire dependencies as for ``@task``."""
    if callable(python_callable) and not group_kwargs:
        return _TaskGroupFactory(python_callable, {})
    # As in Airflow, a positional ``@task_group("name")`` is not the group_id: the
    # function's name is, unless group_id= is given.
    return lambda function: _TaskGroupFactory(function, group_kwargs)


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

