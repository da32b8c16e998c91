"""The store's reads (`miniflow.db.store`, `miniflow.db.records`): typed, frozen records
on SQLite and PostgreSQL, never SQLAlchemy rows, each whole-row record with every column
of its table."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import os
import sqlite3
import threading
from typing import Any

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.engine.interfaces import CacheStats
from sqlalchemy.exc import OperationalError

from miniflow import DAG
from miniflow.dagbag import ImportErrorInfo
from miniflow.db import engine as engine_module
from miniflow.db import records
from miniflow.db.engine import WRITE, make_engine
from miniflow.db.store import Store
from miniflow.db.tables import (
    DAG_T,
    DS_EVENT_T,
    ERR_T,
    HIST_T,
    JOB_T,
    LOG_T,
    POOL_T,
    RUN_T,
    SER_T,
    SLA_T,
    TI_T,
    USER_T,
    VAR_T,
    XCOM_T,
)
from miniflow.operators.empty import EmptyOperator
from miniflow.serialization import parsed_dag, task_rows
from miniflow.state import DagRunState, Override, TaskInstanceState
from miniflow.taskinstancekey import TaskInstanceKey

UTC = dt.timezone.utc
DAY = dt.datetime(2024, 1, 2, tzinfo=UTC)

WHOLE_ROWS = [
    (records.DagRecord, DAG_T), (records.SerializedDagRecord, SER_T), (records.RunRecord, RUN_T),
    (records.TIRecord, TI_T), (records.TryRecord, HIST_T), (records.XComRecord, XCOM_T),
    (records.ImportErrorRecord, ERR_T), (records.PoolRecord, POOL_T), (records.VariableRecord, VAR_T),
    (records.EventRecord, LOG_T), (records.UserRecord, USER_T), (records.JobRecord, JOB_T),
    (records.DatasetEventRecord, DS_EVENT_T), (records.SlaMissRecord, SLA_T),
]


@pytest.mark.parametrize(("record", "table"), WHOLE_ROWS, ids=lambda x: getattr(x, "__name__", ""))
def test_a_whole_row_record_has_every_column_of_its_table(record: type, table: Any) -> None:
    """A migration that adds a column must add it to the record, or nothing could read it."""
    assert [f.name for f in dataclasses.fields(record)] == [c.name for c in table.c]


def test_no_store_method_returns_sqlalchemy_rows() -> None:
    for name, method in inspect.getmembers(Store, inspect.isfunction):
        returns = str(inspect.get_annotations(method).get("return", ""))
        assert "Row[" not in returns and "Result" not in returns, f"Store.{name} returns {returns}"


def _assert_frozen(record: Any) -> None:
    assert dataclasses.is_dataclass(record) and type(record).__module__ == records.__name__, type(record)
    field = dataclasses.fields(record)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, field, None)


def test_reads_return_frozen_records(store: Store) -> None:
    with DAG("rec", start_date=DAY, schedule=None) as dag:
        EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
    store.sync_dags([parsed_dag(dag)], [ImportErrorInfo("/dags/bad.py", 3, "SyntaxError")], paused_by_default=False)
    run = store.create_run("rec", task_rows(dag), "r1", DAY, None, "manual", state=DagRunState.RUNNING)
    key = TaskInstanceKey("rec", "r1", "a")
    store.set_ti_states("rec", "r1", ["a"], TaskInstanceState.SCHEDULED, [None])
    queued = store.queue_within_limits(4, {"rec": 16}, {}, job_id=None, include_backfill=True)
    claimed = store.claim_ti(key)
    assert claimed is not None and claimed.key == key
    store.finish_ti(claimed, TaskInstanceState.SUCCESS, xcoms=[("return_value", "1")])
    store.set_ti_states("rec", "r1", ["b"], TaskInstanceState.SCHEDULED, [None])
    store.set_pool("p", 3)
    store.set_variable("v", "1")
    store.log_event("test", dag_id="rec")
    store.create_user("u", "hash", "Admin")
    store.register_job("scheduler", "host", 1)
    store.record_external_dataset_event("s3://b/k", {})
    store.add_sla_misses("rec", [("b", DAY)], DAY)

    found: list[Any] = [
        run, *queued, claimed, store.get_dag_row("rec"), *store.dag_rows(), store.serialized_dag("rec"),
        store.get_run("rec", "r1"), store.find_run("rec", DAY), *store.list_runs("rec"), *store.tis_of_run("rec", "r1"),
        *store.ti_states("rec", "r1"), store.get_ti(key), *store.mapped_tis("rec", "r1", "a"), *store.ti_history(key),
        *store.xcom_pull("rec", "r1", ["a"], None), *store.pools().values(), *store.variables(), *store.events(),
        *store.users(), store.get_user("u"), *store.live_jobs("scheduler", 60), *store.dataset_events(),
        *store.sla_misses(), *store.unreported_sla_misses("rec"), *store.unfinished_tis_at("rec", [DAY]),
        *store.recent_run_states(["rec"])["rec"], *store.run_dates("rec", 1), *store.grid_tis("rec", ["r1"]),
        *store.ti_browse()[0], *store.run_browse()[0], *store.dag_page()[0], *store.event_page()[0],
        *store.ti_rows_for_keys([key]).values(), *store.runs_to_examine(lambda _: True, DAY).runs,
        *store.latest_done_runs("rec", ["a"]).values(), *store.import_errors(), *store.import_error_page()[0],
        *store.runs_progress("rec", ["r1"]), *store.stored_dags(),
    ]
    assert {type(r) for r in found} == {getattr(records, name) for name in records.__all__}
    for record in found:
        _assert_frozen(record)


def test_runs_progress_counts_each_runs_finished_task_instances(store: Store) -> None:
    with DAG("prog", start_date=DAY, schedule=None) as dag:
        EmptyOperator(task_id="a") >> EmptyOperator(task_id="b") >> EmptyOperator(task_id="c")
    store.sync_dags([parsed_dag(dag)], paused_by_default=False)
    for run_id, day in (("r1", DAY), ("r2", DAY + dt.timedelta(days=1)), ("other", DAY + dt.timedelta(days=2))):
        store.create_run("prog", task_rows(dag), run_id, day, None, "backfill", state=DagRunState.RUNNING)
    store.set_ti_states("prog", "r1", ["a"], TaskInstanceState.SUCCESS, [None], override=Override.MARK)
    store.set_ti_states("prog", "r1", ["b"], TaskInstanceState.UPSTREAM_FAILED, [None])
    store.set_ti_states("prog", "r1", ["c"], TaskInstanceState.SCHEDULED, [None])
    store.set_ti_states("prog", "other", ["a"], TaskInstanceState.SUCCESS, [None], override=Override.MARK)

    found = sorted(store.runs_progress("prog", ["r1", "r2", "missing"]), key=lambda r: r.run_id)

    assert found == [records.RunProgress("r1", "running", DAY, 2),
                     records.RunProgress("r2", "running", DAY + dt.timedelta(days=1), 0)]
    assert store.runs_progress("prog", []) == []


# --- connections ---------------------------------------------------------------------------


def test_each_thread_keeps_one_connection_on_sqlite(store: Store) -> None:
    """A pool checkout per transaction costs as much as the transaction on SQLite;
    PostgreSQL checks one out per transaction, so the pool's pre-ping sees restarts."""
    with store.read() as first:
        assert first.get_execution_options()[WRITE] is False
    with store.write() as second:
        assert second.get_execution_options()[WRITE] is True
    kept: list[Any] = []
    thread = threading.Thread(target=lambda: kept.append(store._kept_connection()))
    thread.start()
    thread.join()
    if store.engine.dialect.name == "sqlite":
        assert first is second and kept[0] is not None and kept[0] is not first
    else:
        assert first is not second and kept == [None] and store.engine.pool.checkedout() == 0


