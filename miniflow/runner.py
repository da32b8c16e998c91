"""The task runner: one try of one task instance, from claim to recorded outcome.

    claim (queued -> running)  ->  build context  ->  resolve XComArgs, render templates
    ->  execute under execution_timeout, output to the try's log file, heartbeating
    ->  record the outcome and the XComs in one transaction  ->  callbacks

The outcome follows Airflow: the skip exception skips; the fail-now exception (and a
sensor timeout) fails at once; any other exception, a timeout or a return value that
is not JSON fails the try, which is retried after its delay while tries remain. A
callback that raises is logged and changes nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from miniflow.callbacks import call_callbacks
from miniflow.context import bind_context, build_context, context_to_airflow_vars
from miniflow.datasets import outlet_datasets
from miniflow.exceptions import TaskDeferralError, TaskDeferred, TaskFailNow, TaskRescheduled, TaskSkipped
from miniflow.mapping import MappedOperator, feeds_mapping, mapped_kwargs, validate_mappable
from miniflow.retries import task_retry_wait
from miniflow.secrets import redact
from miniflow.serialization import to_plain
from miniflow.state import TaskInstanceState as TIS
from miniflow.task_log import capture_task_log, log_path, open_task_log
from miniflow.taskinstance import DagRun, TaskInstance
from miniflow.taskinstancekey import TaskInstanceKey
from miniflow.timeouts import time_limit
from miniflow.triggers import BaseTaskEndEvent, first_event
from miniflow.xcom import XCOM_RETURN_KEY, XComArg, serialize_value

if TYPE_CHECKING:
    from miniflow.baseoperator import BaseOperator
    from miniflow.dag import DAG
    from miniflow.db.interfaces import RunnerStore
    from miniflow.db.records import TIRecord

__all__ = ["Outcome", "Record", "execute_try", "record_outcome", "run_callbacks", "run_claimed", "run_task_instance",
           "succeed_without_running", "fail_lost_try", "fail_lost_row"]

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    state: TIS
    xcoms: list[tuple[str, str]] = field(default_factory=list)
    next_try_at: dt.datetime | None = None
    rendered: dict[str, Any] | None = None
    rendered_map_index: str | None = None
    error: BaseException | None = None
    context: dict[str, Any] | None = None
    dataset_updates: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _return_xcoms(ti: TaskInstance, result: Any) -> list[tuple[str, str]]:
    task = ti.task
    where = f"task {task.task_id!r}: "
    if feeds_mapping(task):
        from miniflow.config import get_config

        validate_mappable(result, where, int(get_config().get("core", "max_map_length")))
    if not task.do_xcom_push or result is None:
        return []
    xcoms = []
    if task.multiple_outputs:
        if not isinstance(result, dict) or not all(isinstance(k, str) for k in result):
            raise TypeError(f"{where}multiple_outputs=True needs a dict with str keys, got {type(result).__name__}")
        xcoms = [(k, serialize_value(v, where)) for k, v in result.items()]
    return [*xcoms, (XCOM_RETURN_KEY, serialize_value(result, where))]


def execute_try(ti: TaskInstance) -> Outcome:
    """Run the operator for `ti` (already claimed) and classify what happened."""
    task = ti.task
    logger = ti.log
    rendered: dict[str, Any] | None = None
    rendered_map_index = None
    # What the callbacks get if the context itself cannot be built (a param the run's
    # conf gives a value of the wrong type): the try fails like any other error.
    context: dict[str, Any] = {"dag": task.dag, "task": task, "ti": ti, "task_instance": ti}
    try:
        context = build_context(ti)
        if isinstance(task, MappedOperator):
            task = ti.task = context["task"] = task.unmap(
                mapped_kwargs(task.expand_input, ti.map_index, lambda arg: arg.resolve(context),
                              f"task {task.task_id!r}"))
        for name in task.template_fields:
            setattr(task, name, XComArg.resolve_all(getattr(task, name), context))
        task.render_template_fields(context)
        rendered = redact({name: to_plain(getattr(task, name)) for name in task.template_fields})
        os.environ.update(context_to_airflow_vars(context, in_env_var_format=True))  # as Airflow does
        task.pre_execute(context)
        call_callbacks(task.on_execute_callback, context, "on_execute_callback")
        with bind_context(context):
            timeout = task.execution_timeout.total_seconds() if task.execution_timeout else None
            try:
                with time_limit(timeout, f"task {task.task_id!r}"):
                    result = _execute(task, context)
            except BaseException:
                if timeout:
                    task.on_kill()
                raise
        task.post_execute(context, result)
        xcoms = _return_xcoms(ti, result)
        rendered_map_index = _render_map_index(task, context)
        outcome = Outcome(TIS.SUCCESS, xcoms, rendered=rendered,
                          dataset_updates=outlet_datasets(task.outlets, context["outlet_events"]))
    except TaskSkipped as exc:
        logger.info("Task skipped: %s", exc)
        outcome = Outcome(TIS.SKIPPED, rendered=rendered)
    except TaskRescheduled as exc:
        logger.info("Rescheduling: next poke at %s", exc.reschedule_date.isoformat())
        outcome = Outcome(TIS.UP_FOR_RESCHEDULE, next_try_at=exc.reschedule_date, rendered=rendered)
    except TaskFailNow as exc:
        logger.error("Task failed without retry: %s", exc)
        outcome = Outcome(TIS.FAILED, rendered=rendered, error=exc)
    except Exception as exc:
        logger.exception("Task failed with exception")
        outcome = _failed_try(ti, exc, rendered)
    except TaskDeferred as exc:  # from pre_execute or a callback: only execute and what it resumes may defer
        error = TaskDeferralError(f"defer() was called outside execute() and the methods it resumes ({exc})")
        logger.error("Task failed: %s", error)
        outcome = _failed_try(ti, error, rendered)
    outcome.context = context
    outcome.rendered_map_index = rendered_map_index or _render_map_index(task, context)
    ti.state = outcome.state
    ti.end_date = _now()
    logger.info("Marking task as %s. dag_id=%s, task_id=%s, run_id=%s, try_number=%s",
                outcome.state.value.upper(), ti.dag_id, ti.task_id, ti.run_id, ti.try_number)
    return outcome


def _execute(task: BaseOperator, context: dict[str, Any]) -> Any:
    """`task.execute`, and after each deferral the trigger's first event, waited for
    here, and the resumed method (see `miniflow.triggers`)."""
    step = functools.partial(task.execute, context)
    while True:
        try:
            return step()
        except TaskDeferred as deferred:
            task.log.info("Deferring: waiting for %r in this process (miniflow has no triggerer)", deferred.trigger)
            timeout = deferred.timeout.total_seconds() if deferred.timeout is not None else None
            try:
                event = first_event(deferred.trigger, timeout)
            except TaskDeferralError as exc:
                step = functools.partial(task.resume_execution, "__fail__", {"error": str(exc)}, context)
                continue
            if isinstance(event, BaseTaskEndEvent):
                return _end_from_trigger(event, context)
            step = functools.partial(task.resume_execution, deferred.method_name,
                                     {**(deferred.kwargs or {}), "event": event.payload}, context)


def _end_from_trigger(event: BaseTaskEndEvent, context: dict[str, Any]) -> None:
    """A trigger that ends the try itself: its XComs pushed, then its state."""
    for key, value in (event.xcoms or {}).items():
        context["ti"].xcom_push(key=key, value=value)
    if event.task_instance_state == TIS.FAILED:
        raise TaskFailNow("the trigger ended the task as failed")
    if event.task_instance_state == TIS.SKIPPED:
        raise TaskSkipped("the trigger ended the task as skipped")


def _stop_the_rest(store: RunnerStore, dag: DAG, key: TaskInstanceKey) -> None:
    """fail_stop: a failed task ends its run's other work -- running tries fail (and stop),
    the rest are skipped; teardowns still run, as in Airflow."""
    spare = [key.task_id, *(t.task_id for t in dag.task_dict.values() if t.is_teardown)]
    stopped = store.stop_run(key.dag_id, key.run_id, running_to=TIS.FAILED, spare=spare)
    log.info("fail_stop: %s failed, so %s other task instance(s) of %s were stopped", key.task_id, stopped,
             key.run_id)


def _render_map_index(task: BaseOperator, context: dict[str, Any]) -> str | None:
    """A mapped instance's name from ``map_index_template`` (rendered after the task ran,
    so the task may set what it uses in the context); None without a template."""
    if not task.map_index_template:
        return None
    from miniflow.templating import render_value

    try:
        return str(render_value(task, task.map_index_template, context))[:250]
    except Exception:
        log.warning("map_index_template of %s could not be rendered", task.task_id, exc_info=True)
        return None


def run_callbacks(ti: TaskInstance, outcome: Outcome) -> None:
    """The task's callback for its outcome; called once the outcome is recorded."""
    task = ti.task
    context = outcome.context or {}
    context["exception"] = outcome.error
    hooks = {
        TIS.SUCCESS: ("on_success_callback", task.on_success_callback),
        TIS.FAILED: ("on_failure_callback", task.on_failure_callback),
        TIS.UP_FOR_RETRY: ("on_retry_callback", task.on_retry_callback),
        TIS.SKIPPED: ("on_skipped_callback", task.on_skipped_callback),
    }
    if outcome.state in hooks:
        name, callback = hooks[outcome.state]
        call_callbacks(callback, context, name)
    _email_alert(ti, outcome)


