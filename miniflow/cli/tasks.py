"""``miniflow tasks ...``: list, test, run, clear and inspect task instances."""

from __future__ import annotations

import datetime as dt
import re
import sys

import click

from miniflow.cli.common import find_run, get_store, load_dag, parse_datetime, subdir_option
from miniflow.cli.output import emit, output_option

__all__ = ["tasks", "list_tasks", "test", "run", "clear"]

map_index_option = click.option(
    "--map-index", type=int, default=-1, show_default=True,
    help="Which instance of a mapped task (-1: a task that is not mapped).")


def _key(dag_id: str, run_id: str, task_id: str, map_index: int):
    from miniflow.taskinstancekey import TaskInstanceKey

    return TaskInstanceKey(dag_id, run_id, task_id, map_index)


def _name(task_id: str, map_index: int) -> str:
    return f"{task_id}[{map_index}]" if map_index >= 0 else task_id


@click.group()
def tasks() -> None:
    """Inspect, test, run and clear task instances."""


@tasks.command("list")
@click.argument("dag_id")
@click.option("-t", "--tree", is_flag=True, help="Show the tasks as a dependency tree.")
@subdir_option
@output_option
def list_tasks(dag_id: str, tree: bool, subdir: str | None, output: str) -> None:
    """List a DAG's tasks, in dependency order."""
    dag = load_dag(dag_id, subdir)
    if tree and output != "json":
        from miniflow.cli.render import tree_lines

        click.echo("\n".join(tree_lines(dag)))
        return
    rows = [
        {
            "task_id": t.task_id,
            "operator": type(t).__name__,
            "trigger_rule": str(t.trigger_rule),
            "upstream": sorted(t.upstream_task_ids),
            "downstream": sorted(t.downstream_task_ids),
        }
        for t in dag.topological_sort()
    ]
    if output == "plain":
        for r in rows:
            click.echo(r["task_id"])
        return
    emit(rows, output)


@tasks.command("test")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("logical_date", required=False)
@click.option("-t", "--task-params", default=None, help="Params for this try, a JSON object.")
@map_index_option
@subdir_option
def test(dag_id: str, task_id: str, logical_date: str | None, task_params: str | None, map_index: int,
         subdir: str | None) -> None:
    """Run one task now, ignoring dependencies and recording nothing; log to the terminal."""
    import copy

    from miniflow.cli.common import parse_conf
    from miniflow.runner import execute_try, run_callbacks
    from miniflow.state import TaskInstanceState
    from miniflow.task_log import capture_task_log
    from miniflow.taskinstance import DagRun, TaskInstance

    dag = load_dag(dag_id, subdir)
    task = copy.copy(dag.get_task(task_id))
    task.params = {**task.params, **parse_conf(task_params)}
    when = parse_datetime(logical_date, "LOGICAL_DATE") if logical_date else dt.datetime.now(dt.timezone.utc)
    existing = _existing_run(dag_id, when)
    if existing is not None:  # as Airflow 2: upstream XComs of that run are visible
        run = DagRun.from_row(existing)
    else:
        interval = dag.timetable.infer_manual_data_interval(when)
        run = DagRun(dag_id, f"test__{when.isoformat()}", when, interval.start, interval.end, run_type="test")
    ti = TaskInstance(task, run, try_number=1, max_tries=0, store=None,
                      start_date=dt.datetime.now(dt.timezone.utc), map_index=map_index)
    with capture_task_log(None):
        outcome = execute_try(ti)
        run_callbacks(ti, outcome)
    click.echo(f"Task {_name(task_id, map_index)}: {outcome.state}")
    if outcome.state not in (TaskInstanceState.SUCCESS, TaskInstanceState.SKIPPED):
        raise SystemExit(1)


def _existing_run(dag_id: str, when: dt.datetime):
    """The recorded run at that logical date, if a migrated DB has one."""
    from miniflow.db.store import get_store
    from miniflow.exceptions import DatabaseNotReadyError

    try:
        return get_store().find_run(dag_id, when)
    except DatabaseNotReadyError:
        return None


@tasks.command("run")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("run_id")
@click.option("-f", "--force", is_flag=True, help="Run even if the task instance is not queued.")
@map_index_option
@subdir_option
def run(dag_id: str, task_id: str, run_id: str, force: bool, map_index: int, subdir: str | None) -> None:
    """Run one try of a queued task instance and record it (what executors call)."""
    from miniflow.runner import run_task_instance
    from miniflow.state import Override
    from miniflow.state import TaskInstanceState as TIS

    store = get_store()
    dag = load_dag(dag_id, subdir)
    dag.get_task(task_id)
    run_row = find_run(store, dag_id, run_id)
    key = _key(dag_id, run_row.run_id, task_id, map_index)
    ti = store.get_ti(key)
    name = _name(task_id, map_index)
    if ti is None:
        raise click.ClickException(f"run {run_row.run_id!r} has no task instance {name!r}")
    if ti.state != TIS.QUEUED:
        if not force or ti.state == TIS.RUNNING:
            raise click.ClickException(
                f"task instance {name!r} of {run_row.run_id!r} is {ti.state or 'not scheduled'}, "
                "not queued" + ("" if ti.state == TIS.RUNNING else "; use --force to run it anyway"))
        store.set_ti_states(dag_id, run_row.run_id, [(task_id, map_index)], None, [ti.state], override=Override.CLEAR)
        store.set_ti_states(dag_id, run_row.run_id, [(task_id, map_index)], TIS.QUEUED, [None])
    state = run_task_instance(store, dag, key)
    click.echo(f"Task {name}: {state}")
    if state in (TIS.FAILED, TIS.UP_FOR_RETRY, None):
        raise SystemExit(1)


