"""The DAG: a set of tasks, their dependencies, and the schedule they run on.

A DAG is built by running a DAG file: tasks join the DAG given as ``dag=``, or the one
open in a ``with DAG(...)`` block, and ``>>`` draws the edges. `DAG.validate()` runs
once the file is loaded (the loader calls it) and checks the whole graph: a cycle is
reported with the tasks that form it, in order.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
import sys
import threading
import warnings
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

from miniflow.exceptions import (
    DagCycleError,
    DagDefinitionError,
    DuplicateTaskIdError,
    InvalidIdError,
    ParamValidationError,
    RemovedInAirflow3Warning,
    TaskAlreadyInDagError,
    TaskNotFoundError,
)
from miniflow.params import resolve_params
from miniflow.timetables import TimeRestriction, Timetable, interval_tick, timetable_for, to_utc

if TYPE_CHECKING:
    from types import CodeType, FrameType

    from miniflow.baseoperator import BaseOperator
    from miniflow.task_group import TaskGroup

__all__ = ["DAG", "DagContext", "validate_key", "id_core", "topological_order", "find_cycle"]

KEY_PATTERN = re.compile(r"^[\w.-]+$")
_NUMBERED_ID = re.compile(r"(.*)__(\d+)")  # a repeated @task's id, ``<core>__<n>``
MAX_KEY_LENGTH = 250
DEFAULT_SCHEDULE = dt.timedelta(days=1)  # Airflow 2.x's default when schedule is omitted
_UNSET: Any = object()
_PACKAGE_DIR = __file__.rsplit("/", 1)[0]
# The line tables of the last few code objects asked for a line (see `_line_of`), by id:
# each entry holds its code object, so no other takes that id while it is kept.
_LINE_TABLES: OrderedDict[int, tuple[CodeType, list[int], list[int | None]]] = OrderedDict()
_LINE_TABLES_KEPT = 4
_LINE_TABLES_LOCK = threading.Lock()


def validate_key(kind: str, key: object, where: str = "") -> str:
    """Check a dag_id or task_id; ids name log folders and URLs, so they stay plain."""
    if not isinstance(key, str):
        raise InvalidIdError(f"{where}{kind} must be a string, got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidIdError(f"{where}{kind} {key[:40]!r}... is longer than {MAX_KEY_LENGTH}")
    if not KEY_PATTERN.match(key):
        raise InvalidIdError(
            f"{where}invalid {kind} {key!r}: use only letters, digits, '_', '-' and '.'"
        )
    return key


def caller_location() -> tuple[str, int | None]:
    """File and line of the first frame outside miniflow: where the DAG file made the
    call (a ``DAG(...)``, a ``>>``), so load errors can point at that line."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "<unknown>", None
    return frame.f_code.co_filename, _line_of(frame)


def _line_of(frame: FrameType) -> int | None:
    """``frame.f_lineno``, found by bisection. Python finds it by reading the code's line
    table from the start, so in a DAG file of thousands of tasks, each asking for its
    line as it is made and linked, loading took time quadratic in its size (a 3,000-task
    file: 1.6 s instead of 0.16 s). A table is built once per code object; a few are
    kept, for DAG files that build tasks in a helper function called from the module."""
    code = frame.f_code
    with _LINE_TABLES_LOCK:  # DAG files may be loaded in several threads (the web server's)
        table = _LINE_TABLES.get(id(code))
        if table is not None:
            _LINE_TABLES.move_to_end(id(code))
    if table is None:
        starts: list[int] = []
        lines: list[int | None] = []
        for start, _end, line in code.co_lines():
            starts.append(start)
            lines.append(line)
        table = (code, starts, lines)
        with _LINE_TABLES_LOCK:
            _LINE_TABLES[id(code)] = table
            while len(_LINE_TABLES) > _LINE_TABLES_KEPT:
                _LINE_TABLES.popitem(last=False)
    i = bisect.bisect_right(table[1], frame.f_lasti) - 1
    return table[2][i] if i >= 0 else None


