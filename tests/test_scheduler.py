"""The scheduler's steps, in-process with the sequential executor (no subprocesses):
pools, priorities, limits, depends_on_past, retries, catchup, zombies, orphans and DAG
files that change under a run -- each checked on SQLite and PostgreSQL in about a second."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import InProcessScheduler
from sqlalchemy import update

from miniflow import DAG
from miniflow.db.tables import TI_T
from miniflow.operators.bash import BashOperator
from miniflow.operators.empty import EmptyOperator
from miniflow.operators.python import PythonOperator
from miniflow.serialization import task_rows
from miniflow.state import DagRunState
from miniflow.state import TaskInstanceState as TIS
from miniflow.taskinstancekey import TaskInstanceKey
from miniflow.triggering import trigger_dag_run

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)
DAY = dt.datetime(2024, 1, 2, tzinfo=UTC)
RAN: list[str] = []


@pytest.fixture(autouse=True)
def _forget() -> None:
    RAN.clear()


def record(ti: Any) -> None:
    RAN.append(ti.task_id)


class Steps(InProcessScheduler):
    def states(self, dag_id: str, when: dt.datetime = DAY) -> dict[str, Any]:
        return super().states(dag_id, when)


def manual(store: Any, dag_id: str, when: dt.datetime = DAY) -> None:
    trigger_dag_run(store, dag_id, logical_date=when)


def test_a_pool_of_one_slot_runs_its_tasks_one_per_pass_highest_priority_first(store: Any) -> None:
    store.set_pool("one", 1)
    with DAG("pooled", start_date=START, schedule=None) as dag:
        for name, weight in (("low", 1), ("high", 5), ("mid", 3)):
            PythonOperator(task_id=name, python_callable=record, pool="one", priority_weight=weight)
    steps = Steps(store, dag)
    manual(store, "pooled")
    counts = steps.until_quiet()
    assert max(counts) == 1
    assert RAN == ["high", "mid", "low"]


def test_max_active_tasks_bounds_each_pass(store: Any) -> None:
    with DAG("limited", start_date=START, schedule=None, max_active_tasks=2) as dag:
        for n in range(5):
            EmptyOperator(task_id=f"t{n}")
    steps = Steps(store, dag)
    manual(store, "limited")
    counts = steps.until_quiet()
    assert max(counts) == 2 and sum(counts) == 5
    assert set(steps.states("limited").values()) == {"success"}


def test_max_active_tis_per_dagrun_bounds_a_mapped_task_within_each_run_not_across_runs(store: Any) -> None:
    with DAG("per_run", start_date=START, schedule=None) as dag:
        PythonOperator.partial(task_id="m", python_callable=RAN.append, max_active_tis_per_dagrun=2).expand(
            op_args=[[n] for n in range(5)])
    steps = Steps(store, dag)
    manual(store, "per_run")
    manual(store, "per_run", DAY + dt.timedelta(days=1))
    counts = steps.until_quiet()
    assert max(counts) == 4 and sum(counts) == 10  # two at a time in each of the two runs
    assert set(steps.states("per_run").values()) == {"success"} and sorted(RAN) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_a_continuous_dag_starts_its_next_run_when_the_last_one_ends(store: Any) -> None:
    with DAG("nonstop", start_date=START, schedule="@continuous", max_active_runs=1) as dag:
        PythonOperator(task_id="t", python_callable=record)
    store.set_paused("nonstop", False)
    steps = Steps(store, dag)
    for _ in range(8):
        steps.one_pass()
    runs = store.list_runs("nonstop", newest_first=False)
    assert len(runs) >= 3 and RAN.count("t") >= len(runs) - 1
    assert sum(r.state == "running" for r in runs) <= 1  # one at a time
    assert runs[0].data_interval_start == START
    for earlier, later in zip(runs, runs[1:]):  # each picks up where the last one ended
        assert later.data_interval_start == earlier.data_interval_end
        assert earlier.state == "success"


def test_max_active_runs_keeps_further_runs_queued(store: Any) -> None:
    with DAG("one_run", start_date=START, schedule=None, max_active_runs=1) as dag:
        EmptyOperator(task_id="t")
    steps = Steps(store, dag)
    for n in range(3):
        manual(store, "one_run", DAY + dt.timedelta(days=n))
    steps.scheduler.start_queued_runs()
    assert sorted(r.state for r in store.list_runs("one_run")) == ["queued", "queued", "running"]
    steps.until_quiet()
    assert [r.state for r in store.list_runs("one_run")] == ["success"] * 3


def test_depends_on_past_waits_for_the_previous_run(store: Any) -> None:
    fail = {"now": True}

    def flaky() -> None:
        if fail["now"]:
            raise RuntimeError("the first day fails")

    with DAG("past", start_date=START, schedule="@daily", catchup=False) as dag:
        PythonOperator(task_id="t", python_callable=flaky, depends_on_past=True)
    steps = Steps(store, dag)
    manual(store, "past", DAY)
    steps.until_quiet()
    manual(store, "past", DAY + dt.timedelta(days=1))
    steps.until_quiet()
    assert steps.states("past") == {"t": "failed"}
    assert steps.states("past", DAY + dt.timedelta(days=1)) == {"t": None}  # waits on the failed day
    fail["now"] = False
    steps.store.clear_tis([("past", store.find_run("past", DAY).run_id, "t", 0)])
    steps.until_quiet()
    assert steps.states("past", DAY + dt.timedelta(days=1)) == {"t": "success"}


def test_a_failed_try_is_retried_after_its_delay(store: Any) -> None:
    tries: list[int] = []

    def once_bad(ti: Any) -> None:
        tries.append(ti.try_number)
        if ti.try_number == 1:
            raise RuntimeError("first try fails")

    with DAG("retrying", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="t", python_callable=once_bad, retries=2, retry_delay=0)
    steps = Steps(store, dag)
    manual(store, "retrying")
    steps.until_quiet()
    assert tries == [1, 2] and steps.states("retrying") == {"t": "success"}


def test_catchup_creates_every_missed_interval_and_a_manual_run_does_not_stall_it(store: Any) -> None:
    start = (dt.datetime.now(UTC) - dt.timedelta(days=4)).replace(hour=0, minute=0, second=0, microsecond=0)
    with DAG("caught_up", start_date=start, schedule="@daily", catchup=True) as on:
        EmptyOperator(task_id="t")
    with DAG("latest_only_run", start_date=start, schedule="@daily", catchup=False) as off:
        EmptyOperator(task_id="t")
    steps = Steps(store, on, off)
    manual(store, "caught_up", start + dt.timedelta(days=1))  # a date the catch-up has not reached
    steps.until_quiet()
    dates = sorted(r.logical_date for r in store.list_runs("caught_up"))
    assert dates == [start + dt.timedelta(days=n) for n in range(4)]
    assert len(store.list_runs("latest_only_run")) == 1


def test_zombies_and_orphans_are_recovered(store: Any) -> None:
    with DAG("lost", start_date=START, schedule=None) as dag:
        EmptyOperator(task_id="zombie", retries=1, retry_delay=0)
        EmptyOperator(task_id="orphan")
    steps = Steps(store, dag)
    store.create_run("lost", task_rows(dag), "r", DAY, None, "manual", state=DagRunState.RUNNING)
    store.set_ti_states("lost", "r", ["zombie"], "queued", [None])
    store.claim_ti(TaskInstanceKey("lost", "r", "zombie"))
    store.set_ti_states("lost", "r", ["orphan"], "queued", [None], queued_by="999999")
    with store.write() as conn:  # the try's process died a minute ago
        conn.execute(update(TI_T).where(TI_T.c.task_id == "zombie").values(
            heartbeat=dt.datetime.now(UTC) - dt.timedelta(minutes=1)))
    steps.scheduler.zombie_threshold = 5
    steps.scheduler.fail_zombies()
    steps.scheduler.adopt_or_reset_orphans()
    assert {t.task_id: t.state for t in store.tis_of_run("lost", "r")} == {"zombie": "up_for_retry",
                                                                          "orphan": "scheduled"}
    steps.until_quiet()
    assert {t.task_id: t.state for t in store.tis_of_run("lost", "r")} == {"zombie": "success", "orphan": "success"}


def test_a_dag_file_that_changes_mid_run_adds_and_retires_task_instances(store: Any) -> None:
    with DAG("changing", start_date=START, schedule=None) as old:
        EmptyOperator(task_id="first") >> EmptyOperator(task_id="dropped")
    steps = Steps(store, old)
    store.create_run("changing", task_rows(old), "r", DAY, None, "manual", state=DagRunState.RUNNING)
    with DAG("changing", start_date=START, schedule=None) as new:
        EmptyOperator(task_id="first") >> EmptyOperator(task_id="added")
    steps.scheduler.dags = {"changing": new}
    steps.until_quiet()
    assert {t.task_id: t.state for t in store.tis_of_run("changing", "r")} == {
        "first": "success", "dropped": "removed", "added": "success"}


def test_a_task_its_branch_said_to_skip_is_skipped_again_when_cleared_alone(store: Any) -> None:
    """Airflow's NotPreviouslySkippedDep, decided from the stored DAG as the scheduler
    has it: a finished branch's skipmixin_key XCom keeps what it did not follow skipped."""
    from miniflow.clearing import clear_in_run
    from miniflow.operators.python import BranchPythonOperator, ShortCircuitOperator
    from miniflow.serialization import serialize_dag
    from miniflow.serialized_dag import deserialize_dag

    with DAG("branchy", start_date=START, schedule=None) as dag:
        branch = BranchPythonOperator(task_id="branch", python_callable=lambda ti: record(ti) or "chosen")
        gate = ShortCircuitOperator(task_id="gate", python_callable=lambda: False)
        branch >> [PythonOperator(task_id="chosen", python_callable=record),
                   PythonOperator(task_id="other", python_callable=record)]
        gate >> PythonOperator(task_id="gated", python_callable=record)
    steps = Steps(store, dag)
    steps.scheduler.dags = {"branchy": deserialize_dag(serialize_dag(dag), 30.0)}
    manual(store, "branchy")
    steps.until_quiet()
    done = {"branch": "success", "chosen": "success", "other": "skipped", "gate": "success", "gated": "skipped"}
    assert steps.states("branchy") == done
    clear_in_run(store, "branchy", store.find_run("branchy", DAY).run_id, ["chosen", "other", "gated"])
    RAN.clear()
    steps.until_quiet()
    assert steps.states("branchy") == done
    assert RAN == ["chosen"]
    clear_in_run(store, "branchy", store.find_run("branchy", DAY).run_id, ["branch", "other"])
    RAN.clear()
    steps.until_quiet()  # the branch runs again and says anew what to skip
    assert steps.states("branchy") == done
    assert RAN == ["branch"]


