"""``miniflow dags ...``: list, inspect and schedule-check DAGs."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

import click

from miniflow.cli.common import (
    find_run,
    freeze_loaded,
    get_store,
    load_dag,
    load_dagbag,
    parse_conf,
    parse_datetime,
    subdir_option,
)
from miniflow.cli.output import emit, iso, output_option

if TYPE_CHECKING:
    from miniflow.backfill import Backfill, BackfillProgress
    from miniflow.timetables import DagRunInfo, DataInterval

__all__ = ["dags", "list_dags", "show"]


@click.group()
def dags() -> None:
    """Inspect, test, trigger and pause DAGs."""


@dags.command("list")
@subdir_option
@output_option
def list_dags(subdir: str | None, output: str) -> None:
    """List the DAGs of the DAG folder."""
    bag = load_dagbag(subdir, summaries_only=True)
    paused = _paused_flags()
    rows = [
        {
            "dag_id": dag.dag_id,
            "fileloc": dag.fileloc,
            "owners": dag.owner,
            "is_paused": paused.get(dag.dag_id),
            "schedule": dag.schedule,
            "tags": dag.tags,
        }
        for dag in bag.listing()
    ]
    emit(rows, output, ["dag_id", "fileloc", "owners", "is_paused", "schedule", "tags"])
    if bag.import_errors and output == "table":
        click.echo(
            f"{len(bag.import_errors)} file(s) failed to load; "
            "see 'miniflow dags list-import-errors'", err=True,
        )


def _paused_flags() -> dict[str, bool]:
    """Paused flags from the metadata DB; empty when there is no migrated DB yet."""
    from miniflow.db.store import get_store
    from miniflow.exceptions import DatabaseNotReadyError

    try:
        return {r.dag_id: r.is_paused for r in get_store().dag_rows(active_only=False)}
    except DatabaseNotReadyError:
        return {}


@dags.command("list-import-errors")
@subdir_option
@output_option
def list_import_errors(subdir: str | None, output: str) -> None:
    """List the DAG files that failed to load, with the line and the error."""
    bag = load_dagbag(subdir, summaries_only=True)
    rows = [{"filepath": e.filepath, "lineno": e.lineno, "error": e.message}
            for e in sorted(bag.import_errors.values(), key=lambda e: e.filepath)]
    emit(rows, output, ["filepath", "lineno", "error"])


@dags.command("show")
@click.argument("dag_id")
@click.option("--dot", "as_dot", is_flag=True, help="Print Graphviz DOT instead of a text tree.")
@subdir_option
def show(dag_id: str, as_dot: bool, subdir: str | None) -> None:
    """Show a DAG's tasks and dependencies."""
    from miniflow.cli.render import dot, tree_lines

    dag = load_dag(dag_id, subdir)
    click.echo(dot(dag) if as_dot else "\n".join(tree_lines(dag)))


@dags.command("next-execution")
@click.argument("dag_id")
@click.option("-n", "--num-executions", default=1, show_default=True, type=click.IntRange(1, 10_000),
              help="How many logical dates to show.")
@subdir_option
@output_option
def next_execution(dag_id: str, num_executions: int, subdir: str | None, output: str) -> None:
    """Show the logical dates of the next scheduled runs."""
    from miniflow.timetables import upcoming_runs

    dag = load_dag(dag_id, subdir)
    now = dt.datetime.now(dt.timezone.utc)
    runs = upcoming_runs(dag.timetable, dag.time_restriction, now, num_executions, last=_last_interval(dag_id))
    if not runs:
        click.echo("None" if output != "json" else "[]")
        return
    if output == "json":
        emit([_run_row(r) for r in runs], output)
    else:
        for run in runs:
            click.echo(iso(run.logical_date))


def _last_interval(dag_id: str) -> DataInterval | None:
    """The data interval of the DAG's latest scheduled run, if a migrated DB has one."""
    from miniflow.db.store import get_store
    from miniflow.exceptions import DatabaseNotReadyError

    try:
        return get_store().last_automated_interval(dag_id)
    except DatabaseNotReadyError:
        return None


@dags.command("due")
@click.argument("dag_id")
@click.option("--at", "at", required=True, help="The instant to evaluate, ISO 8601 (naive = UTC).")
@subdir_option
@output_option
def due(dag_id: str, at: str, subdir: str | None, output: str) -> None:
    """List the runs a scheduler with no history would create at --at."""
    from miniflow.timetables import due_runs

    dag = load_dag(dag_id, subdir)
    runs = due_runs(dag.timetable, dag.time_restriction, parse_datetime(at, "--at"))
    emit([_run_row(r) for r in runs], output, ["logical_date", "data_interval_start", "data_interval_end"])


