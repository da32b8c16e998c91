"""Time every page of the web UI and the API's lists on a big DB.

Run as ``python -m benchmarks.web_pages HOME DAGS RUNS TASKS MAPPED CALENDAR REPS`` with
MINIFLOW_HOME set: it migrates a SQLite DB in HOME and records DAGS one-task DAGs, one
DAG ("big") of TASKS tasks in a chain with RUNS finished runs, one run of a task mapped
over MAPPED items ("mapped") and one DAG with CALENDAR runs ("calendar"). Then it
requests each page REPS times through the Flask app (in process: server time, no
network) and prints one JSON object: the seconds of each page's requests, and the
bytes of the grid's HTML.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

START = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)


def build(home: Path, dags: int, runs: int, tasks: int, mapped: int, calendar: int) -> dict[str, str]:
    """Record the DAGs and runs; return the run ids the pages are about."""
    from miniflow.web.auth import hash_password
    from sqlalchemy import update

    from miniflow.dag import DAG
    from miniflow.db.migrate import migrate
    from miniflow.db.store import get_store
    from miniflow.db.tables import RUN_T, TI_T
    from miniflow.decorators import task
    from miniflow.operators.empty import EmptyOperator
    from miniflow.serialization import parsed_dag, task_rows
    from miniflow.state import DagRunState
    from miniflow.task_group import TaskGroup

    store = get_store(check=False)
    migrate(store.engine)
    small = []
    for i in range(dags):
        with DAG(f"dag_{i:04d}", start_date=START, schedule="@daily", tags=["bench"]) as dag:
            EmptyOperator(task_id="only")
        small.append(dag)
    with DAG("big", start_date=START, schedule="@daily") as big:
        parts = [TaskGroup(f"part_{p}") for p in range((tasks + 19) // 20)]  # groups of 20, as big DAGs have
        previous = None
        for t in range(tasks):
            node = EmptyOperator(task_id=f"task_{t:03d}", task_group=parts[t // 20])
            if previous is not None:
                previous >> node
            previous = node
    with DAG("mapped", start_date=START, schedule=None) as wide:
        @task
        def double(x: int) -> int:
            return 2 * x

        double.expand(x=list(range(mapped)))
    with DAG("calendar", start_date=START, schedule="@daily") as daily:
        EmptyOperator(task_id="only")
    store.sync_dags([parsed_dag(d) for d in [*small, big, wide, daily]])
    ids = {}
    with store.write() as conn:
        for dag, count in ((big, runs), (daily, calendar), (wide, 1)):
            rows = task_rows(dag)
            for r in range(count):
                when = START + dt.timedelta(days=r)
                ids[dag.dag_id] = f"scheduled__{when.isoformat()}"
                store.create_run(dag.dag_id, rows, ids[dag.dag_id], when, None, "scheduled",
                                 state=DagRunState.SUCCESS, conn=conn)
    row = {k: v for k, v in task_rows(wide)[0].items() if k != "task_id"}
    store.expand_ti("mapped", ids["mapped"], "double", mapped, row, ready_state=None)
    with store.write() as conn:
        began, took = START + dt.timedelta(days=1), dt.timedelta(seconds=1.5)
        conn.execute(update(RUN_T).values(start_date=began, end_date=began + took * tasks))
        conn.execute(update(TI_T).values(state="success", try_number=1, start_date=began, end_date=began + took,
                                         duration=took.total_seconds()))
    store.create_user("bench", hash_password("bench-password"), "Admin")
    return ids


def pages(ids: dict[str, str]) -> dict[str, str]:
    big, wide = quote(ids["big"], safe=""), quote(ids["mapped"], safe="")
    return {
        "DAG list": "/",
        "grid, latest 25 runs": "/dags/big",
        "grid refresh (JSON)": "/dags/big/grid.json",
        "graph": f"/dags/big?tab=graph&run_id={big}",
        "graph, groups collapsed": f"/dags/big?tab=graph&run_id={big}&fold=part_0&fold=part_5",
        "Gantt": f"/dags/big?tab=gantt&run_id={big}",
        "run details": f"/dags/big?tab=details&run_id={big}",
        "durations and landing times": "/dags/big?tab=durations",
        "DAG details": "/dags/big?tab=about",
        "code": "/dags/big?tab=code",
        "trigger form": "/dags/big?tab=trigger",
        "calendar": "/dags/calendar?tab=calendar",
        "task instance": f"/dags/big/runs/{big}/tasks/part_0.task_000",
        "mapped instances": f"/dags/mapped/runs/{wide}/tasks/double",
        "browse DAG runs": "/browse/runs",
        "browse task instances": "/browse/task-instances?state=success",
        "datasets": "/datasets",
        "audit log": "/audit",
        "metrics": "/metrics",
        "API DAGs": "/api/v1/dags",
        "API DAG runs": "/api/v1/dags/big/dagRuns",
        "API task instances of a run": f"/api/v1/dags/big/dagRuns/{big}/taskInstances",
        "API mapped instances": f"/api/v1/dags/mapped/dagRuns/{wide}/taskInstances/double/listMapped",
    }


def main() -> None:
    home = Path(sys.argv[1])
    dags, runs, tasks, mapped, calendar, reps = map(int, sys.argv[2:8])
    ids = build(home, dags, runs, tasks, mapped, calendar)
    from base64 import b64encode

    from miniflow.web import create_app

    app = create_app()
    client = app.test_client()
    app.extensions["miniflow_store"].start_session("bench-session", "bench")
    with client.session_transaction() as session:
        session["sid"] = "bench-session"
    auth = {"Authorization": "Basic " + b64encode(b"bench:bench-password").decode()}
    urls = pages(ids)
    out: dict[str, Any] = {"seconds": {name: [] for name in urls}}
    for _ in range(reps + 1):  # the first round warms caches and is dropped
        for name, url in urls.items():
            started = time.perf_counter()
            response = client.get(url, headers=auth if url.startswith("/api/") else {})
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code}")
            out["seconds"][name].append(elapsed)
            if name.startswith("grid, "):
                out["grid_bytes"] = len(response.data)
    out["seconds"] = {name: samples[1:] for name, samples in out["seconds"].items()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
