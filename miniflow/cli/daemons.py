"""``miniflow scheduler``, ``webserver`` and ``standalone``: the long-running processes."""

from __future__ import annotations

import logging

import click

from miniflow.cli.common import get_store, subdir_option

__all__ = ["scheduler", "webserver", "standalone"]


def _setup_logging() -> None:
    from miniflow.config import get_config

    logging.basicConfig(level=get_config().get("logging", "level"),
                        format="[%(asctime)s] %(levelname)s %(name)s - %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@click.command()
@subdir_option
@click.option("-n", "--num-runs", default=-1, type=int, help="Stop after this many loop passes (-1: never).")
@click.option("-p", "--parallelism", default=None, type=click.IntRange(min=1),
              help="Most tries running at once (default: core.parallelism).")
@click.option("--executor", "executor_name", default=None,
              type=click.Choice(["sequential", "local", "celery"]), help="Default: core.executor.")
def scheduler(subdir: str | None, num_runs: int, parallelism: int | None, executor_name: str | None) -> None:
    """Run the scheduler until SIGTERM or Ctrl-C."""
    from miniflow.config import get_config
    from miniflow.executors import get_executor
    from miniflow.scheduler import Scheduler, SchedulerAlreadyRunning

    _setup_logging()
    config = get_config()
    store = get_store()
    executor = get_executor(executor_name or config.get("core", "executor"),
                            parallelism or config.get("core", "parallelism"))
    try:
        Scheduler(store, executor, dag_folder=subdir, num_runs=num_runs).run()
    except SchedulerAlreadyRunning as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.option("-H", "--host", default=None, help="Address to listen on (default: webserver.host).")
@click.option("-p", "--port", default=None, type=int, help="Port (default: webserver.port).")
@click.option("-w", "--workers", default=8, show_default=True, type=click.IntRange(min=1),
              help="Request-handling threads.")
@click.option("-d", "--debug", is_flag=True, help="Flask's development server with reloading.")
def webserver(host: str | None, port: int | None, workers: int, debug: bool) -> None:
    """Serve the web UI and REST API (waitress; --debug for Flask's own server)."""
    from miniflow.config import get_config
    from miniflow.web import create_app

    _setup_logging()
    config = get_config()
    host = host or config.get("webserver", "host")
    port = port or config.get("webserver", "port")
    app = create_app(get_store())
    signal_to_exit()
    if debug:
        app.run(host=host, port=port, debug=True)
        return
    from waitress import serve

    click.echo(f"miniflow webserver on http://{host}:{port}")
    try:
        serve(app, host=host, port=port, threads=workers, ident="miniflow")
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: a clean stop, exit 0
        click.echo("webserver stopped")


def signal_to_exit() -> None:
    """SIGTERM ends the process like Ctrl-C does (waitress handles KeyboardInterrupt)."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


@click.command()
@click.option("-p", "--port", default=None, type=int, help="Web port (default: webserver.port).")
def standalone(port: int | None) -> None:
    """Migrate the DB, create an admin user, and run the scheduler (with the example
    DAGs) and the webserver until Ctrl-C."""
    import os
    import subprocess
    import sys
    import time

    from miniflow.config import get_config
    from miniflow.db.engine import make_engine
    from miniflow.db.migrate import migrate

    config = get_config()
    config.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    (config.dags_folder).mkdir(parents=True, exist_ok=True)
    _load_examples_in(config.home)
    migrate(make_engine(config.get("database", "sql_alchemy_conn")))
    _ensure_admin(config.home)
    env = {**os.environ, "MINIFLOW__CORE__LOAD_EXAMPLES": "true"}
    python = [sys.executable, "-m", "miniflow"]
    web_port = port or config.get("webserver", "port")
    procs = {
        "scheduler": subprocess.Popen([*python, "scheduler"], env=env),
        "webserver": subprocess.Popen([*python, "webserver", "--port", str(web_port)], env=env),
    }
    click.echo(f"miniflow standalone: UI on http://{config.get('webserver', 'host')}:{web_port} "
               f"(user admin); Ctrl-C stops everything.\n"
               f"  home: {config.home} (the example DAGs are loaded; 'miniflow dags list' sees them too)\n"
               "  the examples start paused, except airflow_style: unpause one in the UI or with\n"
               "  'miniflow dags unpause sales_etl'")
    signal_to_exit()
    try:
        while all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
        failed = [name for name, p in procs.items() if p.poll() is not None]
        click.echo(f"{', '.join(failed)} stopped; stopping the rest.", err=True)
    except KeyboardInterrupt:
        click.echo("Stopping...")
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()


def _load_examples_in(home: object) -> None:
    """Make ``load_examples = true`` part of the home's miniflow.toml, so every command
    run in this home (``dags list``, ``dags test``, ``trigger``...) sees the example
    DAGs the standalone scheduler and UI show."""
    from pathlib import Path

    path = Path(str(home)) / "miniflow.toml"
    text = path.read_text() if path.exists() else ""
    if "load_examples" in text:
        return
    lines = text.splitlines()
    if "[core]" in (line.strip() for line in lines):
        at = next(i for i, line in enumerate(lines) if line.strip() == "[core]")
        lines.insert(at + 1, "load_examples = true")
    else:
        lines += ["", "[core]", "load_examples = true  # written by 'miniflow standalone'"]
    path.write_text("\n".join(lines).lstrip("\n") + "\n")


def _ensure_admin(home: object) -> None:
    """Create user `admin` with a random password on the first start; print it once and
    keep it in $MINIFLOW_HOME/standalone_admin_password.txt (mode 0600)."""
    import os
    import secrets
    from pathlib import Path

    from miniflow.web.auth import hash_password

    store = get_store()
    path = Path(str(home)) / "standalone_admin_password.txt"
    if store.get_user("admin") is not None:
        if path.exists():
            click.echo(f"Log in as admin; the password is in {path}")
        return
    password = secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    os.chmod(path, 0o600)
    store.create_user("admin", hash_password(password), "Admin")
    click.echo(f"Created user admin with password {password} (also in {path})")
