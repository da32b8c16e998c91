"""``web``: the UI's DAG list and grid, and the API's task-instance list, on a big DB.

500 DAGs, and one DAG of 20 tasks with 1,000 finished runs (20,000 task instances),
in SQLite. Targets: DAG list and grid of the latest 25 runs under 300 ms each, the API
list of one run's task instances under 100 ms. Measured in process through the Flask
app (server time; no network). miniflow only: there is no Airflow counterpart here.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness import Measurement, Params, System, register, system_home

TARGETS = {"DAG list": 0.3, "grid, latest 25 runs": 0.3, "API task instances of a run": 0.1}


@register("web", "Web: DAG list and grid (25 runs) pages, API task-instance list, with 500 DAGs and one "
          "DAG of 1,000 runs x 20 tasks in SQLite (targets 300/300/100 ms).",
          sizes={"dags": 500, "runs": 1000, "tasks": 20}, quick_sizes={"dags": 5, "runs": 10, "tasks": 3})
def web(params: Params, reps: int, systems: Sequence[System]) -> list[Measurement]:
    measurements: list[Measurement] = []
    for system in [s for s in systems if s.env_name == "MINIFLOW"]:
        with tempfile.TemporaryDirectory(prefix="miniflow-bench-") as tmp:
            home = system_home(Path(tmp), system)
            result = subprocess.run(
                [system.python, "-m", "benchmarks.web_pages", str(home), str(params["dags"]), str(params["runs"]),
                 str(params["tasks"]), str(reps)],
                env=system.env(home), capture_output=True, text=True, check=True,
                cwd=Path(__file__).resolve().parents[2])
            for name, samples in json.loads(result.stdout).items():
                measurements.append(Measurement("web", name, system.name, samples, TARGETS[name]))
    return measurements