def test_a_transaction_inside_another_gets_its_own_connection(store: Store) -> None:
    with store.write() as outer:
        outer.execute(insert(VAR_T).values(key="outer", val="1"))
        with store.read() as inner:
            assert inner is not outer
            assert inner.execute(select(VAR_T.c.key)).all() == []  # outer has not committed
    assert store.get_variable("outer") == "1"


def test_a_failed_transaction_leaves_the_kept_connection_usable(store: Store) -> None:
    with pytest.raises(RuntimeError), store.write() as conn:
        conn.execute(insert(VAR_T).values(key="lost", val="1"))
        raise RuntimeError("boom")
    assert store.get_variable("lost") is None
    store.set_variable("kept", "2")
    assert store.get_variable("kept") == "2"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_write_that_cannot_get_the_sqlite_lock_fails_as_a_database_error(db_url: str, store: Store) -> None:
    """BEGIN goes to the driver directly; its failure is still SQLAlchemy's
    OperationalError, which the scheduler takes for a passing database error."""
    impatient = Store(make_engine(db_url, sqlite_busy_timeout=0.05))
    holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="database is locked"), impatient.write():
            pass
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    impatient.set_variable("after", "1")
    assert store.get_variable("after") == "1"
    impatient.close()


def test_a_forked_child_opens_its_own_connection(store: Store) -> None:
    """SQLite forbids using a connection across fork(): the child's transactions open
    their own, and the parent's carries on."""
    store.set_variable("parent", "1")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            store.set_variable("child", "2")
            os._exit(0 if store.get_variable("parent") == "1" else 2)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.get_variable("child") == "2"
    store.set_variable("parent", "3")
    assert store.get_variable("parent") == "3"