def _email_alert(ti: TaskInstance, outcome: Outcome) -> None:
    """Airflow's e-mail on failure and on retry, to the task's ``email``."""
    task = ti.task
    retrying = outcome.state == TIS.UP_FOR_RETRY
    wanted = task.email_on_retry if retrying else task.email_on_failure
    if task.email and wanted and outcome.state in (TIS.FAILED, TIS.UP_FOR_RETRY):
        from miniflow.email import send_task_alert

        send_task_alert(ti, outcome.error, retrying)


def _failed_try(ti: TaskInstance, exc: BaseException, rendered: dict[str, Any] | None) -> Outcome:
    task = ti.task
    if ti.try_number <= ti.max_tries:
        from miniflow.config import get_config

        cap = get_config().get("core", "max_task_retry_delay")
        wait = task_retry_wait(task, ti.try_number, ti.logical_date, cap)
        return Outcome(TIS.UP_FOR_RETRY, next_try_at=_now() + wait, rendered=rendered, error=exc)
    return Outcome(TIS.FAILED, rendered=rendered, error=exc)


class _Heartbeat(threading.Thread):
    """Stamps the try running in this process every few seconds, so a dead worker is
    noticed. One thread per process, started on first use: cheaper than one per try."""

    _instance: _Heartbeat | None = None
    _lock = threading.Lock()

    def __init__(self, interval: float) -> None:
        super().__init__(daemon=True, name="miniflow-heartbeat")
        self.interval = interval
        self.current: tuple[RunnerStore, Any, Callable[[], None] | None] | None = None

    @classmethod
    def watch(cls, store: RunnerStore | None, row: TIRecord | None, interval: float,
              on_lost: Callable[[], None] | None = None) -> None:
        """Stamp `row`'s try from now on; `on_lost` is called once if the row stops being
        this running try (set to skipped or failed from outside: a run timed out, a
        fail_stop DAG failed), to stop the try."""
        with cls._lock:
            if cls._instance is None or not cls._instance.is_alive():
                cls._instance = cls(interval)
                cls._instance.start()
            cls._instance.current = (store, row, on_lost) if store is not None else None

    def run(self) -> None:
        while True:
            time.sleep(self.interval)
            current = self.current
            if current is None:
                continue
            store, row, on_lost = current
            try:
                alive = store.heartbeat_ti(TaskInstanceKey(row.dag_id, row.run_id, row.task_id, row.map_index),
                                           row.try_number)
            except Exception:
                log.warning("heartbeat of %s.%s failed", row.dag_id, row.task_id, exc_info=True)
                continue
            if not alive and on_lost is not None and self.current is current:
                self.current = None
                log.warning("%s.%s in %s was set to another state from outside; stopping the try",
                            row.dag_id, row.task_id, row.run_id)
                on_lost()


