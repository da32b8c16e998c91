"""BaseOperator: what every task has, and the ``>>`` / ``<<`` dependency operators.

An operator's ``__init__`` sees ``default_args`` (the DAG's, then the task's own)
already merged in: only keys that some ``__init__`` of the class accepts are applied,
and values passed to the task win. An argument no ``__init__`` accepts is an error that
names it and the task, as in Airflow.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import itertools
import logging
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from miniflow.dag import DAG, DagContext, caller_location, validate_key
from miniflow.exceptions import (
    DagDefinitionError,
    InvalidTriggerRuleError,
    RemovedInAirflow3Warning,
    TaskAlreadyInDagError,
    TaskDeferralError,
    TaskDeferred,
    UnknownArgumentError,
)
from miniflow.timetables import to_utc
from miniflow.trigger_rules import TriggerRule

if TYPE_CHECKING:
    from miniflow.mapping import OperatorPartial
    from miniflow.operator_links import BaseOperatorLink
    from miniflow.triggers import BaseTrigger
    from miniflow.xcom import XComArg

__all__ = ["BaseOperator", "DependencyMixin", "chain", "chain_linear", "cross_downstream", "merged_default_args"]

_EDGE_ORDER = itertools.count()

WEIGHT_RULES = ("downstream", "upstream", "absolute")


class DependencyMixin(ABC):
    """``a >> b``, ``a << b`` and lists on either side, for tasks and XComArgs alike."""

    @abstractmethod
    def _dep_nodes(self) -> list[BaseOperator]:
        """The tasks an edge to or from this object attaches to."""

    def _roots(self) -> list[BaseOperator]:
        """Where an edge coming in attaches (a task group's first tasks)."""
        return self._dep_nodes()

    def _leaves(self) -> list[BaseOperator]:
        """Where an edge going out starts (a task group's last tasks)."""
        return self._dep_nodes()

    # An edge label (``a >> Label("x") >> b``) takes the edge's ends instead of being one.
    modifies_edges = False

    def set_downstream(self, other: DependencyMixin | Sequence[DependencyMixin]) -> None:
        labels, others = _split_labels(other)
        for label in labels:
            label.set_upstream(self)
        for mine in self._leaves():
            for theirs in _nodes_of(others, "_roots"):
                mine._link(theirs)

    def set_upstream(self, other: DependencyMixin | Sequence[DependencyMixin]) -> None:
        labels, others = _split_labels(other)
        for label in labels:
            label.set_downstream(self)
        for mine in self._roots():
            for theirs in _nodes_of(others, "_leaves"):
                theirs._link(mine)

    def __rshift__(self, other: Any) -> Any:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> Any:  # [a, b] >> self
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> Any:  # [a, b] << self
        self.set_downstream(other)
        return self


def _split_labels(obj: Any) -> tuple[list[DependencyMixin], list[Any]]:
    """The edge labels in `obj` (one object or a list), and the rest."""
    items = list(obj) if isinstance(obj, (list, tuple, set)) else [obj]
    labels = [i for i in items if isinstance(i, DependencyMixin) and i.modifies_edges]
    return labels, [i for i in items if not (isinstance(i, DependencyMixin) and i.modifies_edges)]


def _nodes_of(obj: Any, end: str) -> list[BaseOperator]:
    if isinstance(obj, DependencyMixin):
        return getattr(obj, end)()
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        return [node for item in obj for node in _nodes_of(item, end)]
    raise TypeError(f"cannot set a dependency on {obj!r}: it is not a task")


@functools.cache
def _init_arg_names(cls: type) -> frozenset[str]:
    """Every keyword some ``__init__`` in the class hierarchy declares."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
    return frozenset(names)


def merged_default_args(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The default_args a task made now gets: its DAG's, its group's, then its own."""
    from miniflow.task_group import TaskGroupContext

    group = kwargs.get("task_group") or TaskGroupContext.current()
    dag = kwargs.get("dag") or (group.dag if group is not None else None) or DagContext.current()
    default_args = dict(dag.default_args) if dag is not None else {}
    default_args.update(group.default_args if group is not None else {})
    default_args.update(kwargs.get("default_args") or {})
    return default_args


def _apply_defaults(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap an operator ``__init__`` so the outermost call merges default_args first."""
    @functools.wraps(init)
    def wrapper(self: BaseOperator, *args: Any, **kwargs: Any) -> None:
        if self.__dict__.get("_init_started"):  # a super().__init__ call: defaults are in
            init(self, *args, **kwargs)
            return
        self.__dict__["_init_started"] = True
        if args:
            raise DagDefinitionError(
                f"{type(self).__name__}: use keyword arguments when creating operators"
            )
        from miniflow.task_group import TaskGroupContext

        group = kwargs.get("task_group") or TaskGroupContext.current()
        default_args = merged_default_args(kwargs)
        kwargs.pop("default_args", None)
        if group is not None:
            kwargs["task_group"] = group
            if group.dag is not None:
                kwargs.setdefault("dag", group.dag)
            if "task_id" in kwargs:
                kwargs["task_id"] = group.child_id(kwargs["task_id"])
        accepted = _init_arg_names(type(self))
        for name, value in default_args.items():
            if name in accepted:
                kwargs.setdefault(name, value)
        init(self, **kwargs)
        if group is not None:
            group.add(self)
        self._set_xcom_arg_dependencies()

    return wrapper


class BaseOperator(DependencyMixin):
    """A task: one unit of work in a DAG. Subclasses implement `execute(context)`.

    ``template_fields`` are rendered with Jinja just before `execute` runs; a string
    field ending in one of ``template_ext`` is read from that file and rendered.
    """

    template_fields: Sequence[str] = ()
    template_ext: Sequence[str] = ()
    template_fields_renderers: dict[str, str] = {}
    ui_color = "#fff"
    ui_fgcolor = "#000"
    operator_extra_links: Collection[BaseOperatorLink] = ()
    # Nothing to run (Airflow's name): the scheduler marks such a task success itself.
    inherits_from_empty_operator = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _apply_defaults(cls.__dict__["__init__"])  # type: ignore[method-assign]

    def __init__(
        self,
        *,
        task_id: str,
        owner: str = "airflow",
        email: str | Iterable[str] | None = None,
        email_on_retry: bool = True,
        email_on_failure: bool = True,
        retries: int | None = 0,
        retry_delay: dt.timedelta | float = dt.timedelta(seconds=300),
        retry_exponential_backoff: bool = False,
        max_retry_delay: dt.timedelta | float | None = None,
        start_date: dt.datetime | None = None,
        end_date: dt.datetime | None = None,
        depends_on_past: bool = False,
        ignore_first_depends_on_past: bool = True,
        wait_for_past_depends_before_skipping: bool = False,
        wait_for_downstream: bool = False,
        dag: DAG | None = None,
        params: dict[str, Any] | None = None,
        default_args: dict[str, Any] | None = None,
        priority_weight: int = 1,
        weight_rule: str = "downstream",
        queue: str | None = None,
        pool: str | None = None,
        pool_slots: int = 1,
        sla: dt.timedelta | None = None,
        execution_timeout: dt.timedelta | float | None = None,
        on_execute_callback: Callable[..., Any] | list[Callable[..., Any]] | None = None,
        on_failure_callback: Callable[..., Any] | list[Callable[..., Any]] | None = None,
        on_success_callback: Callable[..., Any] | list[Callable[..., Any]] | None = None,
        on_retry_callback: Callable[..., Any] | list[Callable[..., Any]] | None = None,
        on_skipped_callback: Callable[..., Any] | list[Callable[..., Any]] | None = None,
        pre_execute: Callable[..., Any] | None = None,
        post_execute: Callable[..., Any] | None = None,
        trigger_rule: str = TriggerRule.ALL_SUCCESS,
        resources: dict[str, Any] | None = None,
        run_as_user: str | None = None,
        task_concurrency: int | None = None,
        max_active_tis_per_dag: int | None = None,
        max_active_tis_per_dagrun: int | None = None,
        executor: str | None = None,
        executor_config: dict[str, Any] | None = None,
        do_xcom_push: bool = True,
        multiple_outputs: bool = False,
        inlets: Any = None,
        outlets: Any = None,
        task_group: Any = None,
        doc: str | None = None,
        doc_md: str | None = None,
        doc_json: str | None = None,
        doc_yaml: str | None = None,
        doc_rst: str | None = None,
        task_display_name: str | None = None,
        map_index_template: str | None = None,
        logger_name: str | None = None,
        allow_nested_operators: bool = True,
        **kwargs: Any,
    ) -> None:
        self._dag: DAG | None = None
        dag = dag or DagContext.current()
        fileloc = dag.fileloc if dag else ""
        where = f"{fileloc}: DAG {dag.dag_id!r}: " if dag else ""
        self.task_id = validate_key("task_id", task_id, where)
        where = f"{where}task {task_id!r}: "
        if kwargs:
            raise UnknownArgumentError(
                f"{where}invalid argument(s) passed to {type(self).__name__}: "
                f"{', '.join(sorted(kwargs))}"
            )
        if not TriggerRule.is_valid(str(trigger_rule)):
            raise InvalidTriggerRuleError(
                f"{where}unknown trigger_rule {str(trigger_rule)!r}; "
                f"use one of {', '.join(sorted(TriggerRule.all_triggers()))}"
            )
        if weight_rule not in WEIGHT_RULES:
            raise DagDefinitionError(
                f"{where}unknown weight_rule {weight_rule!r}; use one of {', '.join(WEIGHT_RULES)}"
            )
        self.trigger_rule = TriggerRule(str(trigger_rule))
        if self.trigger_rule.current is not self.trigger_rule:
            warnings.warn(f"{where}trigger_rule {self.trigger_rule.value!r} is deprecated; "
                          f"use {self.trigger_rule.current.value!r}", RemovedInAirflow3Warning, stacklevel=2)
            self.trigger_rule = self.trigger_rule.current
        self.owner = owner
        self.email = email
        self.email_on_retry = email_on_retry
        self.email_on_failure = email_on_failure
        self.retries = int(retries or 0)
        self.retry_delay = _as_timedelta(retry_delay)
        self.retry_exponential_backoff = retry_exponential_backoff
        self.max_retry_delay = _as_timedelta(max_retry_delay)
        for name, value in (("start_date", start_date), ("end_date", end_date)):
            if value is not None and not isinstance(value, dt.datetime):  # as Airflow: said, and left out
                warnings.warn(f"{where}{name} {value!r} is not a datetime; it is ignored", stacklevel=2)
        self.start_date = to_utc(start_date) if isinstance(start_date, dt.datetime) else None
        self.end_date = to_utc(end_date) if isinstance(end_date, dt.datetime) else None
        self.depends_on_past = depends_on_past or wait_for_downstream
        self.ignore_first_depends_on_past = ignore_first_depends_on_past
        self.wait_for_past_depends_before_skipping = wait_for_past_depends_before_skipping
        self.wait_for_downstream = wait_for_downstream
        self.priority_weight = priority_weight
        self.weight_rule = weight_rule
        if queue is None:
            from miniflow.config import get_config

            queue = get_config().get("celery", "default_queue")
        self.queue = queue
        self.pool = pool or "default_pool"
        self.pool_slots = pool_slots
        self.sla = sla
        self.execution_timeout = _as_timedelta(execution_timeout)
        self.on_execute_callback = on_execute_callback
        self.on_failure_callback = on_failure_callback
        self.on_success_callback = on_success_callback
        self.on_retry_callback = on_retry_callback
        self.on_skipped_callback = on_skipped_callback
        self._pre_execute_hook = pre_execute
        self._post_execute_hook = post_execute
        self.resources = resources
        self.run_as_user = run_as_user
        self.max_active_tis_per_dag = max_active_tis_per_dag or task_concurrency
        self.max_active_tis_per_dagrun = max_active_tis_per_dagrun
        self.executor = executor
        self.executor_config = executor_config or {}
        self.do_xcom_push = do_xcom_push
        self.multiple_outputs = multiple_outputs
        self.inlets: list[Any] = _as_list(inlets)
        self.outlets: list[Any] = _as_list(outlets)
        self.doc_md = doc_md or doc or doc_json or doc_yaml or doc_rst
        self.task_display_name = task_display_name or task_id
        self.map_index_template = map_index_template  # names a mapped instance in the UI
        self.task_group = task_group  # the innermost TaskGroup holding this task, if any
        self.is_setup = False
        self.is_teardown = False
        self._on_failure_fail_dagrun = False
        self.params: dict[str, Any] = dict(params or {})
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        # downstream task_id -> (order drawn, DAG-file line): names the edge closing a cycle
        self.edge_origins: dict[str, tuple[int, int | None]] = {}
        if dag is not None:
            self.params = {**dag.params, **self.params}
            dag.add_task(self)
        from miniflow.setup_teardown import SetupTeardownContext

        SetupTeardownContext.add_task(self)

    @property
    def nothing_to_run(self) -> bool:
        """An EmptyOperator with no callback or outlet to honour: the scheduler marks
        it a success without handing it to an executor."""
        return self.inherits_from_empty_operator and not (
            self.on_execute_callback or self.on_success_callback or self.outlets)

    @classmethod
    def partial(cls, **kwargs: Any) -> OperatorPartial:
        """The arguments shared by every instance of a mapped task; finish with
        ``.expand(...)`` or ``.expand_kwargs(...)`` (see `miniflow.mapping`)."""
        from miniflow.mapping import OperatorPartial

        return OperatorPartial(cls, kwargs)

    # --- setup and teardown (see miniflow.setup_teardown) -------------------------------

    def as_setup(self) -> BaseOperator:
        """Mark this task as a setup: it creates what other tasks use."""
        self.is_setup = True
        return self

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None) -> BaseOperator:
        """Mark this task as a teardown of `setups`: it runs once they ran, even if the
        work between failed; its failure fails the run only if `on_failure_fail_dagrun`."""
        from miniflow.setup_teardown import make_teardown

        return make_teardown(self, setups, on_failure_fail_dagrun)

    @property
    def on_failure_fail_dagrun(self) -> bool:
        return self._on_failure_fail_dagrun

    @on_failure_fail_dagrun.setter
    def on_failure_fail_dagrun(self, value: bool) -> None:
        if value and not self.is_teardown:
            raise DagDefinitionError(
                f"task {self.task_id!r}: on_failure_fail_dagrun is for teardown tasks only")
        self._on_failure_fail_dagrun = value

    def __enter__(self) -> Any:
        """``with setup >> teardown:`` -- the tasks made inside run between them."""
        from miniflow.setup_teardown import SetupTeardownContext

        return SetupTeardownContext.enter(self)

    def __exit__(self, *exc: object) -> None:
        from miniflow.setup_teardown import SetupTeardownContext

        SetupTeardownContext.exit()

    # --- DAG membership ---------------------------------------------------------------

    @property
    def dag(self) -> DAG:
        if self._dag is None:
            raise DagDefinitionError(f"task {self.task_id!r} is not in a DAG")
        return self._dag

    @dag.setter
    def dag(self, dag: DAG) -> None:
        if self._dag is not None and self._dag is not dag:
            raise TaskAlreadyInDagError(
                f"task {self.task_id!r} already belongs to DAG {self._dag.dag_id!r} "
                f"and cannot be added to DAG {dag.dag_id!r}"
            )
        dag.add_task(self)

    @property
    def has_dag(self) -> bool:
        return self._dag is not None

    @property
    def log(self) -> logging.Logger:
        """The task's logger; the runner sends it to this try's log file."""
        return logging.getLogger(f"miniflow.task.{type(self).__name__}")

    @property
    def dag_id(self) -> str:
        return self._dag.dag_id if self._dag else f"adhoc_{self.owner}"

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"

    # --- dependencies -----------------------------------------------------------------

    def _dep_nodes(self) -> list[BaseOperator]:
        return [self]

    def _link(self, downstream: BaseOperator) -> None:
        """Draw the edge self -> downstream, adopting a DAG if one side has none."""
        if self._dag is None and downstream._dag is not None:
            self.dag = downstream._dag
        elif downstream._dag is None and self._dag is not None:
            downstream.dag = self._dag
        elif self._dag is not downstream._dag:
            raise DagDefinitionError(
                f"cannot link {self.task_id!r} (DAG {self.dag_id!r}) to "
                f"{downstream.task_id!r} (DAG {downstream.dag_id!r}): tasks are in different DAGs"
            )
        if downstream.task_id not in self.downstream_task_ids:
            self.edge_origins[downstream.task_id] = (next(_EDGE_ORDER), caller_location()[1])
        self.downstream_task_ids.add(downstream.task_id)
        downstream.upstream_task_ids.add(self.task_id)
        if self._dag is not None:
            self._dag.graph_changed()

    @property
    def upstream_list(self) -> list[BaseOperator]:
        return [self.dag.task_dict[t] for t in sorted(self.upstream_task_ids)]

    @property
    def downstream_list(self) -> list[BaseOperator]:
        return [self.dag.task_dict[t] for t in sorted(self.downstream_task_ids)]

    def get_direct_relative_ids(self, upstream: bool = False) -> set[str]:
        return set(self.upstream_task_ids if upstream else self.downstream_task_ids)

    @property
    def extra_links(self) -> list[str]:
        return sorted(link.name for link in self.operator_extra_links)

    def get_extra_links(self, ti: Any, link_name: str) -> str | None:
        """The URL of the link `link_name` for the task instance `ti`; None if no such link."""
        for link in self.operator_extra_links:
            if link.name == link_name:
                return link.get_link(self, ti_key=ti.key)
        return None

    def get_direct_relatives(self, upstream: bool = False) -> list[BaseOperator]:
        return self.upstream_list if upstream else self.downstream_list

    def get_flat_relative_ids(self, upstream: bool = False) -> set[str]:
        return self.dag.get_flat_relative_ids(self.task_id, upstream=upstream)

    def get_flat_relatives(self, upstream: bool = False) -> list[BaseOperator]:
        return [self.dag.task_dict[t] for t in sorted(self.get_flat_relative_ids(upstream))]

    def _set_xcom_arg_dependencies(self) -> None:
        """A task that reads another's XComArg in a templated field runs after it."""
        from miniflow.xcom import XComArg

        for field in self.template_fields:
            for ref in XComArg.find_all(getattr(self, field, None)):
                ref.operator._link(self)

    @property
    def output(self) -> XComArg:
        """This task's return value, to pass to another task (resolved at run time)."""
        from miniflow.xcom import XComArg

        return XComArg(self)

    @property
    def priority_weight_total(self) -> int:
        """The weight the scheduler orders by, per ``weight_rule``."""
        if self.weight_rule == "absolute" or self._dag is None:
            return self.priority_weight
        relatives = self.get_flat_relative_ids(upstream=self.weight_rule == "upstream")
        return self.priority_weight + sum(self.dag.task_dict[t].priority_weight for t in relatives)

    # --- running ------------------------------------------------------------------------

    @abstractmethod
    def execute(self, context: dict[str, Any]) -> Any:
        """Do the task's work; the return value is pushed to XCom."""

    def pre_execute(self, context: dict[str, Any]) -> None:
        if self._pre_execute_hook is not None:
            self._pre_execute_hook(context)

    def post_execute(self, context: dict[str, Any], result: Any = None) -> None:
        if self._post_execute_hook is not None:
            self._post_execute_hook(context, result)

    def on_kill(self) -> None:
        """Called when the try is stopped from outside; override to release resources."""

    def defer(self, *, trigger: BaseTrigger, method_name: str, kwargs: dict[str, Any] | None = None,
              timeout: dt.timedelta | None = None) -> NoReturn:
        """Wait for `trigger`, then go on in ``method_name(context, event=..., **kwargs)``
        (Airflow's deferral; the wait happens in this try's process, see `miniflow.triggers`)."""
        raise TaskDeferred(trigger=trigger, method_name=method_name, kwargs=kwargs, timeout=timeout)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: dict[str, Any]) -> Any:
        """Go on after a deferral: `next_method` with the event's kwargs, or, for
        ``__fail__``, fail with the deferral's ``error``."""
        if next_method == "__fail__":
            raise TaskDeferralError((next_kwargs or {}).get("error", "Unknown"))
        return getattr(self, next_method)(context, **(next_kwargs or {}))

    def render_template_fields(self, context: dict[str, Any], jinja_env: Any = None) -> None:
        """Render every templated field in place, for this try only."""
        from miniflow.templating import render_fields

        render_fields(self, context, jinja_env, f"task {self.task_id!r}")

    def render_template(self, content: Any, context: dict[str, Any], jinja_env: Any = None) -> Any:
        """`content` (a string, or strings inside lists, tuples, sets and dicts) rendered
        against `context` with the DAG's Jinja environment, as Airflow's public API does."""
        from miniflow.templating import render_value

        return render_value(self, content, context, jinja_env)

    def xcom_push(self, context: dict[str, Any], key: str, value: Any) -> None:
        context["ti"].xcom_push(key=key, value=value)

    def xcom_pull(self, context: dict[str, Any], task_ids: Any = None, key: str = "return_value", **kw: Any) -> Any:
        return context["ti"].xcom_pull(task_ids=task_ids, key=key, **kw)


# Also BaseOperator's own __init__: classes without one (EmptyOperator) call it first.
BaseOperator.__init__ = _apply_defaults(BaseOperator.__init__)  # type: ignore[method-assign]


def _as_timedelta(value: dt.timedelta | float | None) -> dt.timedelta | None:
    if value is None or isinstance(value, dt.timedelta):
        return value
    return dt.timedelta(seconds=float(value))


def _as_list(value: Any) -> list[Any]:
    """inlets/outlets as a list: Airflow takes one dataset (or any non-list) as a list of one."""
    if not value:
        return []
    return value if isinstance(value, list) else [value]


def chain(*elements: DependencyMixin | Sequence[DependencyMixin]) -> None:
    """Link each element to the next; two adjacent lists are linked pairwise."""
    for up, down in zip(elements, elements[1:]):
        up_is_list = not isinstance(up, DependencyMixin)
        down_is_list = not isinstance(down, DependencyMixin)
        if up_is_list and down_is_list:
            up_seq, down_seq = list(up), list(down)  # type: ignore[arg-type]
            if len(up_seq) != len(down_seq):
                raise DagDefinitionError(
                    f"chain() got adjacent lists of different lengths: "
                    f"{len(up_seq)} and {len(down_seq)}"
                )
            for u, d in zip(up_seq, down_seq):
                u.set_downstream(d)
        elif up_is_list:
            for u in up:  # type: ignore[union-attr]
                u.set_downstream(down)
        else:
            up.set_downstream(down)  # type: ignore[union-attr]


def cross_downstream(
    from_tasks: Sequence[DependencyMixin], to_tasks: DependencyMixin | Sequence[DependencyMixin]
) -> None:
    """Every task in `from_tasks` becomes upstream of every task in `to_tasks`."""
    for task in from_tasks:
        task.set_downstream(to_tasks)


def chain_linear(*elements: DependencyMixin | Sequence[DependencyMixin]) -> None:
    """Link every task of each element to every task of the next (``chain`` links two
    adjacent lists pairwise instead)."""
    if len(elements) < 2:
        raise DagDefinitionError("chain_linear() needs at least two elements")
    for up, down in zip(elements, elements[1:]):
        for u in [up] if isinstance(up, DependencyMixin) else up:
            u.set_downstream(down)