# --- warm-up --------------------------------------------------------------------------------


def test_warm_up_compiles_what_a_try_writes_and_leaves_nothing_behind(db_url: str, store: Store,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The local executor's fork server warms a store up so that every forked try finds
    its statements compiled (an XCom or history insert compiled in each child costs ~1 ms),
    by SQLAlchemy or, on SQLite, for `run_built`."""
    with DAG("warm", start_date=DAY, schedule=None) as dag:
        EmptyOperator(task_id="a")
    store.sync_dags([parsed_dag(dag)], paused_by_default=False)
    store.create_run("warm", task_rows(dag), "r1", DAY, None, "manual", state=DagRunState.RUNNING)
    store.set_ti_states("warm", "r1", ["a"], TaskInstanceState.SCHEDULED, [None])
    assert store.queue_within_limits(4, {"warm": 16}, {}, job_id=None, include_backfill=True)

    fresh = Store(make_engine(db_url))  # its own, empty, cache of compiled statements
    monkeypatch.setattr(engine_module, "_COMPILED", {})
    fresh.warm_up()
    built = set(engine_module._COMPILED)
    compiled_again: list[str] = []
    event.listen(fresh.engine, "after_cursor_execute", lambda conn, cursor, statement, params, context, many:
                 compiled_again.append(statement) if context.cache_hit is CacheStats.CACHE_MISS else None)
    claimed = fresh.claim_ti(TaskInstanceKey("warm", "r1", "a"))
    assert claimed is not None
    assert fresh.finish_ti(claimed, TaskInstanceState.SUCCESS, xcoms=[("return_value", "1"), ("other", "2")])
    assert compiled_again == []
    assert set(engine_module._COMPILED) == built
    assert built or not db_url.startswith("sqlite")
    with store.read() as conn:
        assert conn.execute(select(RUN_T.c.run_id)).scalars().all() == ["r1"]
        assert conn.execute(select(XCOM_T.c.key).order_by(XCOM_T.c.key)).scalars().all() == ["other", "return_value"]
        assert conn.execute(select(HIST_T.c.try_number, HIST_T.c.state)).all() == [(1, "success")]
    fresh.engine.dispose()


def test_stored_dags_are_the_serialized_forms_of_the_active_dags(store: Store) -> None:
    """What a starting scheduler schedules until its first parse is over."""
    dags = []
    for name in ("kept", "gone"):
        with DAG(name, start_date=DAY, schedule="@daily") as dag:
            EmptyOperator(task_id="a")
        dag.fileloc = f"/dags/{name}.py"
        dags.append(parsed_dag(dag))
    store.sync_dags(dags, paused_by_default=False)
    store.sync_dags([], processed_files={"/dags/gone.py"})  # its file no longer defines it
    [stored] = store.stored_dags()
    assert (stored.dag_id, stored.data, stored.dag_hash) == ("kept", dags[0].data, dags[0].dag_hash)


def test_queueing_takes_the_oldest_run_first_and_passes_over_full_dags_and_pools(store: Store) -> None:
    """Highest priority first, then the oldest run; a DAG at its max_active_tasks, or a
    full pool, with more waiting instances than one read takes hides nobody's."""
    with DAG("busy", start_date=DAY, schedule=None) as busy:
        for i in range(70):
            EmptyOperator(task_id=f"t{i:02}", priority_weight=10)
    with DAG("pooled", start_date=DAY, schedule=None) as pooled:
        for i in range(70):
            EmptyOperator(task_id=f"p{i:02}", priority_weight=5, pool="narrow")
    with DAG("other", start_date=DAY, schedule=None) as other:
        EmptyOperator(task_id="low", priority_weight=1)
    store.sync_dags([parsed_dag(d) for d in (busy, pooled, other)], paused_by_default=False)
    store.set_pool("narrow", 1)
    for dag in (busy, pooled, other):
        for run_id, when in (("newer", DAY + dt.timedelta(days=1)), ("older", DAY)):
            store.create_run(dag.dag_id, task_rows(dag), run_id, when, None, "manual", state=DagRunState.RUNNING)
            store.set_ti_states(dag.dag_id, run_id, [t.task_id for t in dag.tasks], TaskInstanceState.SCHEDULED, [None])
    limits = {"busy": 1, "pooled": 16, "other": 16}
    first = store.queue_within_limits(3, limits, {}, job_id=None)
    assert [(t.dag_id, t.run_id, t.task_id) for t in first] == [
        ("busy", "older", "t00"), ("pooled", "older", "p00"), ("other", "older", "low")]
    # busy is at its limit and narrow is full: one read of 64 would find only their instances
    second = store.queue_within_limits(1, limits, {}, job_id=None)
    assert [(t.dag_id, t.run_id, t.task_id) for t in second] == [("other", "newer", "low")]


def test_queueing_passes_over_tasks_at_their_own_limits(store: Store) -> None:
    """A task at its max_active_tis_per_dag, or at its max_active_tis_per_dagrun within
    a run, with more waiting instances than one read takes, hides no other task's (nor,
    for the per-run limit, its own instances in other runs)."""
    with DAG("hog", start_date=DAY, schedule=None) as hog:
        EmptyOperator(task_id="h", priority_weight=10)
        EmptyOperator(task_id="w", priority_weight=5)
        EmptyOperator(task_id="low", priority_weight=1)
    store.sync_dags([parsed_dag(hog)], paused_by_default=False)
    w_row = next({k: v for k, v in row.items() if k != "task_id"} for row in task_rows(hog) if row["task_id"] == "w")
    for n in range(70):  # 70 runs with h scheduled; w and low only where set below
        run_id = f"r{n:02}"
        store.create_run("hog", task_rows(hog), run_id, DAY + dt.timedelta(days=n), None, "manual",
                         state=DagRunState.RUNNING)
        store.set_ti_states("hog", run_id, ["h"], TaskInstanceState.SCHEDULED, [None])
    store.expand_ti("hog", "r00", "w", 70, w_row)  # w: 70 mapped instances in the first run
    store.set_ti_states("hog", "r01", ["w"], TaskInstanceState.SCHEDULED, [None])
    store.set_ti_states("hog", "r00", ["low"], TaskInstanceState.SCHEDULED, [None])
    queued = store.queue_within_limits(8, {"hog": 100}, {("hog", "h"): 1}, job_id=None,
                                       run_task_limits={("hog", "w"): 2})
    assert sorted((t.run_id, t.task_id, t.map_index) for t in queued) == [
        ("r00", "h", -1), ("r00", "low", -1), ("r00", "w", 0), ("r00", "w", 1), ("r01", "w", -1)]