Record = Callable[["TIRecord", Outcome], bool]
"""Records a claimed try's outcome; False when the try no longer owns its row."""


def record_outcome(store: RunnerStore, row: TIRecord, outcome: Outcome) -> bool:
    """Record `outcome` of the try `claim_ti` returned as `row`, with its XComs,
    rendered fields and dataset updates, in one transaction (see `Store.finish_ti`)."""
    return store.finish_ti(row, outcome.state, outcome.xcoms, outcome.next_try_at, outcome.rendered,
                           outcome.rendered_map_index, outcome.dataset_updates)


def run_task_instance(store: RunnerStore, dag: DAG, key: TaskInstanceKey, dag_run: DagRun | None = None,
                      echo: bool = False, on_lost: Callable[[], None] | None = None) -> TIS | None:
    """Claim and run one try; returns its final state, or None if it was not ours to run.

    `dag_run` saves a query when the caller already has the run; `echo` and `on_lost`
    are those of `run_claimed`.
    """
    row = store.claim_ti(key, pid=os.getpid())
    if row is None:
        return None
    return run_claimed(store, dag, row, dag_run, echo, on_lost)


def succeed_without_running(store: RunnerStore, key: TaskInstanceKey) -> None:
    """A queued task instance with nothing to run (`BaseOperator.nothing_to_run`)
    succeeds at once, with no try process or log, as Airflow's scheduler marks such an
    EmptyOperator successful."""
    claimed = store.claim_ti(key)
    if claimed is not None:
        store.finish_ti(claimed, TIS.SUCCESS)


