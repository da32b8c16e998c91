"""``python -m benchmarks [--quick] [--only NAME[,NAME]] [--size NAME=N ...] [--reps N]
[--json PATH] [--peer airflow --peer-venv PATH [--peer-db URL]]``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

import benchmarks.workloads  # noqa: F401 -- importing the package registers the workloads
from benchmarks import homes
from benchmarks.harness import WORKLOADS, BenchmarkError, System, Workload, airflow_system, miniflow_system
from benchmarks.report import Result, print_table, write_json

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"
DEFAULT_REPS = 5
DEFAULT_PEER_DB = "postgresql+psycopg2://postgres@127.0.0.1:5432"
QUICK_REPS = 2


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help=f"tiny sizes and {QUICK_REPS} repetitions: a smoke test of the harness")
    parser.add_argument("--only", metavar="NAME[,NAME]", default="",
                        help=f"run only these workloads, of: {', '.join(WORKLOADS)}")
    parser.add_argument("--size", action="append", default=[], metavar="NAME=N", type=_size,
                        help="run the workloads that have this size at N instead (e.g. --only latency "
                             "--size tasks=1000); their targets then do not apply")
    parser.add_argument("--reps", type=int, metavar="N",
                        help=f"timed repetitions per figure (default {DEFAULT_REPS}, {QUICK_REPS} with --quick)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH",
                        help="where to write the results (default: benchmarks/results/latest.json)")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument("--peer", choices=["airflow"], default=None,
                        help="also run every workload on this system, interleaved with miniflow")
    parser.add_argument("--peer-venv", type=Path, metavar="PATH",
                        help="the peer's virtualenv (see benchmarks/setup_airflow.sh)")
    parser.add_argument("--peer-db", default=DEFAULT_PEER_DB, metavar="URL",
                        help="PostgreSQL server for the peer's executor workloads, where each gets a fresh "
                             f"database (default {DEFAULT_PEER_DB}); 'sqlite' runs them on SQLite with "
                             "Airflow's SequentialExecutor instead")
    args = parser.parse_args(argv)
    if args.peer and not args.peer_venv:
        parser.error("--peer needs --peer-venv")
    args.only = [name for name in args.only.split(",") if name]
    unknown = [name for name in args.only if name not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    return args


def _size(text: str) -> tuple[str, int]:
    name, _, value = text.partition("=")
    if not name or not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give NAME=N with N a positive whole number")
    return name, int(value)


def run_workload(workload: Workload, quick: bool, reps: int, systems: Sequence[System],
                 console: Console, sizes: Sequence[tuple[str, int]] = ()) -> Result:
    """Run one workload (at `sizes` where it has them); a failure is recorded in its
    Result so the others still run."""
    params = workload.quick_sizes if quick else workload.sizes
    params = {**params, **{name: n for name, n in sizes if name in params}}
    result = Result(workload.name, workload.description, params, full_size=params == workload.sizes,
                    load_before=os.getloadavg())
    started = time.monotonic()
    with console.status(f"running {workload.name} {dict(params) or ''}"):
        try:
            result.measurements = workload.run(params, reps, systems)
        except BenchmarkError as exc:
            result.error = str(exc)
            console.print(f"[bold red]{workload.name} failed:[/] {exc}")
    result.seconds = time.monotonic() - started
    result.load_after = os.getloadavg()
    console.print(f"{workload.name}: {result.seconds:.0f} s, load average {_load(result.load_before)} "
                  f"-> {_load(result.load_after)}")
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
        peer = None
        if args.peer:
            try:
                peer_db = None if args.peer_db == "sqlite" else args.peer_db
                systems.append(airflow_system(args.peer_venv.resolve(), Path(pycache), peer_db))
                peer = _peer_info(systems[1], args)
            except BenchmarkError as exc:
                console.print(f"[bold red]peer:[/] {exc}")
                return 1
            console.print(f"peer: {peer}")
        load_before = os.getloadavg()
        try:
            results = [run_workload(w, args.quick, reps, systems, console, args.size)
                       for w in WORKLOADS.values() if not args.only or w.name in args.only]
        finally:
            homes.cleanup()
        load_after = os.getloadavg()
    # Piped output keeps whole rows: the table is read in CI logs.
    print_table(results, Console(width=None if sys.stdout.isatty() else 100 + 40 * (len(systems) - 1)))
    console.print(f"load average (1, 5, 15 min): {_load(load_before)} before, {_load(load_after)} after")
    write_json(results, args.json, {"argv": sys.argv[1:] if argv is None else list(argv),
                                    "quick": args.quick, "reps": reps,
                                    "systems": [s.name for s in systems],
                                    "peer": peer,
                                    "load_average_before": load_before, "load_average_after": load_after})
    console.print(f"results written to {args.json}")
    return 1 if any(r.error for r in results) else 0


def _load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.2f}" for v in load)


def _peer_info(peer: System, args: argparse.Namespace) -> dict[str, str]:
    """The peer's version and where its executor workloads keep their metadata."""
    executor = dict(peer.executor_settings).get(("core", "executor"), "")
    return {"name": peer.name, "venv": str(args.peer_venv), "version": peer.version,
            "executor": executor or "none (executor workloads not run)",
            "executor_db": (peer.executor_db_url or "sqlite") if executor else ""}


if __name__ == "__main__":
    sys.exit(main())