def _run_row(run: DagRunInfo) -> dict[str, str | None]:
    return {
        "logical_date": iso(run.logical_date),
        "data_interval_start": iso(run.data_interval.start),
        "data_interval_end": iso(run.data_interval.end),
    }


@dags.command("test")
@click.argument("dag_id")
@click.argument("logical_date", required=False)
@click.option("-c", "--conf", default=None, help="Run configuration, a JSON object.")
@subdir_option
@output_option
def test(dag_id: str, logical_date: str | None, conf: str | None, subdir: str | None, output: str) -> None:
    """Run one whole DAG run in this process, without a scheduler; exit 1 if it fails."""
    from miniflow.dag_test import run_dag_test

    run_conf = parse_conf(conf)
    when = parse_datetime(logical_date, "LOGICAL_DATE") if logical_date else None
    dag = load_dag(dag_id, subdir)
    freeze_loaded()
    result = run_dag_test(dag, when, run_conf, store=get_store(), echo=output != "json")
    rows = [
        {"task_id": f"{r.task_id}[{r.map_index}]" if r.map_index >= 0 and output != "json" else r.task_id,
         **({"map_index": r.map_index} if output == "json" else {}),
         "state": r.state, "try_number": r.try_number,
         "duration": round(r.duration, 3) if r.duration is not None else None}
        for r in result.task_instances
    ]
    columns = ["task_id", *(["map_index"] if output == "json" else []), "state", "try_number", "duration"]
    emit(rows, output, columns, title=f"{dag_id} {result.run_id}")
    if output != "json":
        click.echo(f"Run {result.run_id}: {result.state}")
    if result.state != "success":
        raise SystemExit(1)