def run_claimed(store: RunnerStore, dag: DAG, row: TIRecord, dag_run: DagRun | None = None, echo: bool = False,
                on_lost: Callable[[], None] | None = None, record: Record | None = None) -> TIS | None:
    """Run the try `claim_ti` returned as `row`; returns its final state (None if its
    log file could not be opened and the row had moved on meanwhile).

    `echo` also prints the try's log lines to the terminal, behind the task's name
    (``dags test``); `on_lost` stops the try if its row is changed from outside while it
    runs (see `_Heartbeat`); `record` records the outcome (by default in `store`: the
    local executor's worker records its children's on its own connection).
    """
    from miniflow.config import get_config

    config = get_config()
    key = TaskInstanceKey(row.dag_id, row.run_id, row.task_id, row.map_index)
    if dag_run is None:
        dag_run = DagRun.from_row(store.get_run(key.dag_id, key.run_id))
    task = copy.copy(dag.get_task(key.task_id))  # rendering must not touch the loaded DAG
    ti = TaskInstance(task, dag_run, row.try_number, row.max_tries, store,
                      row.hostname, row.start_date, row.first_poke_at, row.poke_count, key.map_index)
    path = log_path(config.get("logging", "base_log_folder"), key, row.try_number)
    try:
        log_file = open_task_log(path, append=row.poke_count > 0)
    except OSError as exc:
        return fail_lost_row(store, row, task, f"cannot write its log file {path}: {exc.strerror or exc}")
    _Heartbeat.watch(store, row, config.get("scheduler", "heartbeat_interval"), on_lost)
    try:
        name = f"{key.task_id}[{key.map_index}]" if key.map_index >= 0 else key.task_id
        with capture_task_log(log_file, echo=name if echo else None) as logger:
            logger.info("Running %s on host %s, try %s of %s", ti, row.hostname, row.try_number, row.max_tries + 1)
            outcome = execute_try(ti)
            recorded = (record or functools.partial(record_outcome, store))(row, outcome)
            if recorded and outcome.state == TIS.FAILED and dag.fail_stop:
                _stop_the_rest(store, dag, key)
            run_callbacks(ti, outcome)
    finally:
        _Heartbeat.watch(None, None, 0)
    return outcome.state


def fail_lost_try(store: RunnerStore, key: Any, task: BaseOperator | None, reason: str,
                  retry_cap: float = 86400) -> TIS | None:
    """A try whose process ended without recording an outcome (killed, crashed, the DAG
    file no longer loads): mark it up_for_retry or failed, if it is still that try.
    Returns the state set, or None when the row had moved on."""
    row = store.get_ti(key.ti)
    if row is None or row.state not in (TIS.QUEUED, TIS.RUNNING):
        return None
    if row.state == TIS.RUNNING and row.try_number != key.try_number:
        return None
    return fail_lost_row(store, row, task, reason, retry_cap)


def fail_lost_row(store: RunnerStore, row: TIRecord, task: BaseOperator | None, reason: str,
                  retry_cap: float = 86400) -> TIS | None:
    """`fail_lost_try` for a task instance row (a zombie); without the task (its DAG
    is gone) no retry is possible."""
    # A queued try that never started still counts, or a file that cannot load would
    # be retried forever.
    failed_try = row.try_number + (1 if row.state == TIS.QUEUED and not row.poke_count else 0)
    retry_at = None
    if task is not None and failed_try <= row.max_tries:
        run = store.get_run(row.dag_id, row.run_id)
        assert run is not None, f"task instance of a deleted run {row.run_id!r}"
        retry_at = _now() + task_retry_wait(task, failed_try, run.logical_date, retry_cap)
    if not store.fail_try(row, failed_try, retry_at):
        return None
    state = TIS.UP_FOR_RETRY if retry_at else TIS.FAILED
    log.warning("%s.%s in %s: %s; marked %s", row.dag_id, row.task_id, row.run_id, reason, state.value)
    return state