@tasks.command("clear")
@click.argument("dag_id")
@click.option("-t", "--task-regex", default=None, help="Only tasks whose id matches this regex.")
@click.option("-s", "--start-date", default=None, help="Only runs with a logical date at or after this.")
@click.option("-e", "--end-date", default=None, help="Only runs with a logical date at or before this.")
@click.option("-d", "--downstream", is_flag=True, help="Also clear the tasks downstream.")
@click.option("-u", "--upstream", is_flag=True, help="Also clear the tasks upstream.")
@click.option("-f", "--only-failed", is_flag=True, help="Only failed and upstream_failed task instances.")
@click.option("-y", "--yes", "-c", "--no-confirm", "yes", is_flag=True,
              help="Do not ask for confirmation (-c is Airflow 1.x's spelling).")
@click.option("--map-index", type=int, default=None,
              help="Only this instance of mapped tasks (default: every instance).")
@subdir_option
def clear(dag_id: str, task_regex: str | None, start_date: str | None, end_date: str | None,
          downstream: bool, upstream: bool, only_failed: bool, yes: bool, map_index: int | None,
          subdir: str | None) -> None:
    """Reset task instances so the scheduler runs them again."""
    from miniflow.state import TaskInstanceState as TIS

    store = get_store()
    dag = load_dag(dag_id, subdir)
    try:
        pattern = re.compile(task_regex) if task_regex else None
    except re.error as exc:
        raise click.BadParameter(f"not a valid regular expression: {exc}", param_hint="--task-regex") from None
    chosen = [t for t in dag.task_ids if pattern is None or pattern.search(t)]
    chosen_ids = dag.partial_subset(chosen, include_upstream=upstream, include_downstream=downstream)
    runs = store.list_runs(
        dag_id,
        start=parse_datetime(start_date, "--start-date") if start_date else None,
        end=parse_datetime(end_date, "--end-date") if end_date else None,
    )
    failed = {TIS.FAILED, TIS.UPSTREAM_FAILED}
    items = [
        (dag_id, r.run_id, ti.task_id, dag.task_dict[ti.task_id].retries)
        for r in runs for ti in store.tis_of_run(dag_id, r.run_id)
        if ti.task_id in chosen_ids and (not only_failed or ti.state in failed)
        and (map_index is None or ti.map_index == map_index)
    ]
    from miniflow.clearing import external_clears

    for run_id in dict.fromkeys(i[1] for i in items):
        items += external_clears(store, dag_id, run_id, [i[2] for i in items if i[1] == run_id and i[0] == dag_id])
    items = list(dict.fromkeys(items))  # a mapped task's instances clear together
    if not items:
        click.echo("No task instances to clear.")
        return
    if not yes:
        for _, run_id, task_id, _ in items[:50]:
            click.echo(f"  {run_id}  {task_id}")
        if len(items) > 50:
            click.echo(f"  ... and {len(items) - 50} more")
        click.confirm(f"Clear {len(items)} task instance(s)?", abort=True)
    count = store.clear_tis(items, map_index)
    store.log_event("clear", owner="cli", dag_id=dag_id, extra=f"{count} task instances")
    click.echo(f"Cleared {count} task instance(s).")


@tasks.command("state")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("run_id")
@map_index_option
def state(dag_id: str, task_id: str, run_id: str, map_index: int) -> None:
    """Print a task instance's state (a run id or a logical date selects the run)."""
    store = get_store()
    run_row = find_run(store, dag_id, run_id)
    ti = store.get_ti(_key(dag_id, run_row.run_id, task_id, map_index))
    if ti is None:
        raise click.ClickException(f"run {run_row.run_id!r} has no task {_name(task_id, map_index)!r}")
    click.echo(str(ti.state))


@tasks.command("states-for-dag-run")
@click.argument("dag_id")
@click.argument("run_id")
@output_option
def states_for_dag_run(dag_id: str, run_id: str, output: str) -> None:
    """Every task instance of a run: state, try number, start, end and duration."""
    store = get_store()
    run_row = find_run(store, dag_id, run_id)
    rows = [
        {"task_id": ti.task_id, "map_index": ti.map_index, "state": ti.state, "try_number": ti.try_number,
         "start_date": ti.start_date, "end_date": ti.end_date, "duration": ti.duration}
        for ti in sorted(store.tis_of_run(dag_id, run_row.run_id), key=lambda t: (t.task_id, t.map_index))
    ]
    emit(rows, output, ["task_id", "map_index", "state", "try_number", "start_date", "end_date", "duration"])


@tasks.command("logs")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("run_id")
@click.option("--try", "try_number", type=click.IntRange(min=1), default=None,
              help="Which try (default: the latest).")
@map_index_option
def logs(dag_id: str, task_id: str, run_id: str, try_number: int | None, map_index: int) -> None:
    """Print the log of one try of a task instance."""
    from miniflow.config import get_config
    from miniflow.task_log import log_path

    store = get_store()
    run_row = find_run(store, dag_id, run_id)
    key = _key(dag_id, run_row.run_id, task_id, map_index)
    ti = store.get_ti(key)
    if ti is None:
        raise click.ClickException(f"run {run_row.run_id!r} has no task {_name(task_id, map_index)!r}")
    number = try_number or ti.try_number
    if number < 1:
        raise click.ClickException(f"task {task_id!r} of {run_row.run_id!r} has not run yet")
    path = log_path(get_config().get("logging", "base_log_folder"), key, number)
    if not path.exists():
        raise click.ClickException(f"no log for try {number} of {task_id!r} in {run_row.run_id!r}")
    sys.stdout.write(path.read_text(errors="replace"))
