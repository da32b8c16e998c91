"""Time the web UI's heaviest pages and the API's task-instance list on a big DB.

Run as ``python -m benchmarks.web_pages HOME DAGS RUNS TASKS REPS`` with MINIFLOW_HOME
set: it migrates a SQLite DB in HOME, records DAGS one-task DAGs and one DAG of TASKS
tasks with RUNS finished runs, then requests each page REPS times through the Flask
app (in process: server time, no network) and prints one JSON object of sample lists.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path


def build(home: Path, dags: int, runs: int, tasks: int) -> tuple[str, str]:
    from miniflow.web.auth import hash_password
    from sqlalchemy import update

    from miniflow.dag import DAG
    from miniflow.db.migrate import migrate
    from miniflow.db.store import get_store
    from miniflow.db.tables import TI_T
    from miniflow.operators.empty import EmptyOperator
    from miniflow.serialization import task_rows
    from miniflow.state import DagRunState

    store = get_store(check=False)
    migrate(store.engine)
    start = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    small = []
    for i in range(dags):
        with DAG(f"dag_{i:04d}", start_date=start, schedule="@daily", tags=["bench"]) as dag:
            EmptyOperator(task_id="only")
        small.append(dag)
    with DAG("big", start_date=start, schedule="@daily") as big:
        previous = None
        for t in range(tasks):
            task = EmptyOperator(task_id=f"task_{t:02d}")
            if previous is not None:
                previous >> task
            previous = task
    store.sync_dags([*small, big])
    rows = task_rows(big)
    last = ""
    with store.write() as conn:
        for r in range(runs):
            when = start + dt.timedelta(days=r)
            last = f"scheduled__{when.isoformat()}"
            store.create_run("big", rows, last, when, None, "scheduled", state=DagRunState.SUCCESS, conn=conn)
        conn.execute(update(TI_T).where(TI_T.c.dag_id == "big").values(state="success", try_number=1))
    store.create_user("bench", hash_password("bench-password"), "Admin")
    return "big", last


def main() -> None:
    home, dags, runs, tasks, reps = Path(sys.argv[1]), *map(int, sys.argv[2:6])
    dag_id, run_id = build(home, dags, runs, tasks)
    from base64 import b64encode
    from urllib.parse import quote

    from miniflow.web import create_app

    app = create_app()
    client = app.test_client()
    app.extensions["miniflow_store"].start_session("bench-session", "bench")
    with client.session_transaction() as session:
        session["sid"] = "bench-session"
    auth = {"Authorization": "Basic " + b64encode(b"bench:bench-password").decode()}
    pages = {
        "DAG list": ("/", {}),
        "grid, latest 25 runs": (f"/dags/{dag_id}", {}),
        "API task instances of a run": (f"/api/v1/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances", auth),
    }
    out: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(reps + 1):  # the first round warms caches and is dropped
        for name, (url, headers) in pages.items():
            started = time.perf_counter()
            response = client.get(url, headers=headers)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code}")
            out[name].append(elapsed)
    print(json.dumps({name: samples[1:] for name, samples in out.items()}))


if __name__ == "__main__":
    main()