def test_a_change_made_by_another_process_between_passes_is_seen(store: Any, db_url: str) -> None:
    """The scheduler reads only the task instances changed since its last pass; what
    another process (the UI, here a second connection) marks is among them."""
    from miniflow.db.store import Store

    with DAG("marked", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="stuck", python_callable=lambda: None, pool="no_such_pool") >> EmptyOperator(
            task_id="after")
    steps = Steps(store, dag)
    manual(store, "marked")
    steps.until_quiet()
    assert steps.states("marked") == {"stuck": "scheduled", "after": None}  # its pool does not exist
    Store.from_url(db_url).mark_tis("marked", store.list_runs("marked")[0].run_id, ["stuck"], "success")
    steps.until_quiet()
    assert steps.states("marked") == {"stuck": "success", "after": "success"}
    assert [r.state for r in store.list_runs("marked")] == ["success"]


def test_a_housekeeping_job_that_loses_the_database_logs_one_line_and_other_errors_keep_their_traceback(caplog) -> None:
    from sqlalchemy.exc import OperationalError

    from miniflow.scheduler import _quietly

    def heartbeat() -> None:
        raise OperationalError("UPDATE job SET ...", {}, ConnectionRefusedError("connection refused\nis it running?"))

    _quietly(heartbeat)()
    [record] = caplog.records
    assert record.levelname == "WARNING" and record.exc_info is None
    assert "heartbeat failed (OperationalError:" in record.getMessage() and "\n" not in record.getMessage()

    def broken() -> None:
        raise KeyError("a bug, not the database")

    with pytest.raises(KeyError):
        _quietly(broken)()


