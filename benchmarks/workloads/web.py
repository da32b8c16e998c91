"""``web``: every page of the UI and the API's lists, on a big DB.

500 DAGs; one DAG of 200 tasks (in groups of 20) with 1,000 finished runs (200,000 task
instances); one run of a task mapped over 1,000 items; one DAG with 10,000 runs for the
calendar; SQLite. Targets (issue "web UI"): every page and API call under 150 ms, the
calendar under 200 ms, the grid's HTML under 300 KB. Measured in process through the
Flask app (server time; no network). miniflow only: Airflow's UI is not measured here.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness import Measurement, Params, System, register, system_home

PAGE_TARGET, CALENDAR_TARGET, GRID_KB_TARGET = 0.15, 0.2, 300


@register("web", "Web: every UI page and API list with 500 DAGs, one DAG of 1,000 runs x 200 tasks, a 1,000-way "
          "mapped task and a DAG of 10,000 runs in SQLite (targets 150 ms a page, calendar 200 ms, grid 300 KB).",
          sizes={"dags": 500, "runs": 1000, "tasks": 200, "mapped": 1000, "calendar": 10000},
          quick_sizes={"dags": 5, "runs": 10, "tasks": 3, "mapped": 3, "calendar": 10})
def web(params: Params, reps: int, systems: Sequence[System]) -> list[Measurement]:
    measurements: list[Measurement] = []
    for system in [s for s in systems if s.env_name == "MINIFLOW"]:
        with tempfile.TemporaryDirectory(prefix="miniflow-bench-") as tmp:
            home = system_home(Path(tmp), system)
            result = subprocess.run(
                [system.python, "-m", "benchmarks.web_pages", str(home),
                 *(str(params[k]) for k in ("dags", "runs", "tasks", "mapped", "calendar")), str(reps)],
                env=system.env(home), capture_output=True, text=True, check=True,
                cwd=Path(__file__).resolve().parents[2])
            out = json.loads(result.stdout)
            for name, samples in out["seconds"].items():
                target = CALENDAR_TARGET if name == "calendar" else PAGE_TARGET
                measurements.append(Measurement("web", name, system.name, samples, target))
            measurements.append(Measurement("web", "grid HTML", system.name, [out["grid_bytes"] / 1000],
                                            GRID_KB_TARGET, unit="KB"))
    return measurements