def id_core(node_id: str) -> str:
    """A task or group id without its trailing ``__<n>``, if it has one: what a repeated
    ``@task`` or ``@task_group`` is numbered after (see `DAG.last_id_suffix`)."""
    numbered = _NUMBERED_ID.fullmatch(node_id)
    return numbered.group(1) if numbered else node_id


def _owner_links(links: dict[str, str], where: str) -> dict[str, str]:
    """``owner_links`` as the DAG list shows them: http(s) links with a host, or mailto
    links with an address. Airflow takes any scheme with a host; miniflow refuses the
    others (``javascript://x`` among them), since the UI renders them as links."""
    from urllib.parse import urlsplit

    for owner, link in links.items():
        parts = urlsplit(str(link))
        if not (parts.scheme in ("http", "https") and parts.netloc or parts.scheme == "mailto" and parts.path):
            raise DagDefinitionError(f"{where}owner_links[{owner!r}] = {link!r} is not an http(s) or mailto link")
    return dict(links)


def _parse_datetime(value: Any, name: str, where: str) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    raise DagDefinitionError(f"{where}{name} {value!r} is not a datetime")


class DagContext:
    """The stack of DAGs opened with ``with DAG(...)``; tasks join the innermost one."""

    _stack: list[DAG] = []
    # DAGs opened as context managers while a file loads; the loader keeps them even
    # when the file does not bind them to a global name (e.g. a bare ``@dag`` call).
    autoregistered: list[DAG] = []

    @classmethod
    def push(cls, dag: DAG) -> None:
        cls._stack.append(dag)
        if dag.auto_register:
            cls.autoregistered.append(dag)

    @classmethod
    def pop(cls) -> None:
        cls._stack.pop()

    @classmethod
    def current(cls) -> DAG | None:
        return cls._stack[-1] if cls._stack else None