@dags.command("list-runs")
@click.argument("dag_id", required=False)
@click.option("-d", "--dag-id", "dag_id_opt", default=None, help="The DAG (Airflow 2 spelling).")
@click.option("--state", default=None, help="Only runs in this state.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@subdir_option
@output_option
def list_runs(dag_id: str | None, dag_id_opt: str | None, state: str | None, limit: int, subdir: str | None,
              output: str) -> None:
    """List a DAG's runs, newest first (the newest --limit of them)."""
    from miniflow.state import DagRunState

    dag_id = dag_id or dag_id_opt
    if not dag_id:
        raise click.UsageError("give the DAG id")
    try:
        states = [DagRunState(state)] if state else None
    except ValueError:
        raise click.BadParameter(f"use one of {', '.join(s.value for s in DagRunState)}", param_hint="--state") \
            from None
    store = get_store()
    if subdir is not None and store.get_dag_row(dag_id) is None:
        load_dag(dag_id, subdir)  # a clear error when the folder has no such DAG
    runs = store.list_runs(dag_id, states=states, limit=limit + 1)
    emit([dataclasses.asdict(r) for r in runs[:limit]], output,
         ["dag_id", "run_id", "state", "run_type", "logical_date", "start_date", "end_date"])
    if len(runs) > limit and output == "table":
        click.echo(f"Showing the newest {limit} runs; use --limit to see more.", err=True)


@dags.command("reserialize")
@subdir_option
def reserialize(subdir: str | None) -> None:
    """Parse the DAG folder and store every DAG's structure, so the webserver shows them
    without a scheduler (Airflow 2's ``dags reserialize``)."""
    from miniflow.serialization import parsed_dag

    bag = load_dagbag(subdir)
    get_store().sync_dags([parsed_dag(bag.dags[d]) for d in bag.dag_ids], list(bag.import_errors.values()),
                          processed_files=set(bag.file_mtimes))
    click.echo(f"Serialized {len(bag.dag_ids)} DAG(s); {len(bag.import_errors)} file(s) failed to load")


@dags.command("state")
@click.argument("dag_id")
@click.argument("logical_date")
def state(dag_id: str, logical_date: str) -> None:
    """Print the state of the DAG's run for a logical date (or run id)."""
    click.echo(find_run(get_store(), dag_id, logical_date).state)


def _set_paused(dag_id: str, paused: bool, subdir: str | None) -> None:
    from miniflow.serialization import parsed_dag

    store = get_store()
    if store.get_dag_row(dag_id) is None:  # not recorded yet: load it (checks it exists)
        store.sync_dags([parsed_dag(load_dag(dag_id, subdir))])
    store.set_paused(dag_id, paused)
    store.log_event("pause" if paused else "unpause", owner="cli", dag_id=dag_id)
    click.echo(f"Dag: {dag_id}, paused: {paused}")


@dags.command("pause")
@click.argument("dag_id")
@subdir_option
def pause(dag_id: str, subdir: str | None) -> None:
    """Pause a DAG: the scheduler creates no new runs and queues no new tasks for it."""
    _set_paused(dag_id, True, subdir)


@dags.command("unpause")
@click.argument("dag_id")
@subdir_option
def unpause(dag_id: str, subdir: str | None) -> None:
    """Unpause a DAG."""
    _set_paused(dag_id, False, subdir)


@dags.command("trigger")
@click.argument("dag_id")
@click.option("-c", "--conf", default=None, help="Run configuration, a JSON object.")
@click.option("-r", "--run-id", default=None, help="Run id (default: manual__<logical date>).")
@click.option("-e", "--logical-date", "--exec-date", "logical_date", default=None,
              help="Logical date, ISO 8601 (default: now).")
@subdir_option
@output_option
def trigger(dag_id: str, conf: str | None, run_id: str | None, logical_date: str | None,
            subdir: str | None, output: str) -> None:
    """Create a manual run; the scheduler runs it once the DAG is unpaused."""
    from miniflow.serialization import parsed_dag
    from miniflow.triggering import trigger_dag_run

    run_conf = parse_conf(conf)
    if logical_date is not None and not logical_date.strip():
        raise click.BadParameter("is empty; leave -e out to trigger for now", param_hint="--logical-date")
    when = parse_datetime(logical_date, "--logical-date") if logical_date else None
    store = get_store()
    store.sync_dags([parsed_dag(load_dag(dag_id, subdir))])
    run = trigger_dag_run(store, dag_id, run_conf, run_id, when, user="cli")
    emit([dataclasses.asdict(run)], output, ["dag_id", "run_id", "state", "logical_date", "conf"])


@dags.command("backfill")
@click.argument("dag_id")
@click.option("-s", "--start-date", required=True, help="First logical date, ISO 8601.")
@click.option("-e", "--end-date", required=True, help="Last logical date, ISO 8601 (inclusive).")
@click.option("--dry-run", is_flag=True, help="Only list the runs that would run.")
@click.option("--reset-dagruns", is_flag=True, help="Delete existing runs in the range and run them anew.")
@click.option("--rerun-failed-tasks", is_flag=True, help="Run failed tasks of existing runs again.")
@click.option("--max-active-runs", type=click.IntRange(min=1), default=None,
              help="Runs at once (default: the DAG's max_active_runs).")
@click.option("--executor", "executor_name", type=click.Choice(["sequential", "local"]), default="local",
              show_default=True)
@click.option("-p", "--parallelism", type=click.IntRange(min=1), default=None)
@subdir_option
@output_option
def backfill(dag_id: str, start_date: str, end_date: str, dry_run: bool, reset_dagruns: bool,
             rerun_failed_tasks: bool, max_active_runs: int | None, executor_name: str,
             parallelism: int | None, subdir: str | None, output: str) -> None:
    """Run a DAG for every schedule interval between two dates (inclusive)."""
    from miniflow.backfill import Backfill, backfill_infos

    start = parse_datetime(start_date, "--start-date")
    end = parse_datetime(end_date, "--end-date")
    if start > end:
        raise click.BadParameter("the start date is after the end date", param_hint="--start-date")
    if dry_run:
        emit([_run_row(i) for i in backfill_infos(load_dag(dag_id, subdir), start, end)], output,
             ["logical_date", "data_interval_start", "data_interval_end"])
        return
    from miniflow.config import get_config
    from miniflow.executors import get_executor

    # Made before the DAG is loaded: the local executor's processes start meanwhile.
    executor = get_executor(executor_name, parallelism or get_config().get("core", "parallelism"))
    dag = load_dag(dag_id, subdir)
    freeze_loaded()
    job = Backfill(get_store(), executor, dag, start, end, reset_dagruns, rerun_failed_tasks, max_active_runs)
    result = _run_with_progress(job)
    rows = sorted(({"run_id": r, "state": s} for r, s in result.states.items()), key=lambda r: r["run_id"])
    emit(rows, output, ["run_id", "state"], title=f"backfill of {dag_id}")
    if any(s != "success" for s in result.states.values()):
        raise SystemExit(1)


def _run_with_progress(job: Backfill) -> BackfillProgress:
    """Drive the backfill with a progress bar (runs and tasks done, ETA) on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("runs {task.fields[runs]}"),
               TextColumn("tasks {task.completed:.0f}/{task.total:.0f}"), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False, disable=not console.is_terminal) as bar:
        handle = bar.add_task("backfill", total=None, runs="0/0")

        def show(p: BackfillProgress) -> None:
            bar.update(handle, total=p.tasks_total, completed=p.tasks_done, runs=f"{p.runs_done}/{p.runs_total}")

        try:
            return job.run(on_progress=show)
        except KeyboardInterrupt:
            console.print("Interrupted: running tries were stopped; run the same command again to continue.")
            raise SystemExit(130) from None
