"""``build``: building and validating one very large DAG in a single process.

This is the cost a DAG file with thousands of tasks puts on every parse: creating the
operators, wiring ``>>``, then the checks the loader runs (``validate()`` and a
topological sort). Two shapes stress different things: a chain is deep (10,000 levels,
one edge per task) and a fan-out is wide (one task with 9,998 children, one with 9,998
parents). Each repetition runs in a fresh interpreter and times only the build and
validation, not the imports, so the figure is the DAG code's own.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness import BenchmarkError, Measurement, Params, System, register, run_command, sample, system_home
from benchmarks.shapes import IMPORTS

TARGET_SECONDS = 1.0

# Run as `python build_dag.py SHAPE N`; prints {"seconds": ..., "tasks": ...}.
SCRIPT = '''\
import datetime
import json
import sys
import time

{dag_import}
{empty_import}

shape, n = sys.argv[1], int(sys.argv[2])
started = time.perf_counter()
with DAG("bench_build_" + shape, schedule=None, start_date=datetime.datetime(2024, 1, 1)) as dag:
    if shape == "chain":
        previous = EmptyOperator(task_id="t0")
        for i in range(1, n):
            current = EmptyOperator(task_id=f"t{{i}}")
            previous >> current
            previous = current
    else:
        middle = [EmptyOperator(task_id=f"t{{i}}") for i in range(1, n - 1)]
        EmptyOperator(task_id="t0") >> middle >> EmptyOperator(task_id=f"t{{n - 1}}")
dag.validate()
order = dag.topological_sort()
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "tasks": len(order)}}))
'''


@register("build", "Build + validate + topologically sort a 10,000-task DAG in-process: "
          "a chain and a 1 -> 9,998 -> 1 fan-out (target < 1 s each).",
          sizes={"tasks": 10_000}, quick_sizes={"tasks": 200})
def build(params: Params, reps: int, systems: Sequence[System]) -> list[Measurement]:
    n = params["tasks"]
    measurements: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="miniflow-bench-") as tmp:
        scripts = {}
        for system in systems:
            script = system_home(Path(tmp), system) / "build_dag.py"
            imports = IMPORTS[system.import_style]
            script.write_text(SCRIPT.format(dag_import=imports["dag"], empty_import=imports["empty"]))
            scripts[system.name] = script
        for shape in ("chain", "fanout"):
            def once(system: System, shape: str = shape) -> float:
                argv = [system.python, str(scripts[system.name]), shape, str(n)]
                _, out = run_command(argv, system.env(scripts[system.name].parent))
                result = json.loads(out.strip().splitlines()[-1])
                if result["tasks"] != n:
                    raise BenchmarkError(f"{shape}: sorted {result['tasks']} tasks, expected {n}")
                return float(result["seconds"])

            measurements += sample("build", f"{shape} {n:,}", systems, reps, once, TARGET_SECONDS)
    return measurements