class DAG:
    """A workflow: tasks with dependencies, run on a schedule.

    The arguments are Airflow 2.10's, with its defaults: ``schedule`` (alias
    ``schedule_interval``) defaults to one day, ``catchup`` to True,
    ``max_active_runs`` and ``max_active_tasks`` to ``core.max_active_runs_per_dag``
    and ``core.max_active_tasks_per_dag`` (16). The DAG's timezone is that of
    ``start_date`` (or ``default_args["start_date"]``); naive dates mean UTC.
    """

    def __init__(
        self,
        dag_id: str,
        description: str | None = None,
        schedule: Any = _UNSET,
        schedule_interval: Any = _UNSET,
        timetable: Timetable | None = None,
        start_date: dt.datetime | None = None,
        end_date: dt.datetime | None = None,
        template_searchpath: str | Iterable[str] | None = None,
        template_undefined: type | None = None,
        user_defined_macros: dict[str, Any] | None = None,
        user_defined_filters: dict[str, Callable[..., Any]] | None = None,
        default_args: dict[str, Any] | None = None,
        concurrency: int | None = None,
        max_active_tasks: int | None = None,
        max_active_runs: int | None = None,
        max_consecutive_failed_dag_runs: int = 0,
        dagrun_timeout: dt.timedelta | None = None,
        sla_miss_callback: Callable[..., Any] | None = None,
        default_view: str = "grid",
        orientation: str = "LR",
        catchup: bool = True,
        on_success_callback: Callable[..., Any] | None = None,
        on_failure_callback: Callable[..., Any] | None = None,
        doc_md: str | None = None,
        params: dict[str, Any] | None = None,
        access_control: dict[str, Any] | None = None,
        is_paused_upon_creation: bool | None = None,
        jinja_environment_kwargs: dict[str, Any] | None = None,
        render_template_as_native_obj: bool = False,
        tags: Iterable[str] | None = None,
        owner_links: dict[str, str] | None = None,
        auto_register: bool = True,
        fail_stop: bool = False,
        dag_display_name: str | None = None,
    ) -> None:
        self.fileloc, self.lineno = caller_location()
        where = f"{self.fileloc}: "
        self.dag_id = validate_key("dag_id", dag_id, where)
        where = f"{self.fileloc}: DAG {dag_id!r}: "
        self.default_args = dict(default_args or {})
        self.description = description
        self.doc_md = doc_md

        own_dates = (start_date is not None, end_date is not None)
        start_date = _parse_datetime(
            start_date if start_date is not None else self.default_args.get("start_date"),
            "start_date", where,
        )
        end_date = _parse_datetime(
            end_date if end_date is not None else self.default_args.get("end_date"),
            "end_date", where,
        )
        self.timezone: dt.tzinfo = (start_date.tzinfo if start_date else None) or dt.timezone.utc
        self.start_date = self._localized(start_date)
        self.end_date = self._localized(end_date)
        for name in ("start_date", "end_date"):  # the tasks get dates, as Airflow's DAG parses them for them
            if self.default_args.get(name) is not None and not isinstance(self.default_args[name], dt.datetime):
                self.default_args[name] = self._localized(_parse_datetime(self.default_args[name], name, where))
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise DagDefinitionError(
                f"{where}start_date {self.start_date.isoformat()} is after "
                f"end_date {self.end_date.isoformat()}"
            )
        # The window add_task holds each task to: the dates given to the DAG itself, as in
        # Airflow, whose DAG ignores those of default_args (they reach the tasks directly).
        self._task_window = (self.start_date if own_dates[0] else None, self.end_date if own_dates[1] else None)

        if schedule is not _UNSET and schedule_interval is not _UNSET:
            raise DagDefinitionError(f"{where}give schedule or schedule_interval, not both")
        if timetable is not None:
            schedule = timetable
        elif schedule is _UNSET:
            schedule = DEFAULT_SCHEDULE if schedule_interval is _UNSET else schedule_interval
        self.schedule = schedule
        try:
            self.timetable = timetable_for(schedule, self.timezone)
        except DagDefinitionError as exc:
            raise type(exc)(f"{where}{exc}") from None

        self.catchup = catchup
        from miniflow.config import get_config

        config = get_config()
        if max_active_tasks is None:
            max_active_tasks = concurrency if concurrency is not None else config.get("core", "max_active_tasks_per_dag")
        self.max_active_tasks = max_active_tasks
        self.max_active_runs = (config.get("core", "max_active_runs_per_dag")
                                if max_active_runs is None else max_active_runs)
        self.max_consecutive_failed_dag_runs = max_consecutive_failed_dag_runs
        self.dagrun_timeout = dagrun_timeout
        self.sla_miss_callback = sla_miss_callback
        self.on_success_callback = on_success_callback
        self.on_failure_callback = on_failure_callback
        self.params: dict[str, Any] = dict(self.default_args.get("params") or {})
        self.params.update(params or {})
        self.tags = sorted(set(tags or ()))
        self.owner_links = _owner_links(owner_links or {}, where)
        self.is_paused_upon_creation = is_paused_upon_creation
        self.default_view = default_view
        self.orientation = orientation
        self.fail_stop = fail_stop
        self.dag_display_name = dag_display_name or dag_id
        self.access_control = access_control

        if isinstance(template_searchpath, str):
            template_searchpath = [template_searchpath]
        self.template_searchpath = list(template_searchpath or [])
        self.template_undefined = template_undefined
        self.user_defined_macros = user_defined_macros or {}
        self.user_defined_filters = user_defined_filters or {}
        self.jinja_environment_kwargs = jinja_environment_kwargs or {}
        self.render_template_as_native_obj = render_template_as_native_obj

        self.task_dict: dict[str, BaseOperator] = {}
        self._id_suffixes: dict[tuple[str, str], int] = {}  # see `last_id_suffix`
        self.task_group_dict: dict[str, TaskGroup] = {}
        self.edge_info: dict[tuple[str, str], dict[str, Any]] = {}
        self.auto_register = auto_register
        self._topological_cache: list[BaseOperator] | None = None
        self._derived: dict[str, Any] = {}

    def _localized(self, value: dt.datetime | None) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.timezone)
        return to_utc(value)

    # --- context manager --------------------------------------------------------------

    def __enter__(self) -> DAG:
        DagContext.push(self)
        return self

    def __exit__(self, *exc: object) -> None:
        DagContext.pop()

    def __repr__(self) -> str:
        return f"<DAG: {self.dag_id}>"

    # --- tasks -----------------------------------------------------------------------

    @property
    def tasks(self) -> list[BaseOperator]:
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        return list(self.task_dict)

    @property
    def owner(self) -> str:
        return ", ".join(sorted({t.owner for t in self.task_dict.values()}))

    def add_task(self, task: BaseOperator) -> None:
        if task.task_id in self.task_dict and self.task_dict[task.task_id] is not task:
            raise DuplicateTaskIdError(
                f"{self.fileloc}: DAG {self.dag_id!r}: task id {task.task_id!r} is used "
                "by two tasks; give each task its own task_id"
            )
        if task.task_id in self.task_group_dict:
            raise DuplicateTaskIdError(
                f"{self.fileloc}: DAG {self.dag_id!r}: task id {task.task_id!r} is a task group's id; "
                "give the task its own task_id"
            )
        if task._dag is not None and task._dag is not self:
            raise TaskAlreadyInDagError(
                f"{self.fileloc}: task {task.task_id!r} already belongs to DAG "
                f"{task._dag.dag_id!r} and cannot be added to DAG {self.dag_id!r}"
            )
        # As in Airflow, a task runs within its DAG's window as well as its own: a run
        # outside it (a manual run before start_date, say) gets no instance of the task.
        start, end = self._task_window
        if start and (task.start_date is None or task.start_date < start):
            task.start_date = start
        if end and (task.end_date is None or task.end_date > end):
            task.end_date = end
        self.task_dict[task.task_id] = task
        self._note_id_suffix("task", task.task_id)
        task._dag = self
        self.graph_changed()

    def add_task_group(self, group: TaskGroup) -> None:
        """Register `group` (a `TaskGroup` registers itself when made in this DAG)."""
        self.task_group_dict[group.group_id] = group
        self._note_id_suffix("group", group.group_id)

    def last_id_suffix(self, kind: Literal["task", "group"], core: str) -> int:
        """The highest n of this DAG's ids ``<core>__<n>`` of tasks (`kind` "task") or
        task groups ("group"), 0 for none: a ``@task`` or ``@task_group`` called again
        gets the next, as in Airflow. Kept as they are added, since a DAG file that calls
        one in a loop would otherwise search every id at every call."""
        return self._id_suffixes.get((kind, core), 0)

    def _note_id_suffix(self, kind: Literal["task", "group"], node_id: str) -> None:
        if numbered := _NUMBERED_ID.fullmatch(node_id):
            key, n = (kind, numbered.group(1)), int(numbered.group(2))
            self._id_suffixes[key] = max(self._id_suffixes.get(key, 0), n)

    def graph_changed(self) -> None:
        """Forget what was computed from the tasks and edges (a task or edge was added)."""
        self._topological_cache = None
        self._derived.clear()

    def derived(self, name: str, compute: Callable[[], Any]) -> Any:
        """`compute()`'s result, kept until the graph changes (the scheduler asks for
        facts about the graph on every pass)."""
        if name not in self._derived:
            self._derived[name] = compute()
        return self._derived[name]

    def set_edge_info(self, upstream_task_id: str, downstream_task_id: str, info: dict[str, Any]) -> None:
        """Metadata of one edge, such as its ``label`` (see `miniflow.edge_label`)."""
        self.edge_info[(upstream_task_id, downstream_task_id)] = dict(info)

    def get_edge_info(self, upstream_task_id: str, downstream_task_id: str) -> dict[str, Any]:
        return self.edge_info.get((upstream_task_id, downstream_task_id), {})

    def add_tasks(self, tasks: Iterable[BaseOperator]) -> None:
        for task in tasks:
            self.add_task(task)

    def has_task(self, task_id: str) -> bool:
        return task_id in self.task_dict

    def get_task(self, task_id: str) -> BaseOperator:
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise TaskNotFoundError(
                f"DAG {self.dag_id!r} has no task {task_id!r}"
            ) from None

    @property
    def roots(self) -> list[BaseOperator]:
        return [t for t in self.task_dict.values() if not t.upstream_task_ids]

    @property
    def leaves(self) -> list[BaseOperator]:
        return [t for t in self.task_dict.values() if not t.downstream_task_ids]

    def edges(self) -> list[tuple[str, str]]:
        return [(t.task_id, d) for t in self.task_dict.values() for d in sorted(t.downstream_task_ids)]

    def _downstream_of(self, task_id: str) -> set[str]:
        return self.task_dict[task_id].downstream_task_ids

    def topological_sort(self) -> list[BaseOperator]:
        """The tasks in an order where every edge points forward; a cycle is an error.

        Cached: the scheduler asks for it on every pass. Adding a task or an edge
        forgets the cache.
        """
        if self._topological_cache is None:
            order = topological_order(self.task_dict, self._downstream_of)
            if order is None:
                cycle, line = self._closing_edge_last(find_cycle(self.task_dict, self._downstream_of) or [])
                raise DagCycleError(self.dag_id, cycle, self.fileloc, line)
            self._topological_cache = [self.task_dict[t] for t in order]
        return list(self._topological_cache)

    def _closing_edge_last(self, cycle: list[str]) -> tuple[list[str], int | None]:
        """The cycle turned so that its last edge is the one drawn last -- the edge that
        closed it -- and the DAG-file line that drew it."""
        drawn = [(self.task_dict[up].edge_origins.get(down), i) for i, (up, down) in enumerate(zip(cycle, cycle[1:]))]
        known = [(origin, i) for origin, i in drawn if origin is not None]
        if not known:
            return cycle, None
        (_, line), i = max(known)
        return cycle[i + 1:-1] + cycle[:i + 1] + [cycle[i + 1]], line

    def validate(self) -> None:
        """Check the finished graph; the loader calls this once the DAG file has run."""
        limit = self.timetable.active_runs_limit
        if limit is not None and self.max_active_runs > limit:
            raise DagDefinitionError(
                f"{self.fileloc}: DAG {self.dag_id!r}: its schedule {self.timetable.summary!r} runs at most "
                f"{limit} run(s) at a time; set max_active_runs={limit} (it is {self.max_active_runs})")
        if self.fail_stop:
            bad = [t.task_id for t in self.task_dict.values()
                   if str(t.trigger_rule) != "all_success" and not t.is_teardown]
            if bad:
                raise DagDefinitionError(
                    f"{self.fileloc}: DAG {self.dag_id!r}: fail_stop=True needs the default trigger rule "
                    f"all_success on every task; {', '.join(sorted(bad))} use another")
        if self.timetable.can_be_scheduled:  # runs made without a conf must have valid params, as in Airflow
            try:
                resolve_params(self.params)
            except ParamValidationError as exc:
                raise DagDefinitionError(
                    f"{self.fileloc}: DAG {self.dag_id!r}: a DAG with a schedule needs a valid default for every "
                    f"param ({exc})") from None
        for task in self.task_dict.values():
            for other in task.upstream_task_ids | task.downstream_task_ids:
                if other not in self.task_dict:
                    raise DagDefinitionError(
                        f"{self.fileloc}: DAG {self.dag_id!r}: task {task.task_id!r} depends "
                        f"on {other!r}, which is not in this DAG"
                    )
        self.topological_sort()

    def get_flat_relative_ids(self, task_id: str, upstream: bool = False) -> set[str]:
        """Every task reachable from `task_id` going downstream (or upstream)."""
        seen: set[str] = set()
        todo = [task_id]
        while todo:
            task = self.task_dict[todo.pop()]
            for rel in task.upstream_task_ids if upstream else task.downstream_task_ids:
                if rel not in seen:
                    seen.add(rel)
                    todo.append(rel)
        return seen

    def partial_subset(
        self, task_ids: Iterable[str], include_upstream: bool = False, include_downstream: bool = False
    ) -> set[str]:
        """The ids selected plus, on request, everything up- or downstream of them, and
        the setups (with their teardowns) the selected work needs: what a clear resets."""
        from miniflow.setup_teardown import TaskGraph, clear_scope

        return clear_scope(TaskGraph.of_dag(self), task_ids, include_upstream, include_downstream)

    # --- schedule ---------------------------------------------------------------------

    @property
    def schedule_interval(self) -> Any:
        return self.schedule

    def following_schedule(self, dttm: dt.datetime) -> dt.datetime | None:
        """Airflow 2's deprecated name for the schedule's first tick after `dttm`."""
        warnings.warn("DAG.following_schedule() is deprecated; read the schedule from DAG.timetable",
                      RemovedInAirflow3Warning, stacklevel=2)
        return interval_tick(self.timetable, dttm, forward=True)

    def previous_schedule(self, dttm: dt.datetime) -> dt.datetime | None:
        """Airflow 2's deprecated name for the schedule's last tick before `dttm`."""
        warnings.warn("DAG.previous_schedule() is deprecated", RemovedInAirflow3Warning, stacklevel=2)
        return interval_tick(self.timetable, dttm, forward=False)

    @property
    def time_restriction(self) -> TimeRestriction:
        """start_date/end_date bounds: the DAG's, widened by its tasks' as in Airflow."""
        starts = [t.start_date for t in self.task_dict.values() if t.start_date]
        if self.start_date:
            starts.append(self.start_date)
        latest = self.end_date
        ends = [t.end_date for t in self.task_dict.values() if t.end_date]
        if self.task_dict and len(ends) == len(self.task_dict):
            if self.end_date:
                ends.append(self.end_date)
            latest = max(ends)
        return TimeRestriction(min(starts) if starts else None, latest, self.catchup)

    # --- authoring sugar --------------------------------------------------------------

    def __hash__(self) -> int:
        return hash(self.dag_id)

    def test(self, logical_date: dt.datetime | None = None, conf: dict[str, Any] | None = None) -> Any:
        """Run this DAG once in this process, as ``miniflow dags test`` does."""
        from miniflow.dag_test import run_dag_test

        return run_dag_test(self, logical_date=logical_date, conf=conf)


