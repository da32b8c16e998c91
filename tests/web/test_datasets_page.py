"""The Datasets page: producers, consumers, the graph through datasets, recent events;
behind the login, with what events carry escaped."""

from __future__ import annotations

import datetime as dt
from typing import Any

from conftest import XSS, XSS_SCRIPT, WebSite

from miniflow import DAG
from miniflow.datasets import Dataset
from miniflow.operators.empty import EmptyOperator
from miniflow.serialization import parsed_dag

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def test_datasets_page_shows_producers_consumers_and_events(web_site: WebSite) -> None:
    orders = Dataset("s3://lake/orders")
    with DAG("ds_producer", start_date=START, schedule=None) as producer:
        EmptyOperator(task_id="load", outlets=[orders])
    consumer = DAG("ds_consumer", start_date=START, schedule=[orders])
    EmptyOperator(task_id="report", dag=consumer)
    web_site.store.sync_dags([parsed_dag(producer), parsed_dag(consumer)])
    web_site.store.record_external_dataset_event(orders.uri, {"note": XSS})

    assert web_site.app.test_client().get("/datasets").status_code == 302  # login first
    html = web_site.client("viewer").get("/datasets").get_data(as_text=True)
    assert "s3://lake/orders" in html
    assert 'href="/dags/ds_producer"' in html and 'href="/dags/ds_consumer"' in html
    assert "aria-label=\"DAG dependencies through datasets\"" in html
    assert XSS_SCRIPT not in html and "&lt;script&gt;" in html.replace("\\u003c", "&lt;").replace("\\u003e", "&gt;")
    dag_list: Any = web_site.client("viewer").get("/?q=ds_consumer").get_data(as_text=True)
    assert "on dataset updates" in dag_list


def test_a_dags_dataset_dependencies_and_queued_updates_in_the_api(web_site: WebSite) -> None:
    orders, customers = Dataset("s3://lake/orders"), Dataset("s3://lake/customers")
    with DAG("api_producer", start_date=START, schedule=None) as producer:
        EmptyOperator(task_id="load", outlets=[orders])
    consumer = DAG("api_consumer", start_date=START, schedule=[orders, customers], is_paused_upon_creation=False)
    EmptyOperator(task_id="report", dag=consumer)
    web_site.store.sync_dags([parsed_dag(producer), parsed_dag(consumer)])
    client = web_site.app.test_client()
    created = client.post("/api/v1/datasets/events", json={"dataset_uri": orders.uri, "extra": {"n": 1}},
                          headers=web_site.auth())
    assert created.status_code == 200 and created.get_json()["dataset_uri"] == orders.uri
    assert client.post("/api/v1/datasets/events", json={"dataset_uri": orders.uri},
                       headers=web_site.auth("viewer")).status_code == 403
    deps = client.get("/api/v1/dags/api_consumer/datasets", headers=web_site.auth()).get_json()
    assert deps["consumes"] == [customers.uri, orders.uri] and deps["produces"] == []
    assert [e["uri"] for e in deps["queued_events"]] == [orders.uri]  # waiting for customers too
    produced = client.get("/api/v1/dags/api_producer/datasets", headers=web_site.auth()).get_json()
    assert produced["produces"] == [orders.uri]
