"""miniflow.macros: the ``macros`` names templates use, as Airflow exposes them."""

from __future__ import annotations

import datetime as dt

from miniflow import DAG
from miniflow.dag_test import run_dag_test
from miniflow.operators.python import PythonOperator

UTC = dt.timezone.utc


def test_macros_datetime_is_the_class_and_random_the_function(store) -> None:
    got: dict[str, str] = {}
    templates = {
        "now": "{{ macros.datetime.now().year }}",
        "parsed": "{{ macros.datetime.strptime(ds, '%Y-%m-%d').strftime('%d/%m') }}",
        "random": "{{ 0 <= macros.random() < 1 }}",
        "delta": "{{ (logical_date + macros.timedelta(days=1)).day }}",
        "ds_add": "{{ macros.ds_add(ds, -1) }}",
        "uuid": "{{ macros.uuid.uuid4() | string | length }}",
        "json": "{{ macros.json.dumps({'a': 1}) }}",
        "parse": "{{ macros.dateutil.parser.parse('2024-03-04').month }}",
    }
    with DAG("macros_dag", start_date=dt.datetime(2024, 1, 1, tzinfo=UTC), schedule=None) as dag:
        PythonOperator(task_id="show", python_callable=lambda templates_dict: got.update(templates_dict),
                       templates_dict=templates)
    result = run_dag_test(dag, dt.datetime(2024, 1, 2, tzinfo=UTC), store=store)
    assert result.state == "success"
    assert got == {
        "now": str(dt.datetime.now().year), "parsed": "02/01", "random": "True", "delta": "3",
        "ds_add": "2024-01-01", "uuid": "36", "json": '{"a": 1}', "parse": "3",
    }