KEPT_DAG = """
import datetime
import time
from miniflow import DAG
from miniflow.operators.empty import EmptyOperator
time.sleep(__SLEEP__)
with DAG("__ID__", schedule="@daily", start_date=datetime.datetime(2024, 1, 1)):
    for task_id in __TASKS__:
        EmptyOperator(task_id=task_id)
"""


def kept_dag(dag_id: str, tasks: list[str], sleep: float = 0) -> str:
    return KEPT_DAG.replace("__ID__", dag_id).replace("__TASKS__", repr(tasks)).replace("__SLEEP__", repr(sleep))


def test_a_start_that_outlasts_its_wait_schedules_the_stored_dags_until_their_files_come_back(
        store: Any, write_dag: Any, dags_folder: Any, caplog: Any) -> None:
    from miniflow.dagbag import DagBag
    from miniflow.executors.sequential import SequentialExecutor
    from miniflow.scheduler import Scheduler
    from miniflow.serialized_dag import SerializedDAG

    write_dag("kept.py", kept_dag("kept", ["t"]))
    write_dag("stale.py", kept_dag("stale", ["t"]))
    store.sync_dags(list(DagBag(dags_folder, include_examples=False, serialized=True).parsed.values()))
    write_dag("kept.py", kept_dag("kept", ["t", "u"], sleep=2))  # changed, and slow to import now
    write_dag(".miniflowignore", "stale")  # no longer parsed, though still there
    scheduler = Scheduler(store, SequentialExecutor(), dag_folder=str(dags_folder), include_examples=False)
    scheduler.first_parse_wait = 0.3
    scheduler.load_all_dags()
    assert "still being parsed" in caplog.text
    assert set(scheduler.dags) == {"kept", "stale"} and set(scheduler.dags["kept"].task_dict) == {"t"}
    assert isinstance(scheduler.dags["kept"], SerializedDAG)
    assert scheduler.processor is not None and scheduler.processor._first is not None
    scheduler.processor._first.join(30)
    scheduler.refresh_dags()
    assert set(scheduler.dags) == {"kept"}  # the file the parse did not visit no longer counts
    assert set(scheduler.dags["kept"].task_dict) == {"t", "u"}


