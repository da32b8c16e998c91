"""The store's reads (`miniflow.db.store`, `miniflow.db.records`): typed, frozen records
on SQLite and PostgreSQL, never SQLAlchemy rows, each whole-row record with every column
of its table."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
from typing import Any

import pytest

from miniflow import DAG
from miniflow.dagbag import ImportErrorInfo
from miniflow.db import records
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
from miniflow.state import DagRunState, TaskInstanceState
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
    ]
    assert {type(r) for r in found} == {getattr(records, name) for name in records.__all__}
    for record in found:
        _assert_frozen(record)
