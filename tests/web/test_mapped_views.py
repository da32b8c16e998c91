"""What the UI shows of mapped tasks, task groups and edge labels: a mapped task is one
grid cell per run with its count and per-state summary, opening the list of its
instances; the graph draws arrows, edge labels and task-group boxes."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from werkzeug.security import generate_password_hash

from miniflow import DAG, task
from miniflow.dag_test import run_dag_test
from miniflow.edge_label import Label
from miniflow.operators.empty import EmptyOperator
from miniflow.task_group import TaskGroup

DAY = dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)


def login(app: Any) -> Any:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "admin", "password": "password", "csrf_token": token})
    return client


def test_mapped_cells_groups_and_labels(store: Any) -> None:
    from miniflow.web import create_app

    with DAG("shapes", start_date=DAY, schedule=None) as dag:
        @task
        def fail_on_two(x: int) -> int:
            if x == 2:
                raise ValueError("two")
            return x

        check = EmptyOperator(task_id="check")
        with TaskGroup("section"):
            inner = EmptyOperator(task_id="inner")
        mapped = fail_on_two.expand(x=[1, 2, 3])
        check >> Label("all good") >> inner
        check >> mapped
    run_dag_test(dag, DAY, store=store)
    store.create_user("admin", generate_password_hash("password", "pbkdf2:sha256:1"), "Admin")
    client = login(create_app(store, testing=True))
    run_id = store.find_run("shapes", DAY).run_id

    grid = client.get("/dags/shapes").get_data(as_text=True)
    mapped_row = re.search(r'<tr data-row="fail_on_two" class="mapped">(.*?)</tr>', grid, re.S).group(1)
    assert re.search(r'<td class="state-failed" data-d="[\d.]+" data-s="1 failed, 2 success">3(<td|$)', mapped_row)
    group_row = re.search(r'<tr data-row="section" class="group">(.*?)</tr>', grid, re.S).group(1)
    assert 'data-group="section">section</button>' in group_row and '<td class="state-success"' in group_row
    assert '<tr data-row="section.inner" class="task" data-groups="section">' in grid
    polled = client.get("/dags/shapes/grid.json").get_json()
    assert polled["runs"] == [[run_id, "failed"]]
    assert polled["rows"]["fail_on_two"] == [["failed", polled["rows"]["fail_on_two"][0][1], 3, "1 failed, 2 success"]]
    assert polled["rows"]["section"] == [["success", polled["rows"]["section"][0][1], 1, "1 success"]]
    assert polled["rows"]["check"][0][:3] == ["success", polled["rows"]["check"][0][1], None]
    listing = client.get(f"/dags/shapes/runs/{run_id}/tasks/fail_on_two").get_data(as_text=True)
    assert "3 mapped instances" in listing and "map_index=2" in listing
    one = client.get(f"/dags/shapes/runs/{run_id}/tasks/fail_on_two?map_index=1")
    assert one.status_code == 200 and "two" in one.get_data(as_text=True)

    graph = client.get("/dags/shapes?tab=graph").get_data(as_text=True)
    assert 'marker-end="url(#arrow)"' in graph
    assert '<text class="edge-label"' in graph and "all good" in graph
    assert '<rect class="group"' in graph and ">▾ section</text>" in graph
    assert "fold=section" in graph  # the group's name folds it

    folded = client.get("/dags/shapes?tab=graph&fold=section").get_data(as_text=True)
    assert '<rect class="group"' not in folded and "section.inner" not in folded
    assert re.search(r'<rect class="node state-success folded"', folded) and "▸ section</text>" in folded
    assert "group of 1" in folded


def test_doc_md_is_rendered_as_markdown_with_html_escaped(store: Any) -> None:
    from miniflow.web import create_app

    doc = ("# Orders\n\nLoads **orders** daily. <script>alert(1)</script> [bad](javascript:alert(1))\n\n"
           "| a | b |\n|---|---|\n| 1 | 2 |")
    with DAG("documented", start_date=DAY, schedule=None, doc_md=doc) as dag:
        EmptyOperator(task_id="step", doc_md="Runs *first*.")
    run_dag_test(dag, DAY, store=store)
    store.create_user("admin", generate_password_hash("password", "pbkdf2:sha256:1"), "Admin")
    client = login(create_app(store, testing=True))
    page = client.get("/dags/documented").get_data(as_text=True)
    assert "<h1>Orders</h1>" in page and "<strong>orders</strong>" in page and "<table>" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert 'href="javascript:' not in page
    run_id = store.find_run("documented", DAY).run_id
    assert "<em>first</em>" in client.get(f"/dags/documented/runs/{run_id}/tasks/step").get_data(as_text=True)