def test_without_isolation_dag_files_load_in_the_loops_own_thread(
        store: Any, write_dag: Any, dags_folder: Any, monkeypatch: Any) -> None:
    """core.isolate_dag_parsing = false imports DAG files in the scheduler's process,
    so there in the loop's thread: the import timeout's alarm works only there."""
    from miniflow.config import reset_config
    from miniflow.executors.sequential import SequentialExecutor
    from miniflow.scheduler import Scheduler

    monkeypatch.setenv("MINIFLOW__CORE__ISOLATE_DAG_PARSING", "false")
    reset_config()
    write_dag("kept.py", kept_dag("kept", ["t"]))
    scheduler = Scheduler(store, SequentialExecutor(), dag_folder=str(dags_folder), include_examples=False)
    scheduler.load_all_dags()
    assert scheduler.processor is not None and scheduler.processor._first is None  # no thread of its own
    assert set(scheduler.dags) == {"kept"}
    write_dag("later.py", kept_dag("later", ["t"]))
    scheduler.rescan_dags()  # the housekeeping timer's job: it leaves the parse to the loop
    assert set(scheduler.dags) == {"kept"} and "later" not in {d.dag_id for d in store.dag_rows()}
    scheduler.refresh_dags()  # the loop's step 1
    assert set(scheduler.dags) == {"kept", "later"}
    reset_config()


@pytest.mark.parametrize("ready_state", [TIS.SCHEDULED, TIS.QUEUED])
def test_a_pass_names_the_task_instances_it_made_ready_mapped_instances_too(store: Any, ready_state: TIS) -> None:
    """What `schedule_runs` moved to its ready state -- scheduled for the scheduler,
    queued for ``dags test``, which runs exactly these -- is in `Scheduler.ready`."""
    with DAG("ready", start_date=START, schedule=None) as dag:
        first = EmptyOperator(task_id="first")
        BashOperator.partial(task_id="mapped").expand(bash_command=["true", "true"])
        first >> EmptyOperator(task_id="later")
    steps = Steps(store, dag)
    manual(store, "ready")
    steps.scheduler.start_queued_runs()
    steps.scheduler.schedule_runs(ready_state=ready_state)
    run_id = store.find_run("ready", DAY).run_id
    assert sorted(steps.scheduler.ready) == [TaskInstanceKey("ready", run_id, "first", -1),
                                             TaskInstanceKey("ready", run_id, "mapped", 0),
                                             TaskInstanceKey("ready", run_id, "mapped", 1)]
    assert {(t.task_id, t.map_index): t.state for t in store.tis_of_run("ready", run_id)} == {
        ("first", -1): ready_state, ("mapped", 0): ready_state, ("mapped", 1): ready_state, ("later", -1): None}
    steps.scheduler.schedule_runs(ready_state=ready_state)
    assert steps.scheduler.ready == []  # nothing new was decided
