"""Datasets (`miniflow.datasets`): producers' successful tries record events, and the
scheduler -- built here in-process with the sequential executor -- creates the
consumers' runs as Airflow 2.10 does, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import InProcessScheduler

from miniflow import DAG
from miniflow.datasets import (
    Asset,
    Dataset,
    DatasetAlias,
    DatasetOrTimeSchedule,
    DatasetTriggeredTimetable,
)
from miniflow.exceptions import DagDefinitionError
from miniflow.operators.python import PythonOperator
from miniflow.timetables import CronTimetable

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)
A, B, C = Dataset("s3://lake/a"), Dataset("s3://lake/b"), Dataset("postgres://db/c")
SEEN: dict[str, list[Any]] = {}  # what consumer tasks saw, by DAG id


def producer(dag_id: str, outlets: list[Any], extra: dict[str, Any] | None = None,
             alias_adds: list[Dataset] | None = None) -> DAG:
    def update(outlet_events: Any) -> None:
        for outlet in outlets:
            if isinstance(outlet, Dataset) and extra:
                outlet_events[outlet].extra = extra
            if isinstance(outlet, DatasetAlias):
                for ds in alias_adds or []:
                    outlet_events[outlet].add(ds, extra={"via": outlet.name})

    with DAG(dag_id, start_date=START, schedule=None) as dag:
        PythonOperator(task_id="update", python_callable=update, outlets=outlets)
    return dag


def consumer(dag_id: str, schedule: Any) -> DAG:
    def read(triggering_dataset_events: Any, inlet_events: Any) -> None:
        SEEN.setdefault(dag_id, []).append(
            {uri: [e.extra for e in events] for uri, events in triggering_dataset_events.items()})

    with DAG(dag_id, start_date=START, schedule=schedule) as dag:
        PythonOperator(task_id="read", python_callable=read)
    return dag


class World(InProcessScheduler):
    def produce(self, dag_id: str) -> None:
        """A manual run of `dag_id`, and passes until it is done."""
        from miniflow.triggering import trigger_dag_run

        trigger_dag_run(self.store, dag_id)
        self.passes()

    def runs(self, dag_id: str) -> list[Any]:
        return self.store.list_runs(dag_id)


@pytest.fixture(autouse=True)
def _forget() -> None:
    SEEN.clear()


def test_schedule_on_several_datasets_waits_for_all_and_takes_every_event(store: Any) -> None:
    world = World(store, producer("make_a", [A], {"rows": 1}), producer("make_b", [B]),
                  consumer("needs_both", [A, B]))
    world.produce("make_a")
    world.produce("make_a")  # two updates of a before b: one run gets both
    assert world.runs("needs_both") == []
    world.produce("make_b")
    [run] = world.runs("needs_both")
    assert run.run_type == "dataset_triggered" and run.state == "success"
    assert SEEN["needs_both"] == [{A.uri: [{"rows": 1}, {"rows": 1}], B.uri: [{}]}]
    world.passes()
    assert len(world.runs("needs_both")) == 1  # the queue was emptied
    assert store.dataset_queue() == {}


def test_one_dataset_given_as_outlets_is_a_list_of_one(store: Any) -> None:
    """As in Airflow, inlets/outlets that are not a list become a list of one."""
    with DAG("make_one", start_date=START, schedule=None) as dag:
        update = PythonOperator(task_id="update", python_callable=lambda: None, outlets=A, inlets=B)
    assert (update.outlets, update.inlets) == ([A], [B])
    world = World(store, dag, consumer("needs_a", A))
    world.produce("make_one")
    assert [r.state for r in world.runs("needs_a")] == ["success"]


def test_any_and_nested_conditions(store: Any) -> None:
    world = World(store, producer("make_a", [A]), producer("make_b", [B]), producer("make_c", [C]),
                  consumer("either", A | B), consumer("mixed", A & (B | C)))
    world.produce("make_b")
    assert len(world.runs("either")) == 1 and world.runs("mixed") == []
    world.produce("make_c")
    assert world.runs("mixed") == []  # c satisfies (b | c), a is still missing
    world.produce("make_a")
    assert len(world.runs("either")) == 2
    assert len(world.runs("mixed")) == 1
    assert SEEN["mixed"] == [{B.uri: [{}], C.uri: [{}], A.uri: [{}]}]


def test_a_paused_consumer_queues_nothing(store: Any) -> None:
    world = World(store, producer("make_a", [A]), consumer("paused_one", [A]))
    store.set_paused("paused_one", True)
    world.produce("make_a")
    store.set_paused("paused_one", False)
    world.passes()
    assert world.runs("paused_one") == []


def test_an_alias_names_datasets_at_run_time(store: Any) -> None:
    alias = DatasetAlias("daily-export")
    world = World(store, producer("exporter", [alias], alias_adds=[C]),
                  consumer("on_alias", [alias]), consumer("on_c", [C]))
    world.produce("exporter")
    assert [r.state for r in world.runs("on_alias")] == ["success"]
    assert [r.state for r in world.runs("on_c")] == ["success"]
    assert SEEN["on_c"] == [{C.uri: [{"via": "daily-export"}]}]
    assert store.alias_uris() == {"daily-export": [C.uri]}


def test_an_event_from_outside_triggers_like_a_task(store: Any) -> None:
    world = World(store, consumer("external", [Asset("s3://lake/a")]))
    store.record_external_dataset_event(A.uri, {"source": "api"})
    world.passes()
    assert SEEN["external"] == [{A.uri: [{"source": "api"}]}]


def test_dataset_or_time_schedule_runs_on_updates_too(store: Any) -> None:
    schedule = DatasetOrTimeSchedule(timetable=CronTimetable("0 0 1 1 *", UTC), datasets=[A])
    world = World(store, producer("make_a", [A]), consumer("either_way", schedule))
    assert world.dags["either_way"].timetable.summary == "0 0 1 1 * or on dataset updates"
    world.produce("make_a")
    types = sorted(r.run_type for r in world.runs("either_way"))
    assert "dataset_triggered" in types


def test_inlet_events_read_past_updates(store: Any) -> None:
    seen: list[list[dict[str, Any]]] = []

    def look(inlet_events: Any) -> None:
        seen.append([e.extra for e in inlet_events[A]])

    with DAG("looker", start_date=START, schedule=None) as looker:
        PythonOperator(task_id="look", python_callable=look)
    world = World(store, producer("make_a", [A], {"n": 7}), looker)
    world.produce("make_a")
    world.produce("looker")
    assert seen == [[{"n": 7}]]


def test_a_task_that_yields_metadata_sets_its_events_extra(store: Any) -> None:
    from miniflow import task
    from miniflow.datasets import Metadata

    with DAG("yielder", start_date=START, schedule=None) as dag:
        @task(outlets=[A])
        def load() -> Any:
            yield Metadata(A, {"rows": 42})
            return "loaded"

        load()
    world = World(store, dag, consumer("after_yield", [A]))
    world.produce("yielder")
    assert SEEN["after_yield"] == [{A.uri: [{"rows": 42}]}]
    run_id = store.list_runs("yielder")[0].run_id
    [row] = store.xcom_pull("yielder", run_id, ["load"], "return_value", None)
    assert row.value == '"loaded"'


def test_schedules_and_uris_are_checked_when_the_file_loads() -> None:
    dag = DAG("ds", start_date=START, schedule=[A, B])
    assert isinstance(dag.timetable, DatasetTriggeredTimetable) and dag.timetable.summary == "Dataset"
    with pytest.raises(DagDefinitionError, match="white space"):
        Dataset("s3://has space")
    with pytest.raises(DagDefinitionError, match="reserved scheme"):
        Dataset("airflow://x")
