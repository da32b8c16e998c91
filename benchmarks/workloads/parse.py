"""``parse`` (W4): listing a DAG folder, i.e. importing every DAG file in it.

``dags list`` is the cheapest command that has to load the whole folder, so its time is
close to the cost of one full parse, the work the scheduler repeats whenever files
change. The folder holds generated files of mixed operators and a few dependencies per
task; half import from ``airflow`` (through miniflow's import shim) and half from
``miniflow``, because both kinds of file exist in real DAG folders. The home has a
migrated metadata DB, as ``dags list`` reads the paused flags from it (and Airflow's
refuses to run without one).
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness import BenchmarkError, Measurement, Params, System, read_json, register, sample
from benchmarks.homes import Home, new_home
from benchmarks.shapes import mixed_shape, write_dag_files

TARGET_SECONDS = 0.7
SEED = 4


@register("parse", "W4: `dags list` over a folder of 200 generated DAG files of 20 tasks "
          "(half Airflow imports, half miniflow imports; target < 0.7 s).",
          sizes={"files": 200, "tasks": 20}, quick_sizes={"files": 10, "tasks": 5})
def parse(params: Params, reps: int, systems: Sequence[System]) -> list[Measurement]:
    rng = random.Random(SEED)
    shapes = [mixed_shape(f"bench_parse_{i:03d}", params["tasks"], rng) for i in range(params["files"])]
    expected = sorted(shape.dag_id for shape in shapes)
    with tempfile.TemporaryDirectory(prefix="miniflow-bench-") as tmp:
        homes: dict[str, Home] = {}
        for system in systems:
            # A system that reads only Airflow imports (the peer) gets Airflow files throughout.
            styles = ("airflow", system.import_style)
            homes[system.name] = home = new_home(Path(tmp), system, "parse")
            write_dag_files(home.dags, ((s, styles[i % 2]) for i, s in enumerate(shapes)))
            _, out = home.run(*system.dags_list, "--output", "json")
            listed = sorted(row["dag_id"] for row in read_json(out, f"{system.name} dags list"))
            if listed != expected:
                raise BenchmarkError(f"{system.name} listed {len(listed)} DAGs, expected {len(expected)}")

        def once(system: System) -> float:
            return homes[system.name].run(*system.dags_list)[0]

        name = f"{params['files']} files x {params['tasks']} tasks"
        return sample("parse", name, systems, reps, once, TARGET_SECONDS)