def topological_order(
    nodes: Iterable[str], downstream: Callable[[str], Iterable[str]]
) -> list[str] | None:
    """Kahn's algorithm: the nodes with every edge pointing forward, or None on a cycle."""
    nodes = list(nodes)
    indegree = dict.fromkeys(nodes, 0)
    for n in nodes:
        for d in downstream(n):
            indegree[d] += 1
    ready = deque(n for n in nodes if indegree[n] == 0)
    order: list[str] = []
    while ready:
        n = ready.popleft()
        order.append(n)
        for d in downstream(n):
            indegree[d] -= 1
            if indegree[d] == 0:
                ready.append(d)
    return order if len(order) == len(nodes) else None


def find_cycle(
    nodes: Iterable[str], downstream: Callable[[str], Iterable[str]]
) -> list[str] | None:
    """One cycle, in edge order with its first node repeated last, or None if acyclic.

    Iterative depth-first search (no recursion, so a 10,000-task chain is fine): a
    node met again while still on the current path closes a cycle.
    """
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(nodes, WHITE)
    for root in list(colour):
        if colour[root] != WHITE:
            continue
        path: list[str] = [root]
        stack = [iter(sorted(downstream(root)))]
        colour[root] = GREY
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                colour[path.pop()] = BLACK
                stack.pop()
            elif colour[nxt] == GREY:
                return path[path.index(nxt):] + [nxt]
            elif colour[nxt] == WHITE:
                colour[nxt] = GREY
                path.append(nxt)
                stack.append(iter(sorted(downstream(nxt))))
    return None
