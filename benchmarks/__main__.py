"""``python -m benchmarks [--quick] [--only NAME[,NAME]] [--reps N] [--json PATH]``."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

import benchmarks.workloads  # noqa: F401 -- importing the package registers the workloads
from benchmarks.harness import WORKLOADS, BenchmarkError, System, Workload, miniflow_system
from benchmarks.report import Result, print_table, write_json

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"
DEFAULT_REPS = 5
QUICK_REPS = 2


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help=f"tiny sizes and {QUICK_REPS} repetitions: a smoke test of the harness")
    parser.add_argument("--only", metavar="NAME[,NAME]", default="",
                        help=f"run only these workloads, of: {', '.join(WORKLOADS)}")
    parser.add_argument("--reps", type=int, metavar="N",
                        help=f"timed repetitions per figure (default {DEFAULT_REPS}, {QUICK_REPS} with --quick)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH",
                        help="where to write the results (default: benchmarks/results/latest.json)")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = parser.parse_args(argv)
    args.only = [name for name in args.only.split(",") if name]
    unknown = [name for name in args.only if name not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    return args


def run_workload(workload: Workload, quick: bool, reps: int, systems: Sequence[System],
                 console: Console) -> Result:
    """Run one workload; a failure is recorded in its Result so the others still run."""
    params = workload.quick_sizes if quick else workload.sizes
    result = Result(workload.name, workload.description, params, full_size=params == workload.sizes)
    with console.status(f"running {workload.name} {dict(params) or ''}"):
        try:
            result.measurements = workload.run(params, reps, systems)
        except BenchmarkError as exc:
            result.error = str(exc)
            console.print(f"[bold red]{workload.name} failed:[/] {exc}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected workloads in order; exit 1 if any of them could not finish.

    A target missed is reported, not an error: figures vary by machine.
    """
    args = parse_args(argv)
    if args.list:
        for workload in WORKLOADS.values():
            Console().print(f"[bold]{workload.name}[/]: {workload.description}")
        return 0
    console = Console(stderr=True)  # progress and errors; the table goes to stdout
    reps = args.reps or (QUICK_REPS if args.quick else DEFAULT_REPS)
    with tempfile.TemporaryDirectory(prefix="miniflow-bench-pycache-") as pycache:
        systems = [miniflow_system(Path(pycache))]
        results = [run_workload(w, args.quick, reps, systems, console)
                   for w in WORKLOADS.values() if not args.only or w.name in args.only]
    # Piped output keeps whole rows: the table is read in CI logs.
    print_table(results, Console(width=None if sys.stdout.isatty() else 100))
    write_json(results, args.json, {"argv": sys.argv[1:] if argv is None else list(argv),
                                    "quick": args.quick, "reps": reps,
                                    "systems": [s.name for s in systems]})
    console.print(f"results written to {args.json}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
